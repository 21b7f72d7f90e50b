import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type App, createServiceClient, freePort, waitFor } from '@corebank/kit';
import { buildBalanceApp, migrateBalance } from '@corebank/balance';
import { buildCountApp, migrateCount } from '@corebank/count';
import { dynamodbEndpoint, freshDatabase, freshTablePrefix } from '@corebank/testing';
import { buildTransactionApi } from './api.ts';
import { buildWorkerApp, type Worker } from './worker.ts';
import { createDynamoClients, type DynamoClients } from './store/dynamo.ts';
import { ensureTables, putStopFlag } from './store/tables.ts';
import { accountLockKey, createSagaStore } from './store/saga-store.ts';
import { periodOf } from './saga/period.ts';
import { withApiDefaults, withWorkerDefaults } from './config.ts';

const SERVICE_TOKEN = 'worker-test-token';
const prefix = freshTablePrefix('tx-worker');
const tables = { region: 'ap-northeast-1', mainTable: `${prefix}-main`, paramTable: `${prefix}-param` };
const apps: App[] = [];
let dynamo: DynamoClients;
let balanceUrl: string;
let countUrl: string;
let balance: ReturnType<typeof createServiceClient>;
let count: ReturnType<typeof createServiceClient>;

async function listen(app: App): Promise<string> {
  apps.push(app);
  const port = await freePort();
  await app.listen({ port, host: '127.0.0.1' });
  return `http://127.0.0.1:${port}`;
}

async function startWorker(extra: Partial<Parameters<typeof buildWorkerApp>[0]> = {}): Promise<{ url: string; worker: Worker; app: App }> {
  const { app, worker } = buildWorkerApp(withWorkerDefaults({
    ...tables,
    dynamo,
    balanceUrl,
    countUrl,
    serviceToken: SERVICE_TOKEN,
    logger: false,
    stopFlagTtlMs: 100,
    ...extra,
  }));
  return { url: await listen(app), worker, app };
}

beforeAll(async () => {
  dynamo = createDynamoClients({ region: tables.region, endpoint: dynamodbEndpoint() });
  const [balanceDb, countDb] = await Promise.all([freshDatabase('txw_balance'), freshDatabase('txw_count'), ensureTables(dynamo.client, tables)]);
  await Promise.all([migrateBalance(balanceDb), migrateCount(countDb), putStopFlag(dynamo.doc, tables.paramTable, 'false')]);
  balanceUrl = await listen(buildBalanceApp({ databaseUrl: balanceDb, serviceToken: SERVICE_TOKEN, logger: false }));
  countUrl = await listen(buildCountApp({ databaseUrl: countDb, serviceToken: SERVICE_TOKEN, logger: false }));
  balance = createServiceClient({ baseUrl: balanceUrl });
  count = createServiceClient({ baseUrl: countUrl });
});

afterAll(async () => {
  // Workers first (they call balance and count), then the services.
  for (const app of [...apps].reverse()) await app.close();
  await Promise.all([balance?.close(), count?.close()]);
  dynamo?.destroy();
});

const balanceOf = async (account: string) => (await balance.get<{ balance: number }>('/balance', { X_ACCOUNT_ID: account })).body.balance;
const countOf = async (account: string) => (await count.get<{ count: number }>(`/count/${account}/${periodOf(new Date())}`)).body.count;

/** Posts to the API and returns the new saga's id. */
async function start(api: App, kind: 'deposit' | 'withdraw', account: string, quantity: number): Promise<string> {
  const reply = await api.inject({ method: 'POST', url: `/transaction/${kind}`, payload: { quantity }, headers: { x_account_id: account } });
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().transactionId;
}

async function finalStatus(api: App, id: string, account: string, timeoutMs = 15_000): Promise<string> {
  let status = '';
  await waitFor(`saga ${id} to end`, async () => {
    const reply = await api.inject({ method: 'GET', url: `/transaction/${id}`, headers: { x_account_id: account } });
    status = reply.json().status;
    if (status === 'status#pending') throw new Error('still pending');
  }, timeoutMs, 25);
  return status;
}

