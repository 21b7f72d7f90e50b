import { conflict, type Pool } from '@corebank/kit';
import { withdrawalDebit } from './fee.ts';

export type Operation = 'deposit' | 'withdraw' | 'cancel_deposit' | 'cancel_withdraw';

export interface BalanceChange {
  accountId: string;
  balance: number;
  /** applied: money moved now; already_applied: a replay; noop: a cancel of a step that never applied. */
  outcome: 'applied' | 'already_applied' | 'noop';
}

/** What the ledger functions of migrations/…_ledger_functions.sql answer. */
type LedgerOutcome = BalanceChange['outcome'] | 'rejected' | 'cancelled' | 'other_account' | 'balance_limit' | 'uncovered';

export const insufficientBalance = () => conflict('insufficient_balance', 'the balance does not cover this withdrawal');
const refusals: Record<Exclude<LedgerOutcome, BalanceChange['outcome']>, () => Error> = {
  rejected: insufficientBalance,
  // The deposited money was already spent elsewhere: refused, and the worker retries.
  uncovered: insufficientBalance,
  cancelled: () => conflict('transaction_cancelled', 'this transaction was already cancelled'),
  balance_limit: () => conflict('balance_limit', 'the deposit would take the balance past its limit'),
  other_account: () => conflict('transaction_mismatch', 'this transaction id belongs to another account'),
};

/**
 * The balance ledger. Each operation is one call of a database function (one round trip,
 * one transaction) that serialises on the transaction id, answers a replay from the
 * append-only ledger before it looks at the balance, and only then moves money: a replay
 * never fails for lack of money and never moves money twice. The rules live in
 * migrations/…_ledger_functions.sql; this module maps their outcomes to replies.
 */
export function createBalanceLedger(pool: Pool) {
  async function getBalance(accountId: string): Promise<number> {
    const result = await pool.query<{ balance: number }>('SELECT balance FROM accounts WHERE account_id = $1', [accountId]);
    return result.rows[0]?.balance ?? 0;
  }

  async function change(sql: string, values: unknown[], accountId: string): Promise<BalanceChange> {
    const { rows } = await pool.query<{ outcome: LedgerOutcome; balance: number | null }>(sql, values);
    const { outcome, balance } = rows[0]!;
    if (outcome === 'applied' || outcome === 'already_applied' || outcome === 'noop') return { accountId, balance: balance ?? 0, outcome };
    throw refusals[outcome]();
  }

  const applyStep = (accountId: string, transactionId: string, operation: 'deposit' | 'withdraw', amount: number) =>
    change('SELECT outcome, balance FROM balance_apply_step($1, $2, $3, $4)', [transactionId, operation, accountId, amount], accountId);
  const cancelStep = (accountId: string, transactionId: string, operation: 'cancel_deposit' | 'cancel_withdraw') =>
    change('SELECT outcome, balance FROM balance_cancel_step($1, $2, $3)', [transactionId, operation, accountId], accountId);

  return {
    getBalance,
    deposit: (accountId: string, transactionId: string, quantity: number) => applyStep(accountId, transactionId, 'deposit', quantity),
    withdraw: (accountId: string, transactionId: string, quantity: number, withdrawalCount: number) =>
      applyStep(accountId, transactionId, 'withdraw', withdrawalDebit(quantity, withdrawalCount)),
    cancelDeposit: (accountId: string, transactionId: string) => cancelStep(accountId, transactionId, 'cancel_deposit'),
    cancelWithdraw: (accountId: string, transactionId: string) => cancelStep(accountId, transactionId, 'cancel_withdraw'),
  };
}

export type BalanceLedger = ReturnType<typeof createBalanceLedger>;
