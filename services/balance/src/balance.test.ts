import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '@corebank/kit';
import { freshDatabase } from '@corebank/testing';
import { buildBalanceApp } from './app.ts';
import { migrateBalance } from './migrate.ts';

const TOKEN = 'test-token';
let app: ReturnType<typeof buildBalanceApp>;
let databaseUrl: string;

beforeAll(async () => {
  databaseUrl = await freshDatabase('balance');
  await migrateBalance(databaseUrl);
  app = buildBalanceApp({ databaseUrl, serviceToken: TOKEN, logger: false });
  await app.ready();
});
afterAll(() => app.close());

const account = () => `acct-${randomUUID().slice(0, 8)}`;
const put = (path: string, accountId: string, body: object, token = TOKEN) =>
  app.inject({ method: 'PUT', url: `/balance/${path}`, headers: { x_account_id: accountId, 'x-service-token': token }, payload: body });
const balanceOf = async (accountId: string) =>
  (await app.inject({ method: 'GET', url: '/balance', headers: { x_account_id: accountId } })).json().balance as number;

describe('balance service', () => {
  it('is 0 for an unknown account, and a deposit creates the account', async () => {
    const id = account();
    expect(await balanceOf(id)).toBe(0);
    const reply = await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ accountId: id, balance: 1000, outcome: 'applied' });
    expect(await balanceOf(id)).toBe(1000);
  });

  it('applies a replayed deposit once', async () => {
    const id = account();
    const transactionId = randomUUID();
    await put('deposit', id, { quantity: 500, transactionId });
    const replay = await put('deposit', id, { quantity: 500, transactionId });
    expect(replay.json().outcome).toBe('already_applied');
    expect(await balanceOf(id)).toBe(500);
  });

  it('charges the fee from the 4th withdrawal of the period', async () => {
    const id = account();
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    for (const withdrawalCount of [1, 2, 3, 4]) {
      expect((await put('withdraw', id, { quantity: 50, transactionId: randomUUID(), withdrawalCount })).statusCode).toBe(200);
    }
    expect(await balanceOf(id)).toBe(1000 - 3 * 50 - 150);
  });

  it('rejects an overdraft with 409 and keeps rejecting its replays, even once money arrives', async () => {
    const id = account();
    const transactionId = randomUUID();
    const first = await put('withdraw', id, { quantity: 100, transactionId, withdrawalCount: 1 });
    expect(first.statusCode).toBe(409);
    expect(first.json().error).toBe('insufficient_balance');
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    expect((await put('withdraw', id, { quantity: 100, transactionId, withdrawalCount: 1 })).statusCode).toBe(409);
    expect(await balanceOf(id)).toBe(1000);
  });

  it('replays an applied withdrawal without failing, even when the balance no longer covers it', async () => {
    const id = account();
    const transactionId = randomUUID();
    await put('deposit', id, { quantity: 100, transactionId: randomUUID() });
    expect((await put('withdraw', id, { quantity: 100, transactionId, withdrawalCount: 1 })).statusCode).toBe(200);
    const replay = await put('withdraw', id, { quantity: 100, transactionId, withdrawalCount: 1 });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ balance: 0, outcome: 'already_applied' });
  });

  it('cancels a withdrawal by restoring exactly what it took, fee included, once', async () => {
    const id = account();
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    const transactionId = randomUUID();
    await put('withdraw', id, { quantity: 50, transactionId, withdrawalCount: 5 });
    expect(await balanceOf(id)).toBe(850);
    expect((await put('cancel_withdraw', id, { transactionId })).json().outcome).toBe('applied');
    expect((await put('cancel_withdraw', id, { transactionId })).json().outcome).toBe('already_applied');
    expect(await balanceOf(id)).toBe(1000);
    // Replayed after its cancel (a saga resumed from its first step), the withdrawal stays cancelled.
    const replay = await put('withdraw', id, { quantity: 50, transactionId, withdrawalCount: 5 });
    expect(replay.statusCode).toBe(409);
    expect(replay.json().error).toBe('transaction_cancelled');
    expect(await balanceOf(id)).toBe(1000);
  });

  it('treats a cancel of a step that never applied as a no-op that also bars the step', async () => {
    const id = account();
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    const transactionId = randomUUID();
    expect((await put('cancel_withdraw', id, { transactionId })).json().outcome).toBe('noop');
    const late = await put('withdraw', id, { quantity: 50, transactionId, withdrawalCount: 1 });
    expect(late.statusCode).toBe(409);
    expect(late.json().error).toBe('transaction_cancelled');
    const lateDepositId = randomUUID();
    await put('cancel_deposit', id, { transactionId: lateDepositId });
    expect((await put('deposit', id, { quantity: 7, transactionId: lateDepositId })).statusCode).toBe(409);
    expect(await balanceOf(id)).toBe(1000);
  });

  it('cancels a deposit', async () => {
    const id = account();
    const transactionId = randomUUID();
    await put('deposit', id, { quantity: 300, transactionId });
    expect((await put('cancel_deposit', id, { transactionId })).json()).toMatchObject({ balance: 0, outcome: 'applied' });
  });

  it('refuses a transaction id used by another account, and moves nothing', async () => {
    const [owner, other] = [account(), account()];
    const transactionId = randomUUID();
    await put('deposit', owner, { quantity: 300, transactionId });
    for (const [path, body] of [['deposit', { quantity: 300, transactionId }], ['cancel_deposit', { transactionId }]] as const) {
      const reply = await put(path, other, body);
      expect(reply.statusCode).toBe(409);
      expect(reply.json().error).toBe('transaction_mismatch');
    }
    expect([await balanceOf(owner), await balanceOf(other)]).toEqual([300, 0]);
  });

  it('refuses to cancel a deposit already spent, records nothing, and cancels it once the money is back', async () => {
    const id = account();
    const depositId = randomUUID();
    await put('deposit', id, { quantity: 300, transactionId: depositId });
    await put('withdraw', id, { quantity: 200, transactionId: randomUUID(), withdrawalCount: 1 });
    const refused = await put('cancel_deposit', id, { transactionId: depositId });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toBe('insufficient_balance');
    expect(await balanceOf(id)).toBe(100);
    await put('deposit', id, { quantity: 200, transactionId: randomUUID() });
    expect((await put('cancel_deposit', id, { transactionId: depositId })).json()).toMatchObject({ balance: 0, outcome: 'applied' });
  });

  it('refuses a deposit that would take the balance past 2^53 - 1, without recording it', async () => {
    const id = account();
    const pool = createPool(databaseUrl, { max: 1 });
    try {
      // A balance near the limit, with the ledger row that explains it (the ledger must add up).
      const nearLimit = Number.MAX_SAFE_INTEGER - 10;
      await pool.query('INSERT INTO accounts (account_id, balance) VALUES ($1, $2)', [id, nearLimit]);
      await pool.query(
        `INSERT INTO ledger (transaction_id, operation, account_id, amount, outcome, balance_after) VALUES ($1, 'deposit', $2, $3, 'applied', $3)`,
        [randomUUID(), id, nearLimit],
      );
      const transactionId = randomUUID();
      const refused = await put('deposit', id, { quantity: 11, transactionId });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().error).toBe('balance_limit');
      expect(await balanceOf(id)).toBe(nearLimit);
      // Not recorded: the same transaction may apply once it fits.
      expect((await put('deposit', id, { quantity: 10, transactionId })).json()).toMatchObject({ balance: Number.MAX_SAFE_INTEGER, outcome: 'applied' });
    } finally {
      await pool.end();
    }
  });

  it('answers 403 on internal routes without the service token, and changes nothing', async () => {
    const id = account();
    const reply = await put('deposit', id, { quantity: 1000, transactionId: randomUUID() }, 'wrong-token');
    expect(reply.statusCode).toBe(403);
    expect(reply.json().error).toBe('forbidden');
    expect(await balanceOf(id)).toBe(0);
  });

  it.each([
    { quantity: '100', transactionId: randomUUID() },
    { quantity: 1.5, transactionId: randomUUID() },
    { quantity: -1, transactionId: randomUUID() },
    { quantity: 0, transactionId: randomUUID() },
    { quantity: 1e13, transactionId: randomUUID() },
    { quantity: 10, transactionId: 'not-a-uuid' },
    { quantity: 10 },
  ])('answers 400 for a bad body %j and changes nothing', async (body) => {
    const id = account();
    const reply = await put('deposit', id, body);
    expect(reply.statusCode).toBe(400);
    expect(Object.keys(reply.json()).sort()).toEqual(['error', 'message']);
    expect(await balanceOf(id)).toBe(0);
  });

  it('never goes negative under concurrent withdrawals, and conserves money', async () => {
    const id = account();
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    const attempts = Array.from({ length: 40 }, () => put('withdraw', id, { quantity: 100, transactionId: randomUUID(), withdrawalCount: 1 }));
    const replies = await Promise.all(attempts);
    const succeeded = replies.filter((reply) => reply.statusCode === 200).length;
    expect(succeeded).toBe(10);
    expect(replies.every((reply) => reply.statusCode === 200 || reply.json().error === 'insufficient_balance')).toBe(true);
    expect(await balanceOf(id)).toBe(0);
  });

  it('applies concurrent replays of one withdrawal exactly once', async () => {
    const id = account();
    await put('deposit', id, { quantity: 1000, transactionId: randomUUID() });
    const transactionId = randomUUID();
    const replies = await Promise.all(Array.from({ length: 20 }, () => put('withdraw', id, { quantity: 100, transactionId, withdrawalCount: 1 })));
    expect(replies.every((reply) => reply.statusCode === 200)).toBe(true);
    expect(replies.filter((reply) => reply.json().outcome === 'applied')).toHaveLength(1);
    expect(await balanceOf(id)).toBe(900);
  });

  it('keeps the ledger consistent with the balances', async () => {
    const pool = createPool(databaseUrl, { max: 2 });
    try {
      const { rows } = await pool.query<{ account_id: string; balance: number; net: number }>(`
        SELECT a.account_id, a.balance,
               COALESCE(SUM(CASE WHEN l.operation IN ('deposit', 'cancel_withdraw') THEN l.amount ELSE -l.amount END)
                        FILTER (WHERE l.outcome = 'applied'), 0)::bigint AS net
        FROM accounts a LEFT JOIN ledger l ON l.account_id = a.account_id
        GROUP BY a.account_id, a.balance`);
      expect(rows.length).toBeGreaterThan(5);
      for (const row of rows) expect(row.balance).toBe(row.net);
    } finally {
      await pool.end();
    }
  });

  it('migrates idempotently', async () => {
    expect(await migrateBalance(databaseUrl)).toEqual([]);
  });
});
