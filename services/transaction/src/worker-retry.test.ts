import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createService, waitFor } from '@corebank/kit';
import { dynamodbEndpoint, freshTablePrefix, listenOnFreePort } from '@corebank/testing';
import { createWorker, type Worker } from './worker.ts';
import { createDynamoClients, type DynamoClients } from './store/dynamo.ts';
import { ensureTables, putStopFlag } from './store/tables.ts';
import { createSagaStore, type SagaStore } from './store/saga-store.ts';
import { withWorkerDefaults } from './config.ts';

/**
 * Stand-ins for balance and count whose answers each test scripts, to drive the worker
 * through transient failures (5xx, no answer) and business failures (4xx).
 */
type Script = (call: number, body: Record<string, unknown>) => { status: number; body: unknown };
const scripts = new Map<string, Script>();
const calls = new Map<string, number>();
const ok: Script = () => ({ status: 200, body: { balance: 0, accountId: 'x', outcome: 'applied', count: 1 } });

function fakeService(name: string): App {
  const app = createService({ name, logger: false });
  app.put('/*', async (request, reply) => {
    const key = `${request.headers['x_account_id']} ${request.url}`;
    const call = (calls.get(key) ?? 0) + 1;
    calls.set(key, call);
    const script = scripts.get(key) ?? ok;
    const answer = script(call, request.body as Record<string, unknown>);
    return reply.status(answer.status).send(answer.body);
  });
  return app;
}

const prefix = freshTablePrefix('tx-retry');
const tables = { region: 'ap-northeast-1', mainTable: `${prefix}-main`, paramTable: `${prefix}-param` };
let dynamo: DynamoClients;
let store: SagaStore;
let worker: Worker;
const apps: App[] = [];
const workerUrls = { balance: '', count: '' };

beforeAll(async () => {
  dynamo = createDynamoClients({ region: tables.region, endpoint: dynamodbEndpoint() });
  await ensureTables(dynamo.client, tables);
  await putStopFlag(dynamo.doc, tables.paramTable, 'false');
  store = createSagaStore({ doc: dynamo.doc, mainTable: tables.mainTable });
  const balance = fakeService('fake-balance');
  const count = fakeService('fake-count');
  apps.push(balance, count);
  const [balanceUrl, countUrl] = await Promise.all([listenOnFreePort(balance), listenOnFreePort(count)]);
  Object.assign(workerUrls, { balance: balanceUrl, count: countUrl });
  worker = createWorker(withWorkerDefaults({ ...tables, dynamo, balanceUrl, countUrl, serviceToken: 't', pollMs: 60_000, stepTimeoutMs: 300, ...RETRY }));
  worker.start();
});

afterAll(async () => {
  await worker?.stop();
  for (const app of apps) await app.close();
  dynamo?.destroy();
});

async function runSaga(account: string, kind: 'deposit' | 'withdraw'): Promise<string> {
  const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: account, kind, quantity: 100 });
  if (created.outcome !== 'created') throw new Error(created.outcome);
  worker.nudge(created.saga.transactionId);
  let status = '';
  await waitFor(`saga of ${account} to end`, async () => {
    status = (await store.getSaga(created.saga.transactionId))!.status;
    if (status === 'status#pending') throw new Error('pending');
  }, 20_000, 20);
  return status;
}

/** A short forward-step budget and quick backoff, so that a step gives up within a test. */
const RETRY = { stepRetryBudgetMs: 400, retryBaseDelayMs: 20, stepRetryMaxDelayMs: 100, compensationRetryMaxDelayMs: 100 };

const unavailable: Script = () => ({ status: 503, body: { error: 'unavailable', message: 'down' } });

