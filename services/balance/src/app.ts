import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { accountIdOf, createPostgresService, ErrorReply, Quantity, requireServiceToken, TransactionId, type App } from '@corebank/kit';
import { createBalanceLedger } from './ledger.ts';

export interface BalanceAppOptions {
  databaseUrl: string;
  /** Shared secret the worker sends on the internal PUT routes. */
  serviceToken: string;
  logger?: boolean;
}

const BalanceReply = Type.Object({ balance: Type.Integer(), accountId: Type.String() });
const ChangeReply = Type.Object({ balance: Type.Integer(), accountId: Type.String(), outcome: Type.String() });
const StepBody = Type.Object({ quantity: Quantity, transactionId: TransactionId }, { additionalProperties: false });
const WithdrawBody = Type.Object(
  { quantity: Quantity, transactionId: TransactionId, withdrawalCount: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
// The cancels name the transaction; the amount to undo comes from the ledger, not the caller.
const CancelBody = Type.Object({ transactionId: TransactionId }, { additionalProperties: false });
const errors = { 400: ErrorReply, 403: ErrorReply, 409: ErrorReply };

export function buildBalanceApp(options: BalanceAppOptions): App {
  const { app, pool } = createPostgresService({ name: 'balance', ...options });
  const ledger = createBalanceLedger(pool);

  app.get('/balance', { schema: { response: { 200: BalanceReply, 400: ErrorReply } } }, async (request) => {
    const accountId = accountIdOf(request);
    return { balance: await ledger.getBalance(accountId), accountId };
  });

  app.register(async (scope) => {
    const internal = scope.withTypeProvider<TypeBoxTypeProvider>();
    internal.addHook('onRequest', requireServiceToken(options.serviceToken));
    internal.put('/balance/deposit', { schema: { body: StepBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      ledger.deposit(accountIdOf(request), request.body.transactionId, request.body.quantity),
    );
    internal.put('/balance/withdraw', { schema: { body: WithdrawBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      ledger.withdraw(accountIdOf(request), request.body.transactionId, request.body.quantity, request.body.withdrawalCount),
    );
    internal.put('/balance/cancel_deposit', { schema: { body: CancelBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      ledger.cancelDeposit(accountIdOf(request), request.body.transactionId),
    );
    internal.put('/balance/cancel_withdraw', { schema: { body: CancelBody, response: { 200: ChangeReply, ...errors } } }, (request) =>
      ledger.cancelWithdraw(accountIdOf(request), request.body.transactionId),
    );
  });

  return app;
}
