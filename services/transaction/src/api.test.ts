import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { dynamodbEndpoint, freshTablePrefix } from '@corebank/testing';
import { createService, freePort, waitFor } from '@corebank/kit';
import { buildTransactionApi } from './api.ts';
import { createDynamoClients, type DynamoClients } from './store/dynamo.ts';
import { ensureTables, putStopFlag } from './store/tables.ts';
import { createSagaStore } from './store/saga-store.ts';
import type { App } from '@corebank/kit';
import { withApiDefaults } from './config.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const prefix = freshTablePrefix('tx-api');
const tables = { mainTable: `${prefix}-main`, paramTable: `${prefix}-param` };
let dynamo: DynamoClients;
let app: App;
/** Names of every command the API sends to DynamoDB, in order. */
const sent: string[] = [];

beforeAll(async () => {
  dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint: dynamodbEndpoint() });
  await ensureTables(dynamo.client, tables);
  await putStopFlag(dynamo.doc, tables.paramTable, false);
  const send = dynamo.doc.send.bind(dynamo.doc) as (command: object) => Promise<unknown>;
  (dynamo.doc as unknown as { send: typeof send }).send = (command: object) => {
    sent.push(command.constructor.name);
    return send(command);
  };
  // statusFreshMs 0: these tests end sagas behind the API's back, so every GET reads the table.
  app = buildTransactionApi(withApiDefaults({ region: 'ap-northeast-1', ...tables, dynamo, stopFlagTtlMs: 100, statusFreshMs: 0, logger: false }));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  dynamo?.destroy();
});

const post = (kind: 'deposit' | 'withdraw', account: string | undefined, payload: string, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: `/transaction/${kind}`,
    payload,
    headers: { 'content-type': 'application/json', ...(account !== undefined ? { x_account_id: account } : {}), ...headers },
  });
const status = (id: string, account: string) => app.inject({ method: 'GET', url: `/transaction/${id}`, headers: { x_account_id: account } });

async function itemsOf(account: string) {
  const { Items = [] } = await dynamo.doc.send(new ScanCommand({ TableName: tables.mainTable, ConsistentRead: true }));
  return Items.filter((item) => item.PK === `account#${account}` || item.accountId === account);
}

/** Ends a saga as a worker would, releasing the account lock. */
async function finishSaga(id: string, result: 'status#success' | 'status#success_rollback' = 'status#success') {
  const store = createSagaStore({ doc: dynamo.doc, mainTable: tables.mainTable });
  const saga = await store.claimSaga(id, 'test-worker', 30_000);
  expect(saga).not.toBeNull();
  await store.finishSaga(saga!, 'test-worker', result);
}