describe('worker retry policy', () => {
  it('fails a forward step once it stayed unavailable for its whole budget, and compensates it', async () => {
    scripts.set('r-deposit-down /balance/deposit', unavailable);
    const started = Date.now();
    expect(await runSaga('r-deposit-down', 'deposit')).toBe('status#success_rollback');
    expect(Date.now() - started).toBeGreaterThanOrEqual(RETRY.stepRetryBudgetMs);
    expect(calls.get('r-deposit-down /balance/deposit')).toBeGreaterThanOrEqual(3);
    expect(calls.get('r-deposit-down /balance/cancel_deposit')).toBe(1);
  });

  it('retries a transient failure and succeeds without compensating', async () => {
    scripts.set('r-flaky /balance/deposit', (call) => (call < 3 ? unavailable(call, {}) : ok(call, {})));
    expect(await runSaga('r-flaky', 'deposit')).toBe('status#success');
    expect(calls.get('r-flaky /balance/deposit')).toBe(3);
    expect(calls.get('r-flaky /balance/cancel_deposit')).toBeUndefined();
  });

  it('treats a 4xx as a business failure at once: withdraw_balance refused → both compensations', async () => {
    scripts.set('r-overdraft /balance/withdraw', () => ({ status: 409, body: { error: 'insufficient_balance', message: 'no' } }));
    scripts.set('r-overdraft /count/withdraw', () => ({ status: 200, body: { count: 4 } }));
    expect(await runSaga('r-overdraft', 'withdraw')).toBe('status#success_rollback');
    expect(calls.get('r-overdraft /balance/withdraw')).toBe(1);
    expect(calls.get('r-overdraft /balance/cancel_withdraw')).toBe(1);
    expect(calls.get('r-overdraft /count/cancel_withdraw')).toBe(1);
  });

  it('passes the withdrawal count from withdraw_count to withdraw_balance', async () => {
    let seen: unknown;
    scripts.set('r-count /count/withdraw', () => ({ status: 200, body: { count: 7 } }));
    scripts.set('r-count /balance/withdraw', (call, body) => ((seen = body.withdrawalCount), ok(call, body)));
    expect(await runSaga('r-count', 'withdraw')).toBe('status#success');
    expect(seen).toBe(7);
  });

  it('compensates the count when withdraw_count is refused, without touching the balance', async () => {
    scripts.set('r-count-refused /count/withdraw', () => ({ status: 400, body: { error: 'bad', message: 'no' } }));
    expect(await runSaga('r-count-refused', 'withdraw')).toBe('status#success_rollback');
    expect(calls.get('r-count-refused /count/cancel_withdraw')).toBe(1);
    expect(calls.get('r-count-refused /balance/withdraw')).toBeUndefined();
    expect(calls.get('r-count-refused /balance/cancel_withdraw')).toBeUndefined();
  });

  it('retries a compensation, whatever it meets, past the forward-step budget until it succeeds', async () => {
    scripts.set('r-comp /balance/deposit', () => ({ status: 409, body: { error: 'refused', message: 'no' } }));
    const started = Date.now();
    scripts.set('r-comp /balance/cancel_deposit', (call) =>
      Date.now() - started < RETRY.stepRetryBudgetMs * 2 ? (call % 2 ? unavailable(call, {}) : { status: 404, body: { error: 'not_found', message: 'no' } }) : ok(call, {}),
    );
    expect(await runSaga('r-comp', 'deposit')).toBe('status#success_rollback');
    expect(calls.get('r-comp /balance/cancel_deposit')).toBeGreaterThanOrEqual(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(RETRY.stepRetryBudgetMs * 2);
  });

  it('treats a 2xx withdraw_count reply without a count as transient', async () => {
    scripts.set('r-nocount /count/withdraw', () => ({ status: 200, body: {} }));
    expect(await runSaga('r-nocount', 'withdraw')).toBe('status#success_rollback');
    expect(calls.get('r-nocount /count/withdraw')).toBeGreaterThanOrEqual(2);
    expect(calls.get('r-nocount /count/cancel_withdraw')).toBe(1);
  });

  it('hands a saga off at the next step boundary when the region closes, and resumes it when it opens', async () => {
    const paramTable = `${prefix}-param-handoff`;
    await ensureTables(dynamo.client, { mainTable: tables.mainTable, paramTable });
    await putStopFlag(dynamo.doc, paramTable, 'false');
    const handoff = createWorker(withWorkerDefaults({
      ...tables,
      paramTable,
      dynamo,
      balanceUrl: workerUrls.balance,
      countUrl: workerUrls.count,
      serviceToken: 't',
      workerId: 'handoff-worker',
      pollMs: 50,
      stopFlagTtlMs: 50,
      stepTimeoutMs: 300,
      ...RETRY,
    }));
    handoff.start();
    try {
      let cancelWorks = false;
      scripts.set('r-handoff /balance/deposit', () => ({ status: 409, body: { error: 'refused', message: 'no' } }));
      scripts.set('r-handoff /balance/cancel_deposit', (call) => (cancelWorks ? ok(call, {}) : unavailable(call, {})));
      const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: 'r-handoff', kind: 'deposit', quantity: 100 });
      if (created.outcome !== 'created') throw new Error(created.outcome);
      handoff.nudge(created.saga.transactionId);
      await waitFor('the compensation to be retrying', async () => {
        if ((calls.get('r-handoff /balance/cancel_deposit') ?? 0) < 2) throw new Error('not yet');
      }, 10_000, 20);

      await putStopFlag(dynamo.doc, paramTable, 'true');
      await waitFor('the saga to be handed off', async () => {
        const saga = await store.getSaga(created.saga.transactionId);
        if (saga?.leaseOwner !== undefined) throw new Error(`still leased by ${saga?.leaseOwner}`);
      }, 10_000, 20);
      const handedOff = await store.getSaga(created.saga.transactionId);
      expect(handedOff).toMatchObject({ status: 'status#pending', step: 'deposit_balance_comp' });
      const callsWhenClosed = calls.get('r-handoff /balance/cancel_deposit');
      expect(handoff.stats().running).toBe(0);

      cancelWorks = true;
      await putStopFlag(dynamo.doc, paramTable, 'false');
      await waitFor('the saga to be resumed and finished', async () => {
        if ((await store.getSaga(created.saga.transactionId))?.status !== 'status#success_rollback') throw new Error('pending');
      }, 10_000, 20);
      expect(calls.get('r-handoff /balance/cancel_deposit')).toBe(callsWhenClosed! + 1);
      expect(calls.get('r-handoff /balance/deposit')).toBe(1); // resumed at the compensation, not from the start
    } finally {
      await handoff.stop();
    }
  });
});