describe('saga worker with the real balance and count services', () => {
  let api: App;
  let worker: Worker;

  let workerApp: App;
  let workerUrl: string;
  /** Writes sent to DynamoDB by anyone in this file, by command name. */
  const writes: string[] = [];

  beforeAll(async () => {
    const send = dynamo.doc.send.bind(dynamo.doc) as (command: object) => Promise<unknown>;
    (dynamo.doc as unknown as { send: typeof send }).send = (command: object) => {
      if (!['GetCommand', 'QueryCommand', 'ScanCommand'].includes(command.constructor.name)) writes.push(command.constructor.name);
      return send(command);
    };
    // Polling is slow here, so a saga that ends quickly proves the nudge started it.
    const started = await startWorker({ pollMs: 60_000 });
    worker = started.worker;
    workerApp = started.app;
    workerUrl = started.url;
    api = buildTransactionApi(withApiDefaults({ ...tables, dynamo, workerUrl: started.url, serviceToken: SERVICE_TOKEN, logger: false }));
    apps.push(api);
    await api.ready();
  });

  it('runs a deposit to status#success, nudged, and the balance changes', async () => {
    const id = await start(api, 'deposit', 'w-deposit', 1000);
    expect(await finalStatus(api, id, 'w-deposit', 5_000)).toBe('status#success');
    expect(await balanceOf('w-deposit')).toBe(1000);
    expect(worker.stats().succeeded).toBeGreaterThanOrEqual(1);
  });

  it('hands the new saga to the worker: a deposit costs two transact writes, and so does a withdrawal', async () => {
    await finalStatus(api, await start(api, 'deposit', 'w-cost', 100), 'w-cost'); // warm the stop-flag caches
    writes.length = 0;
    const deposit = await start(api, 'deposit', 'w-cost', 100);
    expect(await finalStatus(api, deposit, 'w-cost')).toBe('status#success');
    expect(writes).toEqual(['TransactWriteCommand', 'TransactWriteCommand']);
    writes.length = 0;
    const withdrawal = await start(api, 'withdraw', 'w-cost', 100);
    expect(await finalStatus(api, withdrawal, 'w-cost')).toBe('status#success');
    expect(writes).toEqual(['TransactWriteCommand', 'TransactWriteCommand']);
    expect(await balanceOf('w-cost')).toBe(100);
  });

  it('guards and checks the nudge endpoint', async () => {
    const id = crypto.randomUUID();
    const nudge = (payload: unknown, headers: Record<string, string> = { 'x-service-token': SERVICE_TOKEN }) =>
      workerApp.inject({ method: 'POST', url: `/sagas/${id}/nudge`, payload: payload as object, headers });
    expect((await nudge({}, {})).statusCode).toBe(403);
    expect((await nudge({ leaseToken: 'x' })).statusCode).toBe(400);
    const saga = {
      transactionId: crypto.randomUUID(), accountId: 'a', kind: 'deposit', quantity: 1, period: '2026-11', status: 'status#pending',
      step: 'deposit_balance', attempts: 1, leaseOwner: 'handover-0123456789abcdef', leaseUntil: Date.now(), createdAt: 'x', updatedAt: 'x',
    };
    const mismatched = await nudge({ leaseToken: 'handover-0123456789abcdef', saga });
    expect(mismatched.statusCode).toBe(400);
    expect(mismatched.json().message).toMatch(/not the one in the path/);
    // An unknown saga without a hand-over: the worker tries to claim it and finds nothing.
    const plain = await nudge({});
    expect(plain.statusCode).toBe(202);
    expect(plain.json()).toEqual({ transactionId: id, result: 'started' });
  });

  it("tells the API a saga's end in its reply to the nudge, so a held poll answers without reading the table", async () => {
    // Pending statuses stay fresh for a minute: only the nudge's reply can reveal the end.
    const board = buildTransactionApi(withApiDefaults({ ...tables, dynamo, workerUrl: workerUrl, serviceToken: SERVICE_TOKEN, statusFreshMs: 60_000, statusHoldMs: 5_000, logger: false }));
    apps.push(board);
    const id = await start(board, 'deposit', 'w-reply', 40);
    const poll = await board.inject({ method: 'GET', url: `/transaction/${id}`, headers: { x_account_id: 'w-reply' } });
    expect(poll.json().status).toBe('status#success');
    expect(await balanceOf('w-reply')).toBe(40);
  });

  it('runs a withdrawal: count up, balance down, lock released', async () => {
    await finalStatus(api, await start(api, 'deposit', 'w-withdraw', 5000), 'w-withdraw');
    const id = await start(api, 'withdraw', 'w-withdraw', 1200);
    expect(await finalStatus(api, id, 'w-withdraw')).toBe('status#success');
    expect(await balanceOf('w-withdraw')).toBe(3800);
    expect(await countOf('w-withdraw')).toBe(1);
    const { Items = [] } = await dynamo.doc.send(new ScanCommand({ TableName: tables.mainTable, ConsistentRead: true }));
    expect(Items.find((item) => item.PK === 'account#w-withdraw' && item.SK === 'lock')).toBeUndefined();
    const saga = Items.find((item) => item.PK === `tx#${id}`);
    expect(saga).toMatchObject({ status: 'status#success', withdrawalCount: 1 });
    expect(saga?.GSI1PK).toBeUndefined(); // no longer in the pending index
  });

  it('charges the fee from the fourth withdrawal of the month', async () => {
    await finalStatus(api, await start(api, 'deposit', 'w-fee', 10_000), 'w-fee');
    for (let i = 0; i < 4; i++) {
      expect(await finalStatus(api, await start(api, 'withdraw', 'w-fee', 1000), 'w-fee')).toBe('status#success');
    }
    expect(await countOf('w-fee')).toBe(4);
    expect(await balanceOf('w-fee')).toBe(10_000 - 4000 - 100);
  });

  it('rolls an overdraft back: status#success_rollback, count compensated, balance untouched', async () => {
    await finalStatus(api, await start(api, 'deposit', 'w-overdraft', 500), 'w-overdraft');
    const id = await start(api, 'withdraw', 'w-overdraft', 501);
    expect(await finalStatus(api, id, 'w-overdraft')).toBe('status#success_rollback');
    expect(await balanceOf('w-overdraft')).toBe(500);
    expect(await countOf('w-overdraft')).toBe(0);
    // The account is free again.
    expect(await finalStatus(api, await start(api, 'withdraw', 'w-overdraft', 500), 'w-overdraft')).toBe('status#success');
    expect(await balanceOf('w-overdraft')).toBe(0);
    expect(await countOf('w-overdraft')).toBe(1);
  });
});

