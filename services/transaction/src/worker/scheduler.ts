import type { FastifyBaseLogger } from 'fastify';
import { within, withoutTracing } from '@corebank/kit';
import type { SagaRecord } from '../saga/record.ts';
import type { HandOver } from './saga-runner.ts';

/** Sagas nudged while every slot is busy wait here (beyond it, polling finds them). */
const MAX_BACKLOG = 10_000;

export type NudgeResult = 'started' | 'running' | 'queued' | 'stopping';

export interface SchedulerOptions {
  /** How many sagas run at once. */
  concurrency: number;
  pollMs: number;
  log: FastifyBaseLogger;
  /** Aborted when the worker starts stopping: nothing new starts, the poll and backlog end. */
  stopSignal: AbortSignal;
  isRegionClosed(): Promise<boolean>;
  /** Pending sagas this worker may claim now, at most `limit`. */
  listClaimable(limit: number): Promise<SagaRecord[]>;
  /** Runs one saga; resolves with the finished saga, or undefined if it did not end here. */
  run(transactionId: string, handOver?: HandOver): Promise<SagaRecord | undefined>;
}

/**
 * Decides which sagas run and when: at most `concurrency` at once (necessarily of different
 * accounts), nudged ones first (queued in a backlog while every slot is busy), and a poll of
 * the pending index every `pollMs` for the rest (sagas of dead workers, nudges lost).
 */
export function createScheduler(options: SchedulerOptions) {
  const { concurrency, pollMs, log, stopSignal, isRegionClosed } = options;
  /** Each running saga's task: it resolves with the finished saga, or undefined if it did not end here. */
  const running = new Map<string, Promise<SagaRecord | undefined>>();
  const backlog = new Map<string, HandOver | undefined>();
  let started = false;
  let pollTimer: NodeJS.Timeout | undefined;

  stopSignal.addEventListener('abort', () => {
    clearTimeout(pollTimer);
    backlog.clear();
  });

  function launch(transactionId: string, handOver?: HandOver) {
    const task = options
      .run(transactionId, handOver)
      .catch((error: unknown) => {
        log.error({ err: error, transactionId }, 'saga run failed; it will be resumed from its recorded step');
        return undefined;
      })
      .finally(() => {
        running.delete(transactionId);
        drainBacklog();
      });
    running.set(transactionId, task);
  }

  function drainBacklog() {
    for (const [transactionId, handOver] of backlog) {
      if (stopSignal.aborted || running.size >= concurrency) return;
      backlog.delete(transactionId);
      if (!running.has(transactionId)) launch(transactionId, handOver);
    }
  }

  /** One recovery round: claims pending sagas whose lease is free; returns how many it started. */
  async function pollOnce(): Promise<number> {
    if (stopSignal.aborted || !started) return 0;
    drainBacklog();
    const free = concurrency - running.size;
    if (free <= 0 || (await isRegionClosed())) return 0;
    const claimable = await options.listClaimable(free);
    let launched = 0;
    for (const saga of claimable) {
      if (stopSignal.aborted || running.size >= concurrency) break;
      if (running.has(saga.transactionId)) continue;
      launch(saga.transactionId);
      launched++;
    }
    return launched;
  }

  async function pollLogged() {
    try {
      // A poll is the worker's own housekeeping, every pollMs: traced, it would drown the sagas' traces.
      await withoutTracing(pollOnce);
    } catch (error) {
      log.warn({ err: error }, 'polling for pending sagas failed');
    }
  }

  function schedulePoll() {
    pollTimer = setTimeout(async () => {
      await pollLogged();
      if (!stopSignal.aborted) schedulePoll();
    }, pollMs);
  }

  return {
    /** Starts polling; the first round runs straight away and picks up what a previous worker left. */
    start(): boolean {
      if (started || stopSignal.aborted) return false;
      started = true;
      void pollLogged();
      schedulePoll();
      return true;
    },
    nudge(transactionId: string, handOver?: HandOver): NudgeResult {
      if (stopSignal.aborted) return 'stopping';
      if (running.has(transactionId)) return 'running';
      if (running.size >= concurrency) {
        if (backlog.size >= MAX_BACKLOG) return 'stopping'; // full: the API hands the lease back
        backlog.set(transactionId, handOver);
        return 'queued';
      }
      launch(transactionId, handOver);
      return 'started';
    },
    whenEnded: (transactionId: string) => running.get(transactionId),
    pollOnce,
    /** Waits for the sagas in flight (after the stop signal), for `graceMs` at most; true if they all ended. */
    async settle(graceMs: number): Promise<boolean> {
      return (await within(Promise.allSettled([...running.values()]), graceMs)) !== 'timeout';
    },
    stats: () => ({ running: running.size, backlog: backlog.size }),
  };
}