describe('POST /transaction/{deposit,withdraw}', () => {
  it('creates a pending saga, the account lock, in one transact write, and answers its uuid', async () => {
    sent.length = 0;
    const reply = await post('deposit', 'acct-create', '{"quantity": 1000}');
    expect(reply.statusCode).toBe(200);
    const { transactionId } = reply.json();
    expect(transactionId).toMatch(UUID_V4);
    expect(sent.filter((name) => name !== 'GetCommand')).toEqual(['TransactWriteCommand']);

    const items = await itemsOf('acct-create');
    const saga = items.find((item) => item.SK === 'saga');
    expect(saga).toMatchObject({
      PK: `tx#${transactionId}`,
      kind: 'deposit',
      quantity: 1000,
      status: 'status#pending',
      step: 'deposit_balance',
      GSI1PK: 'pending',
    });
    expect(saga?.period).toMatch(/^\d{4}-\d{2}$/);
    expect(items.find((item) => item.SK === 'lock')).toMatchObject({ transactionId });

    const read = await status(transactionId, 'acct-create');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual({ status: 'status#pending', updatedAt: saga?.updatedAt });
    expect(new Date(read.json().updatedAt).toISOString()).toBe(read.json().updatedAt);
  });

  it('answers 429 while the account has a saga in flight, and accepts again once it ended', async () => {
    const first = await post('withdraw', 'acct-busy', '{"quantity": 10}');
    expect(first.statusCode).toBe(200);
    const second = await post('deposit', 'acct-busy', '{"quantity": 10}');
    expect(second.statusCode).toBe(429);
    expect(second.json()).toEqual({ error: 'saga_in_flight', message: expect.any(String) });
    expect((await itemsOf('acct-busy')).filter((item) => item.SK === 'saga')).toHaveLength(1);

    await finishSaga(first.json().transactionId, 'status#success_rollback');
    expect((await status(first.json().transactionId, 'acct-busy')).json().status).toBe('status#success_rollback');
    expect((await itemsOf('acct-busy')).some((item) => item.SK === 'lock')).toBe(false);
    expect((await post('deposit', 'acct-busy', '{"quantity": 10}')).statusCode).toBe(200);
  });

  it('lets only one of many concurrent requests of one account through', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => post('deposit', 'acct-race', '{"quantity": 5}')));
    const codes = replies.map((reply) => reply.statusCode).sort();
    expect(codes).toEqual([200, 429, 429, 429, 429, 429, 429, 429]);
    expect((await itemsOf('acct-race')).filter((item) => item.SK === 'saga')).toHaveLength(1);
  });

  it('replays an Idempotency-Key: same transactionId in flight and after completion, nothing new started', async () => {
    const key = { 'idempotency-key': 'order-42/attempt' };
    const first = await post('deposit', 'acct-idem', '{"quantity": 700}', key);
    expect(first.statusCode).toBe(200);
    const { transactionId } = first.json();

    const inFlight = await post('deposit', 'acct-idem', '{"quantity": 700}', key);
    expect(inFlight.statusCode).toBe(200); // not 429: it is the same request
    expect(inFlight.json()).toEqual({ transactionId });

    await finishSaga(transactionId);
    const afterwards = await post('deposit', 'acct-idem', '{"quantity": 700}', key);
    expect(afterwards.json()).toEqual({ transactionId });
    expect((await itemsOf('acct-idem')).filter((item) => item.SK === 'saga')).toHaveLength(1);
    expect((await itemsOf('acct-idem')).some((item) => item.SK === 'lock')).toBe(false);

    // The key belongs to the account: another account with the same key starts its own saga.
    const other = await post('deposit', 'acct-idem-2', '{"quantity": 700}', key);
    expect(other.statusCode).toBe(200);
    expect(other.json().transactionId).not.toBe(transactionId);

    // A different request under a used key is refused rather than silently answered.
    const mismatch = await post('withdraw', 'acct-idem', '{"quantity": 700}', key);
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.json().error).toBe('idempotency_key_reused');
    expect((await itemsOf('acct-idem')).filter((item) => item.SK === 'saga')).toHaveLength(1);
  });

  it('answers concurrent replays of one Idempotency-Key with one transactionId', async () => {
    const key = { 'idempotency-key': 'concurrent-key' };
    const replies = await Promise.all(Array.from({ length: 6 }, () => post('withdraw', 'acct-idem-race', '{"quantity": 3}', key)));
    expect(replies.map((reply) => reply.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(replies.map((reply) => reply.json().transactionId)).size).toBe(1);
    expect((await itemsOf('acct-idem-race')).filter((item) => item.SK === 'saga')).toHaveLength(1);
  });

  it.each([
    ['malformed JSON', '{"quantity": ', {}],
    ['a string quantity', '{"quantity": "100"}', {}],
    ['a float', '{"quantity": 1.5}', {}],
    ['zero', '{"quantity": 0}', {}],
    ['a negative', '{"quantity": -5}', {}],
    ['more than 10^12', '{"quantity": 1000000000001}', {}],
    ['a huge number', '{"quantity": 1e300}', {}],
    ['NaN', '{"quantity": NaN}', {}],
    ['null', '{"quantity": null}', {}],
    ['no quantity', '{}', {}],
    ['an unknown field', '{"quantity": 1, "extra": "x"}', {}],
    ['an array body', '[1]', {}],
    ['an empty body', '', {}],
    ['an empty Idempotency-Key', '{"quantity": 1}', { 'idempotency-key': '' }],
    ['a too long Idempotency-Key', '{"quantity": 1}', { 'idempotency-key': 'k'.repeat(129) }],
    ['a non-ASCII Idempotency-Key', '{"quantity": 1}', { 'idempotency-key': 'clé' }],
  ])('answers 400 {error, message} for %s and writes nothing', async (_name, payload, headers) => {
    for (const kind of ['deposit', 'withdraw'] as const) {
      const reply = await post(kind, 'acct-bad', payload, headers as Record<string, string>);
      expect(reply.statusCode).toBe(400);
      expect(Object.keys(reply.json()).sort()).toEqual(['error', 'message']);
    }
    expect(await itemsOf('acct-bad')).toEqual([]);
  });

  it('answers 400 without X_ACCOUNT_ID and writes nothing', async () => {
    const before = (await dynamo.doc.send(new ScanCommand({ TableName: tables.mainTable, ConsistentRead: true }))).Count;
    for (const account of [undefined, '', 'has space', 'x#y']) {
      const reply = await post('deposit', account, '{"quantity": 1}');
      expect(reply.statusCode).toBe(400);
    }
    const after = (await dynamo.doc.send(new ScanCommand({ TableName: tables.mainTable, ConsistentRead: true }))).Count;
    expect(after).toBe(before);
  });
});