describe('recovery', () => {
  it('resumes a saga abandoned mid-way by a dead worker from its recorded step, once', async () => {
    const store = createSagaStore({ doc: dynamo.doc, mainTable: tables.mainTable });
    const account = 'w-resume';
    await store.createSaga({ transactionId: crypto.randomUUID(), accountId: account, kind: 'deposit', quantity: 900 }).then(async (created) => {
      // finish the deposit by hand so the account has money
      const claimed = await store.claimSaga(created.outcome === 'created' ? created.saga.transactionId : '', 'setup', 10_000);
      await balance.put('/balance/deposit', { quantity: 900, transactionId: claimed!.transactionId }, { X_ACCOUNT_ID: account, 'x-service-token': SERVICE_TOKEN });
      await store.finishSaga(claimed!, 'setup', 'status#success');
    });
    const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: account, kind: 'withdraw', quantity: 400 });
    if (created.outcome !== 'created') throw new Error(created.outcome);
    // A worker claimed it, counted the withdrawal, recorded that, and died (lease 300 ms).
    const dead = await store.claimSaga(created.saga.transactionId, 'dead-worker', 300);
    await count.put('/count/withdraw', { period: dead!.period, transactionId: dead!.transactionId }, { X_ACCOUNT_ID: account, 'x-service-token': SERVICE_TOKEN });
    await store.recordStep(dead!, 'dead-worker', 'withdraw_balance', 300, 1);
    // Also it had applied the balance step without recording it: the replay must not apply twice.
    await balance.put('/balance/withdraw', { quantity: 400, transactionId: dead!.transactionId, withdrawalCount: 1 }, { X_ACCOUNT_ID: account, 'x-service-token': SERVICE_TOKEN });
    expect(await store.claimSaga(created.saga.transactionId, 'someone-else', 10_000)).toBeNull(); // lease still held

    const { worker } = await startWorker({ pollMs: 50 });
    await waitFor('the abandoned saga to finish', async () => {
      const saga = await store.getSaga(created.saga.transactionId);
      if (saga?.status !== 'status#success') throw new Error(String(saga?.status));
    }, 10_000, 20);
    expect(await balanceOf(account)).toBe(500);
    expect(await countOf(account)).toBe(1);
    const saga = await store.getSaga(created.saga.transactionId);
    expect(saga?.attempts).toBe(2); // the dead worker's claim and this one
    expect(worker.stats().claimed).toBeGreaterThanOrEqual(1);
  });

  it('skips a malformed item in the pending index and recovers the good saga behind it', async () => {
    const corruptTables = { ...tables, mainTable: `${prefix}-main-corrupt` };
    await ensureTables(dynamo.client, corruptTables);
    const store = createSagaStore({ doc: dynamo.doc, mainTable: corruptTables.mainTable });
    // The oldest item of the index, so every poll meets it first.
    await dynamo.doc.send(new PutCommand({ TableName: corruptTables.mainTable, Item: { PK: 'tx#corrupt', SK: 'saga', GSI1PK: 'pending', GSI1SK: '2000-01-01T00:00:00.000Z', quantity: 'lots' } }));
    const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: 'w-behind-corrupt', kind: 'deposit', quantity: 31 });
    if (created.outcome !== 'created') throw new Error(created.outcome);
    await startWorker({ ...corruptTables, pollMs: 50 }); // no nudge: only recovery polling can find it
    await waitFor('the good saga to be recovered', async () => {
      if ((await store.getSaga(created.saga.transactionId))?.status !== 'status#success') throw new Error('pending');
    }, 10_000, 20);
    expect(await balanceOf('w-behind-corrupt')).toBe(31);
  });

  it('claims nothing while the region is closed, and runs the backlog once it opens', async () => {
    // Its own tables: the other tests' workers (region open) must not see this saga.
    const closedTables = { ...tables, mainTable: `${prefix}-main-closed`, paramTable: `${prefix}-param-closed` };
    await ensureTables(dynamo.client, closedTables);
    await putStopFlag(dynamo.doc, closedTables.paramTable, 'true');
    const store = createSagaStore({ doc: dynamo.doc, mainTable: closedTables.mainTable });
    const { worker } = await startWorker({ ...closedTables, pollMs: 20, workerId: 'closed-region-worker' });
    const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: 'w-closed', kind: 'deposit', quantity: 77 });
    if (created.outcome !== 'created') throw new Error(created.outcome);
    worker.nudge(created.saga.transactionId);
    // Several polls pass: the saga stays pending and unclaimed.
    const pollsBefore = Date.now();
    await waitFor('a few poll rounds', async () => {
      if (Date.now() - pollsBefore < 300) throw new Error('wait');
    }, 2_000, 20);
    const untouched = await store.getSaga(created.saga.transactionId);
    expect(untouched).toMatchObject({ status: 'status#pending', attempts: 0 });
    expect(worker.stats().claimed).toBe(0);

    await putStopFlag(dynamo.doc, closedTables.paramTable, 'false');
    await waitFor('the saga to run once the region opened', async () => {
      if ((await store.getSaga(created.saga.transactionId))?.status !== 'status#success') throw new Error('pending');
    }, 10_000, 20);
    expect(await balanceOf('w-closed')).toBe(77);
  });
});

