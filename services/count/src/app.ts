import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AccountId, accountIdOf, createPostgresService, ErrorReply, Period, requireServiceToken, TransactionId, type App } from '@corebank/kit';
import { createWithdrawalCounter } from './counter.ts';

export interface CountAppOptions {
  databaseUrl: string;
  /** Shared secret the worker sends on the internal PUT routes. */
  serviceToken: string;
  logger?: boolean;
}

const CountReply = Type.Object({ count: Type.Integer() });
const ChangeReply = Type.Object({ count: Type.Integer(), outcome: Type.String() });
const StepBody = Type.Object({ period: Period, transactionId: TransactionId }, { additionalProperties: false });
const CountParams = Type.Object({ accountId: AccountId, period: Period });
const errors = { 400: ErrorReply, 403: ErrorReply, 409: ErrorReply };

export function buildCountApp(options: CountAppOptions): App {
  const { app, pool } = createPostgresService({ name: 'count', ...options });
  const counter = createWithdrawalCounter(pool);

  app.get('/count/:accountId/:period', { schema: { params: CountParams, response: { 200: CountReply, 400: ErrorReply } } }, async (request) => ({
    count: await counter.getCount(request.params.accountId, request.params.period),
  }));

  app.register(async (scope) => {
    const internal = scope.withTypeProvider<TypeBoxTypeProvider>();
    internal.addHook('onRequest', requireServiceToken(options.serviceToken));
    internal.put('/count/withdraw', { schema: { body: StepBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      counter.countWithdrawal(accountIdOf(request), request.body.period, request.body.transactionId),
    );
    internal.put('/count/cancel_withdraw', { schema: { body: StepBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      counter.cancelWithdrawal(accountIdOf(request), request.body.period, request.body.transactionId),
    );
  });

  return app;
}
