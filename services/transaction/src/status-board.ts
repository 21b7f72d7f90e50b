import { PENDING, type SagaStatus } from './saga/machine.ts';

/** What GET /transaction/{id} answers, and whose transaction it is. */
export interface SagaStatusEntry {
  accountId: string;
  status: SagaStatus;
  updatedAt: string;
}

export const DEFAULT_STATUS_BOARD_SIZE = 100_000;

/**
 * The API's memory of saga statuses, so that clients polling a saga every few milliseconds
 * do not each cost a DynamoDB read. A terminal status never changes, so it is kept; a
 * pending one is trusted for `pendingFreshMs` after it was read. The worker's reply to the
 * nudge tells the API when a saga ends, so a poll sees the end at once; if that word is
 * lost, or went to another API instance, the poll sees it within `pendingFreshMs`.
 */
export function createStatusBoard(options: { pendingFreshMs: number; maxEntries?: number; now?: () => number }) {
  const { pendingFreshMs } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_STATUS_BOARD_SIZE;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: the first key is the oldest, evicted first.
  const entries = new Map<string, SagaStatusEntry & { readAt: number }>();
  // Polls held open until their saga ends (see waitForEnd).
  const waiters = new Map<string, Set<() => void>>();

  function remember(transactionId: string, entry: SagaStatusEntry): void {
    const known = entries.get(transactionId);
    // A late "pending" read never overwrites a terminal status already known.
    if (known && known.status !== PENDING && entry.status === PENDING) return;
    entries.delete(transactionId);
    entries.set(transactionId, { ...entry, readAt: now() });
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    if (entry.status !== PENDING) for (const wake of waiters.get(transactionId) ?? []) wake();
  }

  /**
   * Resolves when the saga's end is remembered, or after `holdMs`. A poll of a pending saga
   * waits here briefly, so that it answers the moment the worker reports the end instead of
   * the client asking again and again.
   */
  function waitForEnd(transactionId: string, holdMs: number): Promise<void> {
    return new Promise((resolve) => {
      const set = waiters.get(transactionId) ?? new Set();
      waiters.set(transactionId, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0) waiters.delete(transactionId);
        resolve();
      };
      const timer = setTimeout(wake, holdMs);
      set.add(wake);
    });
  }

  /** The status to answer without a read, or undefined when the table must be read. */
  function lookup(transactionId: string): SagaStatusEntry | undefined {
    const known = entries.get(transactionId);
    if (!known) return undefined;
    if (known.status === PENDING && now() - known.readAt >= pendingFreshMs) return undefined;
    return { accountId: known.accountId, status: known.status, updatedAt: known.updatedAt };
  }

  return { remember, lookup, waitForEnd, size: () => entries.size };
}

export type StatusBoard = ReturnType<typeof createStatusBoard>;
