import { conflict, type Pool } from '@corebank/kit';

export interface CountChange {
  count: number;
  outcome: 'applied' | 'already_applied' | 'noop';
}

/** What the functions of migrations/…_count_functions.sql answer. */
type CountOutcome = CountChange['outcome'] | 'cancelled' | 'mismatch';

const refusals: Record<Exclude<CountOutcome, CountChange['outcome']>, () => Error> = {
  cancelled: () => conflict('transaction_cancelled', 'this transaction was already cancelled'),
  mismatch: () => conflict('transaction_mismatch', 'this transaction id belongs to another account or period'),
};

/**
 * Withdrawal counts. Like the balance ledger, each operation is one call of a database
 * function that serialises on the transaction id, answers a replay from the ledger, and
 * only then touches the count (migrations/…_count_functions.sql holds the rules).
 */
export function createWithdrawalCounter(pool: Pool) {
  async function getCount(accountId: string, period: string): Promise<number> {
    const result = await pool.query<{ count: number }>(
      'SELECT count FROM withdrawal_counts WHERE account_id = $1 AND period = $2',
      [accountId, period],
    );
    return result.rows[0]?.count ?? 0;
  }

  async function change(fn: 'count_withdrawal' | 'cancel_withdrawal_count', accountId: string, period: string, transactionId: string): Promise<CountChange> {
    const { rows } = await pool.query<{ outcome: CountOutcome; count: number | null }>(`SELECT outcome, count FROM ${fn}($1, $2, $3)`, [
      transactionId,
      accountId,
      period,
    ]);
    const { outcome, count } = rows[0]!;
    if (outcome === 'applied' || outcome === 'already_applied' || outcome === 'noop') return { count: count ?? 0, outcome };
    throw refusals[outcome]();
  }

  return {
    getCount,
    /** Counts one withdrawal and answers its rank in the period (1 for the first). */
    countWithdrawal: (accountId: string, period: string, transactionId: string) => change('count_withdrawal', accountId, period, transactionId),
    /** Takes back a counted withdrawal; a cancel of one never counted records a no-op. */
    cancelWithdrawal: (accountId: string, period: string, transactionId: string) => change('cancel_withdrawal_count', accountId, period, transactionId),
  };
}

export type WithdrawalCounter = ReturnType<typeof createWithdrawalCounter>;
