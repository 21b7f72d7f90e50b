import { conflict, lockTransactionId, withTransaction, type Pool, type PoolClient } from '@corebank/kit';
import { withdrawalDebit } from './fee.ts';

export type Operation = 'deposit' | 'withdraw' | 'cancel_deposit' | 'cancel_withdraw';

export interface BalanceChange {
  accountId: string;
  balance: number;
  /** applied: money moved now; already_applied: a replay; noop: a cancel of a step that never applied. */
  outcome: 'applied' | 'already_applied' | 'noop';
}

interface LedgerRow {
  operation: Operation;
  account_id: string;
  amount: number;
  outcome: 'applied' | 'rejected' | 'noop';
}

const CHECK_VIOLATION = '23514';

export const insufficientBalance = () => conflict('insufficient_balance', 'the balance does not cover this withdrawal');
const cancelled = () => conflict('transaction_cancelled', 'this transaction was already cancelled');
const balanceLimit = () => conflict('balance_limit', 'the deposit would take the balance past its limit');
const otherAccount = () => conflict('transaction_mismatch', 'this transaction id belongs to another account');

/**
 * The balance ledger. Each operation is one database transaction that first serialises on
 * the transaction id, then looks in the ledger ("already applied?") before it looks at the
 * balance, so a replay never fails for lack of money and never moves money twice.
 */
export function createBalanceLedger(pool: Pool) {
  async function getBalance(accountId: string): Promise<number> {
    const result = await pool.query<{ balance: number }>('SELECT balance FROM accounts WHERE account_id = $1', [accountId]);
    return result.rows[0]?.balance ?? 0;
  }

  async function deposit(accountId: string, transactionId: string, quantity: number): Promise<BalanceChange> {
    return applyStep(accountId, transactionId, 'deposit', 'cancel_deposit', async (client) => {
      try {
        const result = await client.query<{ balance: number }>(
          `INSERT INTO accounts (account_id, balance) VALUES ($1, $2)
           ON CONFLICT (account_id) DO UPDATE SET balance = accounts.balance + EXCLUDED.balance, updated_at = now()
           RETURNING balance`,
          [accountId, quantity],
        );
        return { amount: quantity, balance: result.rows[0]!.balance };
      } catch (error) {
        if ((error as { code?: string }).code === CHECK_VIOLATION) throw balanceLimit();
        throw error;
      }
    });
  }

  async function withdraw(accountId: string, transactionId: string, quantity: number, withdrawalCount: number): Promise<BalanceChange> {
    const debit = withdrawalDebit(quantity, withdrawalCount);
    return applyStep(accountId, transactionId, 'withdraw', 'cancel_withdraw', async (client) => {
      const balance = await debitIfCovered(client, accountId, debit);
      return balance === null ? null : { amount: debit, balance };
    });
  }

  async function cancelDeposit(accountId: string, transactionId: string): Promise<BalanceChange> {
    return applyCancel(accountId, transactionId, 'cancel_deposit', 'deposit', async (client, amount) => {
      const balance = await debitIfCovered(client, accountId, amount);
      // The deposited money was already spent elsewhere: refuse, and let the worker retry.
      if (balance === null) throw insufficientBalance();
      return balance;
    });
  }

  async function cancelWithdraw(accountId: string, transactionId: string): Promise<BalanceChange> {
    return applyCancel(accountId, transactionId, 'cancel_withdraw', 'withdraw', async (client, amount) => {
      const result = await client.query<{ balance: number }>(
        'UPDATE accounts SET balance = balance + $2, updated_at = now() WHERE account_id = $1 RETURNING balance',
        [accountId, amount],
      );
      return result.rows[0]!.balance;
    });
  }

  /** Runs a forward step once per transaction id; `move` returns null when the money is not there. */
  async function applyStep(
    accountId: string,
    transactionId: string,
    operation: 'deposit' | 'withdraw',
    cancelOperation: Operation,
    move: (client: PoolClient) => Promise<{ amount: number; balance: number } | null>,
  ): Promise<BalanceChange> {
    // A rejection is recorded (committed) so that replays get the same answer, then reported.
    const change = await withTransaction(pool, async (client): Promise<BalanceChange | 'rejected'> => {
      const recorded = await readLedger(client, transactionId);
      const previous = recorded.get(operation);
      if (previous && previous.account_id !== accountId) throw otherAccount();
      // Once cancelled, a step stays cancelled, even if it had applied before its cancel: the
      // worker replays a saga from its first step, and must then take the compensating path again.
      if (recorded.has(cancelOperation)) throw cancelled();
      if (previous) {
        if (previous.outcome === 'rejected') return 'rejected';
        return { accountId, balance: await balanceIn(client, accountId), outcome: 'already_applied' };
      }
      const moved = await move(client);
      await appendLedger(client, transactionId, operation, accountId, moved?.amount ?? 0, moved ? 'applied' : 'rejected', moved?.balance ?? null);
      return moved ? { accountId, balance: moved.balance, outcome: 'applied' } : 'rejected';
    });
    if (change === 'rejected') throw insufficientBalance();
    return change;
  }

  /** Undoes a step if it applied; records the cancel either way so the step can never apply later. */
  function applyCancel(
    accountId: string,
    transactionId: string,
    operation: 'cancel_deposit' | 'cancel_withdraw',
    stepOperation: Operation,
    undo: (client: PoolClient, amount: number) => Promise<number>,
  ): Promise<BalanceChange> {
    return withTransaction(pool, async (client) => {
      const recorded = await readLedger(client, transactionId);
      const previous = recorded.get(operation);
      if (previous) {
        if (previous.account_id !== accountId) throw otherAccount();
        return { accountId, balance: await balanceIn(client, accountId), outcome: 'already_applied' };
      }
      const step = recorded.get(stepOperation);
      if (step && step.account_id !== accountId) throw otherAccount();
      if (!step || step.outcome !== 'applied') {
        await appendLedger(client, transactionId, operation, accountId, 0, 'noop', null);
        return { accountId, balance: await balanceIn(client, accountId), outcome: 'noop' };
      }
      const balance = await undo(client, step.amount);
      await appendLedger(client, transactionId, operation, accountId, step.amount, 'applied', balance);
      return { accountId, balance, outcome: 'applied' };
    });
  }

  return { getBalance, deposit, withdraw, cancelDeposit, cancelWithdraw };
}