describe('hand-over to the worker', () => {
  it('creates the saga leased to a one-off token, and hands the lease back when the worker refuses the connection', async () => {
    const port = await freePort(); // nothing listens there
    const nudging = buildTransactionApi(withApiDefaults({ region: 'ap-northeast-1', ...tables, dynamo, workerUrl: `http://127.0.0.1:${port}`, serviceToken: 't', logger: false }));
    try {
      const reply = await nudging.inject({ method: 'POST', url: '/transaction/deposit', payload: { quantity: 3 }, headers: { x_account_id: 'acct-handover' } });
      expect(reply.statusCode).toBe(200);
      const store = createSagaStore({ doc: dynamo.doc, mainTable: tables.mainTable });
      await waitFor('the lease to be handed back', async () => {
        const saga = await store.getSaga(reply.json().transactionId);
        expect(saga).toMatchObject({ status: 'status#pending', attempts: 1 });
        if (saga?.leaseOwner !== undefined) throw new Error(`still leased to ${saga.leaseOwner}`);
      }, 5_000, 20);
      // Now any worker may claim it at once.
      expect(await store.claimSaga(reply.json().transactionId, 'any-worker', 1000)).toMatchObject({ leaseOwner: 'any-worker', attempts: 2 });
    } finally {
      await nudging.close();
    }
  });
});

