import { conflict, lockTransactionId, withTransaction, type Pool, type PoolClient } from '@corebank/kit';

export interface CountChange {
  count: number;
  outcome: 'applied' | 'already_applied' | 'noop';
}

interface LedgerRow {
  operation: 'withdraw' | 'cancel_withdraw';
  account_id: string;
  period: string;
  outcome: 'applied' | 'noop';
  count_after: number;
}

const cancelled = () => conflict('transaction_cancelled', 'this transaction was already cancelled');
const mismatch = () => conflict('transaction_mismatch', 'this transaction id belongs to another account or period');

/**
 * Withdrawal counts. Like the balance ledger: serialise on the transaction id, answer a
 * replay from the ledger, and only then touch the count, in one database transaction.
 */
export function createWithdrawalCounter(pool: Pool) {
  async function getCount(accountId: string, period: string): Promise<number> {
    const result = await pool.query<{ count: number }>(
      'SELECT count FROM withdrawal_counts WHERE account_id = $1 AND period = $2',
      [accountId, period],
    );
    return result.rows[0]?.count ?? 0;
  }

  /** Counts one withdrawal and answers its rank in the period (1 for the first). */
  function countWithdrawal(accountId: string, period: string, transactionId: string): Promise<CountChange> {
    return withTransaction(pool, async (client) => {
      const recorded = await readLedger(client, transactionId);
      const previous = recorded.get('withdraw');
      if (previous && (previous.account_id !== accountId || previous.period !== period)) throw mismatch();
      // Once cancelled, always cancelled (see the balance ledger): a replayed saga compensates again.
      if (recorded.has('cancel_withdraw')) throw cancelled();
      if (previous) return { count: previous.count_after, outcome: 'already_applied' };
      const result = await client.query<{ count: number }>(
        `INSERT INTO withdrawal_counts (account_id, period, count) VALUES ($1, $2, 1)
         ON CONFLICT (account_id, period) DO UPDATE SET count = withdrawal_counts.count + 1
         RETURNING count`,
        [accountId, period],
      );
      const count = result.rows[0]!.count;
      await appendLedger(client, transactionId, 'withdraw', accountId, period, 'applied', count);
      return { count, outcome: 'applied' };
    });
  }

  /** Takes back a counted withdrawal; a cancel of one never counted records a no-op. */
  function cancelWithdrawal(accountId: string, period: string, transactionId: string): Promise<CountChange> {
    return withTransaction(pool, async (client) => {
      const recorded = await readLedger(client, transactionId);
      const previous = recorded.get('cancel_withdraw');
      if (previous) {
        if (previous.account_id !== accountId) throw mismatch();
        return { count: await countIn(client, accountId, previous.period), outcome: 'already_applied' };
      }
      const counted = recorded.get('withdraw');
      if (counted && counted.account_id !== accountId) throw mismatch();
      if (!counted) {
        const count = await countIn(client, accountId, period);
        await appendLedger(client, transactionId, 'cancel_withdraw', accountId, period, 'noop', count);
        return { count, outcome: 'noop' };
      }
      // The count of the period the withdrawal was counted in, whatever period the caller names.
      const result = await client.query<{ count: number }>(
        'UPDATE withdrawal_counts SET count = count - 1 WHERE account_id = $1 AND period = $2 AND count > 0 RETURNING count',
        [accountId, counted.period],
      );
      const count = result.rows[0]?.count ?? 0;
      await appendLedger(client, transactionId, 'cancel_withdraw', accountId, counted.period, 'applied', count);
      return { count, outcome: 'applied' };
    });
  }

  return { getCount, countWithdrawal, cancelWithdrawal };
}

export type WithdrawalCounter = ReturnType<typeof createWithdrawalCounter>;

async function readLedger(client: PoolClient, transactionId: string): Promise<Map<LedgerRow['operation'], LedgerRow>> {
  await lockTransactionId(client, transactionId);
  const result = await client.query<LedgerRow>(
    'SELECT operation, account_id, period, outcome, count_after FROM count_ledger WHERE transaction_id = $1',
    [transactionId],
  );
  return new Map(result.rows.map((row) => [row.operation, row]));
}

async function appendLedger(
  client: PoolClient,
  transactionId: string,
  operation: LedgerRow['operation'],
  accountId: string,
  period: string,
  outcome: LedgerRow['outcome'],
  countAfter: number,
): Promise<void> {
  await client.query(
    `INSERT INTO count_ledger (transaction_id, operation, account_id, period, outcome, count_after)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [transactionId, operation, accountId, period, outcome, countAfter],
  );
}

async function countIn(client: PoolClient, accountId: string, period: string): Promise<number> {
  const result = await client.query<{ count: number }>(
    'SELECT count FROM withdrawal_counts WHERE account_id = $1 AND period = $2',
    [accountId, period],
  );
  return result.rows[0]?.count ?? 0;
}