export type BalanceLedger = ReturnType<typeof createBalanceLedger>;

async function readLedger(client: PoolClient, transactionId: string): Promise<Map<Operation, LedgerRow>> {
  await lockTransactionId(client, transactionId);
  const result = await client.query<LedgerRow>(
    'SELECT operation, account_id, amount, outcome FROM ledger WHERE transaction_id = $1',
    [transactionId],
  );
  return new Map(result.rows.map((row) => [row.operation, row]));
}

async function appendLedger(
  client: PoolClient,
  transactionId: string,
  operation: Operation,
  accountId: string,
  amount: number,
  outcome: LedgerRow['outcome'],
  balanceAfter: number | null,
): Promise<void> {
  await client.query(
    `INSERT INTO ledger (transaction_id, operation, account_id, amount, outcome, balance_after)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [transactionId, operation, accountId, amount, outcome, balanceAfter],
  );
}

/** One conditional UPDATE: the row lock makes concurrent debits queue, and the WHERE keeps the balance ≥ 0. */
async function debitIfCovered(client: PoolClient, accountId: string, amount: number): Promise<number | null> {
  const result = await client.query<{ balance: number }>(
    'UPDATE accounts SET balance = balance - $2, updated_at = now() WHERE account_id = $1 AND balance >= $2 RETURNING balance',
    [accountId, amount],
  );
  return result.rows[0]?.balance ?? null;
}

async function balanceIn(client: PoolClient, accountId: string): Promise<number> {
  const result = await client.query<{ balance: number }>('SELECT balance FROM accounts WHERE account_id = $1', [accountId]);
  return result.rows[0]?.balance ?? 0;
}
