import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '@corebank/kit';
import { waitFor } from '@corebank/kit';
import { buildTransactionApi } from './api.ts';
import { buildWorkerApp, type Worker } from './worker.ts';
import { createSagaStore, type SagaStore } from './store/saga-store.ts';
import { listenOnFreePort, startBackends, type Backends } from '@corebank/testing';
import { withApiDefaults, withWorkerDefaults } from './config.ts';

/** How long the balance service is away: longer than the old fixed retry count lasted (~15 s). */
const OUTAGE_MS = 20_000;

let backends: Backends;
let store: SagaStore;
let api: App;
let workerApp: App;
let worker: Worker;

beforeAll(async () => {
  backends = await startBackends('tx-failover');
  store = createSagaStore({ doc: backends.dynamo.doc, mainTable: backends.tables.mainTable });
  // The forward-step budget is shorter than the 120 s default so that a regression fails in
  // a minute, yet much longer than the outage; the backoff cap is 1 s so recovery shows fast.
  const built = buildWorkerApp(withWorkerDefaults({
    ...backends.workerSettings,
    pollMs: 60_000,
    stepTimeoutMs: 1000,
    stepRetryBudgetMs: 60_000,
    stepRetryMaxDelayMs: 1000,
  }));
  workerApp = built.app;
  worker = built.worker;
  const workerUrl = await listenOnFreePort(workerApp);
  api = buildTransactionApi(withApiDefaults(backends.apiSettings(workerUrl)));
  await api.ready();
}, 120_000);

afterAll(async () => {
  await api?.close();
  await workerApp?.close();
  await backends?.close();
});

async function post(kind: 'deposit' | 'withdraw', account: string, quantity: number): Promise<string> {
  const reply = await api.inject({ method: 'POST', url: `/transaction/${kind}`, payload: { quantity }, headers: { x_account_id: account } });
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().transactionId;
}

async function statusOf(id: string): Promise<string | undefined> {
  return (await store.getSaga(id))?.status;
}

async function ended(id: string, timeoutMs: number): Promise<string> {
  let status: string | undefined;
  await waitFor(`saga ${id} to end`, async () => {
    status = await statusOf(id);
    if (status === 'status#pending') throw new Error('pending');
  }, timeoutMs, 50);
  return status!;
}

describe('a forward step while the balance service is away', () => {
  it(`is retried through a ${OUTAGE_MS / 1000} s outage and the sagas succeed once it is back`, async () => {
    const funded = await post('deposit', 'fo-withdraw', 1000);
    expect(await ended(funded, 10_000)).toBe('status#success');

    await backends.stopBalance();
    const downSince = Date.now();
    const deposit = await post('deposit', 'fo-deposit', 700);
    const withdrawal = await post('withdraw', 'fo-withdraw', 400);

    // The whole outage: both sagas stay pending (the withdrawal past withdraw_count, on count).
    await waitFor(`${OUTAGE_MS / 1000} s of outage`, async () => {
      expect(await statusOf(deposit)).toBe('status#pending');
      expect(await statusOf(withdrawal)).toBe('status#pending');
      if (Date.now() - downSince < OUTAGE_MS) throw new Error('balance still meant to be down');
    }, OUTAGE_MS + 10_000, 500);
    expect((await store.getSaga(withdrawal))?.step).toBe('withdraw_balance');
    expect(worker.stats().running).toBe(2);

    await backends.startBalance();
    expect(await ended(deposit, 15_000)).toBe('status#success');
    expect(await ended(withdrawal, 15_000)).toBe('status#success');
    expect(await backends.balanceOf('fo-deposit')).toBe(700);
    expect(await backends.balanceOf('fo-withdraw')).toBe(600);
    expect(await backends.countOf('fo-withdraw')).toBe(1);
    expect(worker.stats().rolledBack).toBe(0);
  }, 90_000);
});
