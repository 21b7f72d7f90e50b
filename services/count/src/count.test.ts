import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '@corebank/testing';
import { buildCountApp } from './app.ts';
import { migrateCount } from './migrate.ts';

const TOKEN = 'test-token';
const PERIOD = '2026-11';
let app: ReturnType<typeof buildCountApp>;
let databaseUrl: string;

beforeAll(async () => {
  databaseUrl = await freshDatabase('count');
  await migrateCount(databaseUrl);
  app = buildCountApp({ databaseUrl, serviceToken: TOKEN, logger: false });
  await app.ready();
});
afterAll(() => app.close());

const account = () => `acct-${randomUUID().slice(0, 8)}`;
const put = (path: string, accountId: string, body: object, token = TOKEN) =>
  app.inject({ method: 'PUT', url: `/count/${path}`, headers: { x_account_id: accountId, 'x-service-token': token }, payload: body });
const countOf = async (accountId: string, period = PERIOD) =>
  (await app.inject({ method: 'GET', url: `/count/${accountId}/${period}` })).json().count as number;

describe('count service', () => {
  it('counts withdrawals per account and period, starting at 0', async () => {
    const id = account();
    expect(await countOf(id)).toBe(0);
    for (const expected of [1, 2, 3]) {
      const reply = await put('withdraw', id, { period: PERIOD, transactionId: randomUUID() });
      expect(reply.statusCode).toBe(200);
      expect(reply.json().count).toBe(expected);
    }
    await put('withdraw', id, { period: '2026-12', transactionId: randomUUID() });
    expect(await countOf(id)).toBe(3);
    expect(await countOf(id, '2026-12')).toBe(1);
  });

  it('answers a replay with the count of the first call and counts once', async () => {
    const id = account();
    const transactionId = randomUUID();
    await put('withdraw', id, { period: PERIOD, transactionId });
    await put('withdraw', id, { period: PERIOD, transactionId: randomUUID() });
    const replay = await put('withdraw', id, { period: PERIOD, transactionId });
    expect(replay.json()).toEqual({ count: 1, outcome: 'already_applied' });
    expect(await countOf(id)).toBe(2);
  });

  it('cancels a counted withdrawal once, and a cancel first bars the withdrawal', async () => {
    const id = account();
    const transactionId = randomUUID();
    await put('withdraw', id, { period: PERIOD, transactionId });
    expect((await put('cancel_withdraw', id, { period: PERIOD, transactionId })).json()).toEqual({ count: 0, outcome: 'applied' });
    expect((await put('cancel_withdraw', id, { period: PERIOD, transactionId })).json().outcome).toBe('already_applied');
    expect(await countOf(id)).toBe(0);
    // A replay of the counted-then-cancelled withdrawal (a saga resumed from its first step) stays cancelled.
    const replay = await put('withdraw', id, { period: PERIOD, transactionId });
    expect(replay.statusCode).toBe(409);
    expect(replay.json().error).toBe('transaction_cancelled');
    expect(await countOf(id)).toBe(0);

    const neverCounted = randomUUID();
    expect((await put('cancel_withdraw', id, { period: PERIOD, transactionId: neverCounted })).json().outcome).toBe('noop');
    expect((await put('withdraw', id, { period: PERIOD, transactionId: neverCounted })).statusCode).toBe(409);
    expect(await countOf(id)).toBe(0);
  });

  it('counts concurrent withdrawals exactly', async () => {
    const id = account();
    const replies = await Promise.all(Array.from({ length: 25 }, () => put('withdraw', id, { period: PERIOD, transactionId: randomUUID() })));
    expect(replies.map((reply) => reply.json().count).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(await countOf(id)).toBe(25);
  });

  it('counts a withdrawal replayed concurrently once', async () => {
    const id = account();
    const transactionId = randomUUID();
    const replies = await Promise.all(Array.from({ length: 20 }, () => put('withdraw', id, { period: PERIOD, transactionId })));
    expect(new Set(replies.map((reply) => reply.json().count))).toEqual(new Set([1]));
    expect(replies.filter((reply) => reply.json().outcome === 'applied')).toHaveLength(1);
    expect(await countOf(id)).toBe(1);
  });

  it('refuses a transaction id used by another account or period, and counts nothing', async () => {
    const [owner, other] = [account(), account()];
    const transactionId = randomUUID();
    await put('withdraw', owner, { period: PERIOD, transactionId });
    for (const [accountId, period, path] of [[other, PERIOD, 'withdraw'], [owner, '2026-01', 'withdraw'], [other, PERIOD, 'cancel_withdraw']] as const) {
      const reply = await put(path, accountId, { period, transactionId });
      expect(reply.statusCode).toBe(409);
      expect(reply.json().error).toBe('transaction_mismatch');
    }
    expect([await countOf(owner), await countOf(other)]).toEqual([1, 0]);
  });

  it('answers 403 without the service token and 400 for bad input, changing nothing', async () => {
    const id = account();
    expect((await put('withdraw', id, { period: PERIOD, transactionId: randomUUID() }, 'nope')).statusCode).toBe(403);
    for (const body of [{ period: 'TODO', transactionId: randomUUID() }, { period: '2026-13', transactionId: randomUUID() }, { period: PERIOD }, { period: PERIOD, transactionId: 'x' }]) {
      const reply = await put('withdraw', id, body);
      expect(reply.statusCode).toBe(400);
      expect(Object.keys(reply.json()).sort()).toEqual(['error', 'message']);
    }
    expect((await put('withdraw', '', { period: PERIOD, transactionId: randomUUID() })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/count/${id}/TODO` })).statusCode).toBe(400);
    expect(await countOf(id)).toBe(0);
  });

  it('migrates idempotently', async () => {
    expect(await migrateCount(databaseUrl)).toEqual([]);
  });
});
