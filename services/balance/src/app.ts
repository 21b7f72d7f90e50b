import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { setTimeout as sleep } from 'node:timers/promises';
import { accountIdOf, createPostgresService, envBool, ErrorReply, Quantity, requireServiceToken, TransactionId, type App } from '@corebank/kit';
import { createBalanceLedger } from './ledger.ts';

export interface BalanceAppOptions {
  databaseUrl: string;
  /** Shared secret the worker sends on the internal PUT routes. */
  serviceToken: string;
  logger?: boolean;
  /**
   * Test-only (TEST_ONLY_LATENCY_CONTROL=true): PUT /test-only/latency {"ms": n}, with the
   * service token, delays every later request by n ms until set back to 0, so that a test
   * can make the latency alarm fire and clear without restarting the service.
   */
  latencyControl?: boolean;
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
  if (options.latencyControl ?? envBool('TEST_ONLY_LATENCY_CONTROL', false)) registerLatencyControl(app, options.serviceToken);

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

const LatencyBody = Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }, { additionalProperties: false });
/** Not delayed: the platform's routes (a slow health check would get the instance restarted) and the switch itself. */
const UNDELAYED_ROUTES = new Set(['/health', '/metrics', '/test-only/latency']);

function registerLatencyControl(app: App, serviceToken: string): void {
  let injectedMs = 0;
  app.addHook('onRequest', async (request) => {
    if (injectedMs > 0 && !UNDELAYED_ROUTES.has(request.routeOptions.url ?? '')) await sleep(injectedMs);
  });
  app.register(async (scope) => {
    const control = scope.withTypeProvider<TypeBoxTypeProvider>();
    control.addHook('onRequest', requireServiceToken(serviceToken));
    control.put('/test-only/latency', { schema: { body: LatencyBody, response: { 200: LatencyBody, 400: ErrorReply, 403: ErrorReply } } }, async (request) => {
      injectedMs = request.body.ms;
      app.log.warn({ injectedMs }, 'test-only latency set');
      return { ms: injectedMs };
    });
  });
}