describe('GET /transaction/{transactionId}', () => {
  it('answers 404 for another account, the same as for an unknown id', async () => {
    const { transactionId } = (await post('deposit', 'acct-owner', '{"quantity": 1}')).json();
    expect((await status(transactionId, 'acct-owner')).statusCode).toBe(200);
    const foreign = await status(transactionId, 'acct-stranger');
    const unknown = await status('6f1d4a4e-0000-4000-8000-000000000000', 'acct-stranger');
    expect(foreign.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(Object.keys(foreign.json()).sort()).toEqual(['error', 'message']);
    expect(foreign.json().error).toBe(unknown.json().error);
  });

  it('answers 400 for a malformed id or a missing account', async () => {
    expect((await status('not-a-uuid', 'acct-owner')).statusCode).toBe(400);
    expect((await status('6f1d4a4e-0000-4000-8000-00000000000Z', 'acct-owner')).statusCode).toBe(400);
    const noAccount = await app.inject({ method: 'GET', url: '/transaction/6f1d4a4e-0000-4000-8000-000000000000' });
    expect(noAccount.statusCode).toBe(400);
  });
});

describe('stopFlag', () => {
  it('answers 503 while the region is closed (after at most the TTL) and nothing is written', async () => {
    await putStopFlag(dynamo.doc, tables.paramTable, 'true');
    await waitFor('the API to see stopFlag=true', async () => {
      const reply = await post('deposit', 'acct-closed', '{"quantity": 1}');
      if (reply.statusCode !== 503) throw new Error(`status ${reply.statusCode}`);
      expect(reply.json()).toEqual({ error: 'region_closed', message: expect.any(String) });
    }, 5_000, 20);
    // Only requests answered before the flag was seen may have written anything.
    const sagasWhileOpen = (await itemsOf('acct-closed')).filter((item) => item.SK === 'saga').length;
    expect((await post('withdraw', 'acct-closed-2', '{"quantity": 1}')).statusCode).toBe(503);
    expect(await itemsOf('acct-closed-2')).toEqual([]);
    const read = await status('6f1d4a4e-0000-4000-8000-000000000000', 'acct-closed-2');
    expect(read.statusCode).toBe(503);
    expect(read.json().error).toBe('region_closed');

    await putStopFlag(dynamo.doc, tables.paramTable, 'false');
    await waitFor('the API to see stopFlag=false', async () => {
      const reply = await post('withdraw', 'acct-closed-2', '{"quantity": 1}');
      if (reply.statusCode !== 200) throw new Error(`status ${reply.statusCode}`);
    }, 5_000, 20);
    expect(sagasWhileOpen).toBeLessThanOrEqual(1);
  });
});

describe('the status board (polls answered from memory)', () => {
  const TOKEN = 'board-token';
  let boardApp: App;
  beforeAll(async () => {
    boardApp = buildTransactionApi(withApiDefaults({ region: 'ap-northeast-1', ...tables, dynamo, stopFlagTtlMs: 10_000, statusFreshMs: 60_000, statusHoldMs: 20, serviceToken: TOKEN, logger: false }));
    await boardApp.ready();
  });
  afterAll(() => boardApp?.close());
  const poll = (id: string, account: string) => boardApp.inject({ method: 'GET', url: `/transaction/${id}`, headers: { x_account_id: account } });

  it('answers repeated polls of a pending saga without reading the table', async () => {
    const { transactionId } = (await boardApp.inject({ method: 'POST', url: '/transaction/deposit', payload: { quantity: 5 }, headers: { x_account_id: 'acct-board-1' } })).json();
    sent.length = 0;
    for (let i = 0; i < 5; i += 1) expect((await poll(transactionId, 'acct-board-1')).json().status).toBe('status#pending');
    expect(sent).toEqual([]);
    expect((await poll(transactionId, 'someone-else')).statusCode).toBe(404);
    await finishSaga(transactionId);
  });

  it("reads no table while the worker holds the nudge of a saga it was handed, however stale; reads again once the reply came without the end", async () => {
    // A stand-in worker that holds every nudge until released, then answers without an end.
    const worker = createService({ name: 'stand-in-worker', logger: false, metrics: false });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let nudged = 0;
    worker.post('/sagas/:transactionId/nudge', async (request, reply) => {
      nudged++;
      await released;
      return reply.status(202).send({ transactionId: (request.params as { transactionId: string }).transactionId, result: 'started' });
    });
    await worker.listen({ port: 0, host: '127.0.0.1' });
    const address = worker.server.address() as { port: number };
    const nudging = buildTransactionApi(withApiDefaults({ region: 'ap-northeast-1', ...tables, dynamo, workerUrl: `http://127.0.0.1:${address.port}`, serviceToken: 't', statusFreshMs: 10, statusHoldMs: 20, logger: false }));
    try {
      const account = 'acct-board-nudged';
      const { transactionId } = (await nudging.inject({ method: 'POST', url: '/transaction/deposit', payload: { quantity: 5 }, headers: { x_account_id: account } })).json();
      await waitFor('the nudge to reach the worker', async () => expect(nudged).toBe(1), 5_000, 10);
      sent.length = 0;
      for (let i = 0; i < 5; i += 1) {
        const reply = await nudging.inject({ method: 'GET', url: `/transaction/${transactionId}`, headers: { x_account_id: account } });
        expect(reply.json().status).toBe('status#pending');
      }
      expect(sent).toEqual([]);
      release();
      await waitFor('a poll to read the table once the reply came without the end', async () => {
        await nudging.inject({ method: 'GET', url: `/transaction/${transactionId}`, headers: { x_account_id: account } });
        expect(sent).toContain('GetCommand');
      }, 5_000, 10);
    } finally {
      release();
      await nudging.close();
      await worker.close();
    }
  });

  it('holds a poll of a pending saga and answers it once the table shows the end, when no worker said so', async () => {
    // Another API instance's saga: the end reaches this one only through the table.
    const holding = buildTransactionApi(withApiDefaults({ region: 'ap-northeast-1', ...tables, dynamo, stopFlagTtlMs: 10_000, statusFreshMs: 50, statusHoldMs: 5_000, logger: false }));
    try {
      const account = 'acct-board-held';
      const { transactionId } = (await holding.inject({ method: 'POST', url: '/transaction/deposit', payload: { quantity: 5 }, headers: { x_account_id: account } })).json();
      const held = holding.inject({ method: 'GET', url: `/transaction/${transactionId}`, headers: { x_account_id: account } });
      await finishSaga(transactionId);
      expect((await held).json().status).toBe('status#success');
    } finally {
      await holding.close();
    }
  });
});
