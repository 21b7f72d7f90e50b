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
 * pending one is trusted for `pendingFreshMs` after it was read, and for as long as the
 * worker's word on it is expected: the worker's reply to the nudge tells the API when a
 * saga ends, so a poll sees the end at once without reading the table. If the reply comes
 * without the end (the saga ended elsewhere, or is still running when the worker stops
 * holding the reply) or does not come at all, the poll sees it within `pendingFreshMs`.
 */
export function createStatusBoard(options: { pendingFreshMs: number; maxEntries?: number; now?: () => number }) {
  const { pendingFreshMs } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_STATUS_BOARD_SIZE;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: the first key is the oldest, evicted first.
  const entries = new Map<string, SagaStatusEntry & { readAt: number }>();
  // Polls held open until their saga ends (see waitForEnd).
  const waiters = new Map<string, Set<() => void>>();
  // Sagas whose end the worker's reply to the nudge will tell (see expectEnd).
  const expected = new Set<string>();

  function remember(transactionId: string, entry: SagaStatusEntry): void {
    const known = entries.get(transactionId);
    // A late "pending" read never overwrites a terminal status already known.
    if (known && known.status !== PENDING && entry.status === PENDING) return;
    entries.delete(transactionId);
    entries.set(transactionId, { ...entry, readAt: now() });
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    if (entry.status !== PENDING) {
      expected.delete(transactionId);
      for (const wake of waiters.get(transactionId) ?? []) wake();
    }
  }

  /**
   * The worker was handed the saga and will reply with its end: until `settle`, its pending
   * status needs no read of the table, however old it is.
   */
  function expectEnd(transactionId: string): void {
    expected.add(transactionId);
  }

  /** The worker's reply came (with the end, or without it) or will not come: polls read the table again once the status is stale. */
  function settle(transactionId: string, ended?: SagaStatusEntry): void {
    expected.delete(transactionId);
    if (ended) remember(transactionId, ended);
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
    if (known.status === PENDING && !expected.has(transactionId) && now() - known.readAt >= pendingFreshMs) return undefined;
    return { accountId: known.accountId, status: known.status, updatedAt: known.updatedAt };
  }

  return { remember, expectEnd, settle, lookup, waitForEnd, size: () => entries.size };
}

export type StatusBoard = ReturnType<typeof createStatusBoard>;