describe('a compensation meeting a permanent refusal', () => {
  it('403 after a token change: the saga is stuck with its lock held, listed with the error, and resumable once fixed', async () => {
    const stuckTables = { ...tables, mainTable: `${prefix}-main-stuck` };
    await ensureTables(dynamo.client, stuckTables);
    const store = createSagaStore({ doc: dynamo.doc, mainTable: stuckTables.mainTable });
    // This worker's token is not the one balance and count accept: every step answers 403.
    const rotated = 'rotated-token';
    const { worker, url } = await startWorker({ ...stuckTables, serviceToken: rotated, pollMs: 60_000, compensationRetryBudgetMs: 800, retryBaseDelayMs: 20, compensationRetryMaxDelayMs: 100 });
    const api = buildTransactionApi(withApiDefaults({ ...stuckTables, dynamo, workerUrl: url, serviceToken: rotated, logger: false }));
    apps.push(api);
    const account = 'w-stuck';
    const id = await start(api, 'deposit', account, 250);
    await waitFor('the saga to be marked stuck', async () => {
      if ((await store.getSaga(id))?.stuckSince === undefined) throw new Error('not stuck yet');
    }, 15_000, 25);
    const saga = await store.getSaga(id);
    expect(saga).toMatchObject({ status: 'status#pending', step: 'deposit_balance_comp' });
    expect(saga?.lastError).toMatch(/403/);
    expect(worker.stats().markedStuck).toBe(1);

    // Publicly it is still pending; the account stays locked, so no money moves.
    const poll = await api.inject({ method: 'GET', url: `/transaction/${id}`, headers: { x_account_id: account } });
    expect(poll.json().status).toBe('status#pending');
    for (const kind of ['deposit', 'withdraw'] as const) {
      const refused = await api.inject({ method: 'POST', url: `/transaction/${kind}`, payload: { quantity: 1 }, headers: { x_account_id: account } });
      expect(refused.statusCode).toBe(429);
    }
    const { Item: lock } = await dynamo.doc.send(new GetCommand({ TableName: stuckTables.mainTable, Key: accountLockKey(account), ConsistentRead: true }));
    expect(lock?.transactionId).toBe(id);
    expect(await balanceOf(account)).toBe(0);

    // Operators see it, and the count a metric reads.
    expect((await store.listStuckSagas()).map((stuck) => stuck.transactionId)).toEqual([id]);
    const stats = await fetch(`${url}/worker/stats`).then((reply) => reply.json());
    expect(stats).toMatchObject({ markedStuck: 1, stuckSagas: 1 });

    // The token fixed, an operator resumes it: the compensation runs and the lock is released.
    expect(await store.resumeStuckSaga(id)).toBe(true);
    await startWorker({ ...stuckTables, pollMs: 50 });
    await waitFor('the resumed saga to roll back', async () => {
      if ((await store.getSaga(id))?.status !== 'status#success_rollback') throw new Error('pending');
    }, 10_000, 25);
    expect(await store.countStuckSagas()).toBe(0);
    expect(await start(api, 'deposit', account, 5)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('two workers on one table', () => {
  it('get distinct ids even when given the same WORKER_ID', async () => {
    const [a, b] = await Promise.all([startWorker({ workerId: 'same-id', pollMs: 60_000 }), startWorker({ workerId: 'same-id', pollMs: 60_000 })]);
    expect(a.worker.workerId).toMatch(/^[a-z0-9-]+\/same-id-[0-9a-f]{8}$/);
    expect(b.worker.workerId).toMatch(/^[a-z0-9-]+\/same-id-[0-9a-f]{8}$/);
    expect(a.worker.workerId).not.toBe(b.worker.workerId);
  });

  it('never run a saga twice: each saga claimed once, balances equal the successful sagas', async () => {
    // Its own main table, so that only these two workers see its sagas.
    const twinTables = { ...tables, mainTable: `${prefix}-main-twins` };
    await ensureTables(dynamo.client, twinTables);
    const store = createSagaStore({ doc: dynamo.doc, mainTable: twinTables.mainTable });
    const [a, b] = await Promise.all([
      startWorker({ ...twinTables, pollMs: 20, workerId: 'twin-a' }),
      startWorker({ ...twinTables, pollMs: 20, workerId: 'twin-b' }),
    ]);
    // No nudges: both workers find every saga through the pending index at the same time.
    const api = buildTransactionApi(withApiDefaults({ ...twinTables, dynamo, logger: false }));
    apps.push(api);
    const accounts = Array.from({ length: 20 }, (_, i) => `twin-${i}`);
    const plan: Array<['deposit' | 'withdraw', number]> = [
      ['deposit', 1000],
      ['withdraw', 300],
      ['withdraw', 5000], // overdraft: rolled back
      ['deposit', 50],
    ];
    const sagaIds: string[] = [];
    await Promise.all(
      accounts.map(async (account) => {
        for (const [kind, quantity] of plan) {
          const id = await start(api, kind, account, quantity);
          sagaIds.push(id);
          await finalStatus(api, id, account, 30_000);
        }
      }),
    );
    for (const account of accounts) {
      expect(await balanceOf(account)).toBe(1000 - 300 + 50);
      expect(await countOf(account)).toBe(1);
    }
    const statuses = await Promise.all(sagaIds.map((id) => store.getSaga(id)));
    expect(statuses.filter((saga) => saga?.status === 'status#success_rollback')).toHaveLength(accounts.length);
    // Every saga was claimed exactly once in total, and both workers took part.
    expect(statuses.every((saga) => saga?.attempts === 1)).toBe(true);
    expect(a.worker.stats().claimed + b.worker.stats().claimed).toBe(sagaIds.length);
    expect(a.worker.stats().claimed).toBeGreaterThan(0);
    expect(b.worker.stats().claimed).toBeGreaterThan(0);
  });
});
