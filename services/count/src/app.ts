import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { accountIdOf, createPool, createService, ErrorReply, Period, requireServiceToken, TransactionId, type App } from '@corebank/kit';
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
const CountParams = Type.Object({ accountId: Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,128}$' }), period: Period });
const errors = { 400: ErrorReply, 403: ErrorReply, 409: ErrorReply };

export function buildCountApp(options: CountAppOptions): App {
  const pool = createPool(options.databaseUrl);
  const counter = createWithdrawalCounter(pool);
  const app = createService({
    name: 'count',
    health: async () => void (await pool.query('SELECT 1')),
    ...(options.logger === false ? { logger: false } : {}),
  });
  app.addHook('onClose', () => pool.end());

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
