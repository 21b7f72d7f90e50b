import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type App } from '@corebank/kit';
import { listenOnFreePort, startBackends, TEST_SERVICE_TOKEN, type Backends } from '@corebank/testing';
import { buildTransactionApi } from './api.ts';
import { buildWorkerApp } from './worker.ts';
import { putStopFlag } from './store/tables.ts';
import { withApiDefaults, withWorkerDefaults } from './config.ts';
import { REGION_STATE_PATH } from './region-state.ts';

let backends: Backends;
let api: App;
let workerApp: App;
let workerUrl: string;

beforeAll(async () => {
  backends = await startBackends('tx-region-state');
  // Each step pauses, so that a saga is still in flight when the region closes.
  ({ app: workerApp } = buildWorkerApp(withWorkerDefaults({ ...backends.workerSettings, stopFlagTtlMs: 10_000, stepDelayMs: 1500 })));
  workerUrl = await listenOnFreePort(workerApp);
  // A 10 s cache: the route must read the flag afresh, not wait it out.
  api = buildTransactionApi(withApiDefaults({ ...backends.apiSettings(workerUrl), stopFlagTtlMs: 10_000 }));
  await api.ready();
}, 120_000);

afterAll(async () => {
  await api?.close();
  await workerApp?.close();
  await backends?.close();
});

const apiState = async () => (await api.inject({ method: 'GET', url: REGION_STATE_PATH, headers: { 'x-service-token': TEST_SERVICE_TOKEN } })).json() as { closed: boolean; inFlight: number };
const workerState = async () => (await (await fetch(`${workerUrl}${REGION_STATE_PATH}`, { headers: { 'x-service-token': TEST_SERVICE_TOKEN } })).json()) as { closed: boolean; inFlight: number };

describe('GET /internal/region: what a failover asks each instance of the region it closes', () => {
  it('needs the service token', async () => {
    expect((await api.inject({ method: 'GET', url: REGION_STATE_PATH })).statusCode).toBe(403);
    expect((await fetch(`${workerUrl}${REGION_STATE_PATH}`)).status).toBe(403);
  });

  it('reads the stopFlag afresh (the instance applies it at once) and counts the worker\'s sagas until they are handed back', async () => {
    expect(await apiState()).toEqual({ closed: false, inFlight: 0 });
    const created = await api.inject({ method: 'POST', url: '/transaction/withdraw', payload: { quantity: 1 }, headers: { x_account_id: 'acct-region-state' } });
    expect(created.statusCode).toBe(200);
    await waitFor('the worker running the saga', async () => expect((await workerState()).inFlight).toBe(1), 5000, 20);

    await putStopFlag(backends.dynamo.doc, backends.tables.paramTable, 'true');
    expect(await apiState()).toEqual({ closed: true, inFlight: 0 });
    // Well inside the 10 s cache: the route's fresh read is what this instance now applies.
    const refused = await api.inject({ method: 'POST', url: '/transaction/deposit', payload: { quantity: 1 }, headers: { x_account_id: 'acct-region-state-2' } });
    expect(refused.statusCode).toBe(503);
    expect((await workerState()).closed).toBe(true);
    // The withdrawal is handed back at its next step boundary (after the 1.5 s pause).
    const closedAt = Date.now();
    await waitFor('the worker drained', async () => expect(await workerState()).toEqual({ closed: true, inFlight: 0 }), 5000, 50);
    expect(Date.now() - closedAt).toBeLessThan(4000);
    await putStopFlag(backends.dynamo.doc, backends.tables.paramTable, 'false');
  });
});
