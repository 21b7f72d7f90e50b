import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import {
  ACCOUNT_HEADER,
  createService,
  createServiceClient,
  UpstreamUnavailableError,
  type App,
  type ServiceClient,
  type ServiceOptions,
} from '@corebank/kit';
import { isCompensation, nextStep, stepRequest, type StepOutcome, type TargetService } from './saga/machine.ts';
import { openRegionStores, type RegionStoresOptions } from './store/region-stores.ts';
import type { SagaRecord } from './saga/record.ts';
import { LeaseLostError } from './store/saga-store.ts';
import type { WorkerConfig } from './config.ts';
import { registerNudgeRoute } from './nudge/worker-routes.ts';

/** Sagas nudged while every slot is busy wait here (beyond it, polling finds them). */
const MAX_BACKLOG = 10_000;

export interface WorkerOptions extends WorkerConfig, Pick<RegionStoresOptions, 'dynamo' | 'onCorruptItem'> {
  logger?: FastifyBaseLogger;
}

export interface WorkerStats {
  workerId: string;
  running: number;
  backlog: number;
  claimed: number;
  succeeded: number;
  rolledBack: number;
  /** Sagas given back at a step boundary (shutdown, region closed). */
  handedOff: number;
  /** Sagas dropped because another worker took the lease. */
  leaseLost: number;
  /** Sagas this worker marked stuck (a compensation exhausted its budget). */
  markedStuck: number;
}

export type NudgeResult = 'started' | 'running' | 'queued' | 'stopping';

/** A saga the API created leased to `leaseToken`: the worker runs it under that token. */
export interface HandOver {
  leaseToken: string;
  saga: SagaRecord;
}

export interface Worker {
  readonly workerId: string;
  /** Starts polling for pending sagas; idempotent. */
  start(): void;
  /** Stops claiming, lets in-flight steps finish (bounded), then closes clients. */
  stop(): Promise<void>;
  /** A saga was just created: run it now (under the hand-over lease, or after claiming it). */
  nudge(transactionId: string, handOver?: HandOver): NudgeResult;
  /** The saga's end if it is running here: the finished saga, or undefined if it did not end here. */
  whenEnded(transactionId: string): Promise<SagaRecord | undefined> | undefined;
  /** One recovery round: claims pending sagas whose lease is free; returns how many it started. */
  pollOnce(): Promise<number>;
  /** Sagas stuck in the table now (by any worker): what an alarm watches. */
  countStuckSagas(): Promise<number>;
  isStopping(): boolean;
  stats(): WorkerStats;
}

/**
 * The worker stops driving this saga at a step boundary (it is shutting down, or the
 * region was closed); the lease is handed back so that another worker resumes it at once.
 */
class HandOffError extends Error {
  override name = 'HandOffError';
}

interface StepResult {
  outcome: StepOutcome;
  withdrawalCount?: number;
  /** The last failure seen, when the step exhausted its budget. */
  problem?: string;
}

const silentLogger = {
  level: 'silent',
  fatal: () => {},
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
  silent: () => {},
  child: () => silentLogger,
} as unknown as FastifyBaseLogger;

/**
 * The saga worker. New sagas arrive by nudge, handed over under the API's lease token (or
 * claimed, for a nudge without one); a poll of the
 * pending index every `pollMs` recovers the rest (sagas of dead workers, nudges lost).
 * Up to `concurrency` sagas (necessarily of different accounts) run at the same time, each
 * under a lease so that no two workers run the same step at once.
 */
export function createWorker(options: WorkerOptions): Worker {
  const workerId = `${options.workerId}-${randomBytes(4).toString('hex')}`;
  const { concurrency, pollMs, leaseMs, stepTimeoutMs, stepDelayMs, shutdownGraceMs } = options;
  const retry = {
    baseDelayMs: options.retryBaseDelayMs,
    forward: { budgetMs: options.stepRetryBudgetMs, maxDelayMs: options.stepRetryMaxDelayMs },
    compensation: { budgetMs: options.compensationRetryBudgetMs, maxDelayMs: options.compensationRetryMaxDelayMs },
  };
  const log = (options.logger ?? silentLogger).child({ workerId });

  /** Malformed items already reported, so that each is logged once, not at every poll. */
  const reportedCorrupt = new Set<string>();
  const { store, stopFlag, close: closeStores } = openRegionStores({
    ...options,
    onCorruptItem: (error) => {
      if (reportedCorrupt.has(error.key)) return;
      reportedCorrupt.add(error.key);
      log.error({ err: error, key: error.key }, 'malformed saga item in the pending index; skipping it');
    },
  });
  const clientOf = (baseUrl: string) => createServiceClient({ baseUrl, serviceToken: options.serviceToken, timeoutMs: stepTimeoutMs, connections: concurrency });
  const services: Record<TargetService, ServiceClient> = { balance: clientOf(options.balanceUrl), count: clientOf(options.countUrl) };
  /** Each running saga's task: it resolves with the finished saga, or undefined if it did not end here. */
  const running = new Map<string, Promise<SagaRecord | undefined>>();
  const backlog = new Map<string, HandOver | undefined>();
  const counters = { claimed: 0, succeeded: 0, rolledBack: 0, handedOff: 0, leaseLost: 0, markedStuck: 0 };
  let started = false;
  let stopping = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;

  /** Aborted when the worker starts stopping, which cuts every pause short. */
  const stopSignal = new AbortController();
  /** Sleeps, but wakes at once when the worker starts stopping. */
  const pause = async (ms: number) => {
    if (ms <= 0 || stopping) return;
    await sleep(ms, undefined, { signal: stopSignal.signal }).catch(() => {});
  };

  async function isRegionClosed(): Promise<boolean> {
    try {
      return await stopFlag.isRegionClosed();
    } catch (error) {
      log.warn({ err: error }, 'stopFlag unreadable; claiming nothing until it can be read');
      return true;
    }
  }

  function launch(transactionId: string, handOver?: HandOver) {
    const task = (async () => {
      if (stopping || (await isRegionClosed())) {
        if (handOver) await store.releaseLease(transactionId, handOver.leaseToken);
        return;
      }
      const saga = handOver ? handOver.saga : await store.claimSaga(transactionId, workerId, leaseMs);
      if (!saga) return undefined;
      counters.claimed++;
      return driveSaga(saga, handOver ? handOver.leaseToken : workerId);
    })()
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
      if (stopping || running.size >= concurrency) return;
      backlog.delete(transactionId);
      if (!running.has(transactionId)) launch(transactionId, handOver);
    }
  }

  /**
   * Runs the saga from its recorded step to its end, recording each step as it goes. Every
   * write is conditioned on `owner` (this worker's id, or the hand-over token) holding the lease.
   */
  async function driveSaga(claimed: SagaRecord, owner: string): Promise<SagaRecord | undefined> {
    let saga = claimed;
    try {
      for (;;) {
        if (stopping) throw new HandOffError('worker stopping');
        // A closed region finishes nothing more: the open region's worker takes over.
        if (await isRegionClosed()) throw new HandOffError('region closed');
        saga = await keepLease(saga, owner);
        const result = await performStep(saga, () => keepLease(saga, owner).then((renewed) => void (saga = renewed)));
        await pause(stepDelayMs);
        const transition = nextStep(saga.kind, saga.step, result.outcome);
        if (transition.kind === 'finish') {
          const finished = await store.finishSaga(saga, owner, transition.status);
          if (transition.status === 'status#success') counters.succeeded++;
          else counters.rolledBack++;
          log.debug({ transactionId: saga.transactionId, status: transition.status }, 'saga finished');
          return finished;
        }
        if (transition.kind === 'stuck') {
          const problem = result.problem ?? 'compensation failed';
          await store.markStuck(saga, owner, problem);
          counters.markedStuck++;
          log.error({ transactionId: saga.transactionId, accountId: saga.accountId, step: saga.step, problem }, 'compensation exhausted its budget; saga is stuck, its account stays locked');
          return undefined;
        }
        if (transition.kind === 'retry') continue; // performStep retries compensations itself
        if (isCompensation(transition.step)) {
          log.debug({ transactionId: saga.transactionId, failedStep: saga.step, next: transition.step }, 'saga step failed; compensating');
        }
        saga = await store.recordStep(saga, owner, transition.step, leaseMs, result.withdrawalCount);
      }
    } catch (error) {
      if (error instanceof HandOffError) {
        counters.handedOff++;
        log.info({ transactionId: saga.transactionId, step: saga.step, reason: error.message }, 'saga handed off');
        await store.releaseLease(saga.transactionId, owner).catch(() => false);
        return undefined;
      }
      if (error instanceof LeaseLostError) {
        counters.leaseLost++;
        log.warn({ transactionId: saga.transactionId, reason: error.message }, 'saga lease lost; another worker has it');
        return undefined;
      }
      throw error;
    }
  }

  /** Renews the lease when less than two step timeouts of it remain. */
  async function keepLease(saga: SagaRecord, owner: string): Promise<SagaRecord> {
    if (saga.leaseUntil !== undefined && saga.leaseUntil - Date.now() > 2 * stepTimeoutMs) return saga;
    return store.renewLease(saga, owner, leaseMs);
  }

  /**
   * Calls the step's service. A 2xx succeeds; for a forward step a 4xx (but 408/429) is a
   * business failure. Anything else (a 5xx, a 408/429, no answer; for a compensation, any
   * failure) is retried with capped exponential backoff for the step's time budget, longer
   * than a database failover; then the step is `exhausted`.
   */
  async function performStep(saga: SagaRecord, renewLease: () => Promise<void>): Promise<StepResult> {
    const request = stepRequest(saga.step, saga);
    const compensation = isCompensation(saga.step);
    const policy = compensation ? retry.compensation : retry.forward;
    const context = { transactionId: saga.transactionId, step: saga.step };
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      try {
        const reply = await services[request.service].put<Record<string, unknown> | null>(request.path, request.body, {
          [ACCOUNT_HEADER]: saga.accountId,
        });
        if (reply.status >= 200 && reply.status < 300) {
          if (saga.step !== 'withdraw_count') return { outcome: 'succeeded' };
          const count = reply.body?.count;
          if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 1) return { outcome: 'succeeded', withdrawalCount: count };
          problem = `count service answered without a valid count: ${JSON.stringify(reply.body)}`;
        } else if (reply.status >= 400 && reply.status < 500 && reply.status !== 408 && reply.status !== 429) {
          if (!compensation) {
            log.debug({ ...context, status: reply.status, reply: reply.body }, 'saga step refused');
            return { outcome: 'failed' };
          }
          problem = `compensation refused with ${reply.status}: ${JSON.stringify(reply.body)}`;
          log.error(context, problem);
        } else {
          problem = `answered ${reply.status}`;
        }
      } catch (error) {
        if (!(error instanceof UpstreamUnavailableError) && !(error instanceof SyntaxError)) throw error;
        problem = error.message;
      }
      const remainingMs = policy.budgetMs - (Date.now() - startedAt);
      if (remainingMs <= 0) {
        log.warn({ ...context, attempt, problem, budgetMs: policy.budgetMs }, 'saga step kept failing for its whole retry budget');
        return { outcome: 'exhausted', problem };
      }
      log.debug({ ...context, attempt, problem }, 'saga step unavailable; retrying');
      const backoff = Math.min(policy.maxDelayMs, retry.baseDelayMs * 2 ** Math.min(attempt - 1, 30)) * (0.5 + Math.random() / 2);
      await pause(Math.min(backoff, remainingMs));
      if (stopping) throw new HandOffError('worker stopping');
      if (await isRegionClosed()) throw new HandOffError('region closed');
      await renewLease();
    }
  }

  async function pollOnce(): Promise<number> {
    if (stopping || !started) return 0;
    drainBacklog();
    const free = concurrency - running.size;
    if (free <= 0 || (await isRegionClosed())) return 0;
    const claimable = await store.listClaimableSagas(workerId, free);
    let launched = 0;
    for (const saga of claimable) {
      if (stopping || running.size >= concurrency) break;
      if (running.has(saga.transactionId)) continue;
      launch(saga.transactionId);
      launched++;
    }
    return launched;
  }

  function schedulePoll() {
    pollTimer = setTimeout(async () => {
      try {
        await pollOnce();
      } catch (error) {
        log.warn({ err: error }, 'polling for pending sagas failed');
      }
      if (!stopping) schedulePoll();
    }, pollMs);
  }

  return {
    workerId,
    start() {
      if (started || stopping) return;
      started = true;
      log.info({ concurrency, pollMs, leaseMs }, 'saga worker started');
      // A first round straight away picks up what a previous worker left.
      void pollOnce().catch((error: unknown) => log.warn({ err: error }, 'polling for pending sagas failed'));
      schedulePoll();
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        clearTimeout(pollTimer);
        backlog.clear();
        stopSignal.abort();
        const inFlight = Promise.allSettled([...running.values()]);
        let graceTimer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<'timeout'>((resolve) => (graceTimer = setTimeout(() => resolve('timeout'), shutdownGraceMs)));
        const ended = await Promise.race([inFlight.then(() => 'done' as const), graceOver]);
        clearTimeout(graceTimer);
        if (ended === 'timeout') log.warn({ running: running.size }, 'sagas still in flight at shutdown; their leases will expire');
        await Promise.allSettled([services.balance.close(), services.count.close()]);
        closeStores();
        log.info(counters, 'saga worker stopped');
      })();
      return stopped;
    },
    nudge(transactionId, handOver) {
      if (stopping) return 'stopping';
      if (running.has(transactionId)) return 'running';
      if (running.size >= concurrency) {
        if (backlog.size >= MAX_BACKLOG) return 'stopping'; // full: the API hands the lease back
        backlog.set(transactionId, handOver);
        return 'queued';
      }
      launch(transactionId, handOver);
      return 'started';
    },
    whenEnded: (transactionId) => running.get(transactionId),
    pollOnce,
    countStuckSagas: () => store.countStuckSagas(),
    isStopping: () => stopping,
    stats: () => ({ workerId, running: running.size, backlog: backlog.size, ...counters }),
  };
}

export interface WorkerAppOptions extends Omit<WorkerOptions, 'logger'> {
  logger?: ServiceOptions['logger'];
}

/**
 * The worker process's HTTP face: GET /health (503 once stopping), the nudge endpoint and
 * GET /worker/stats. The worker starts polling when the app is ready and stops (gracefully)
 * as soon as the app begins to close.
 */
export function buildWorkerApp(options: WorkerAppOptions): { app: App; worker: Worker } {
  let worker: Worker | undefined;
  const app = createService({
    name: 'transaction-worker',
    health: async () => {
      if (!worker || worker.isStopping()) throw new Error('worker is stopping');
    },
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  const { logger: _logger, ...workerOptions } = options;
  worker = createWorker({ ...workerOptions, logger: app.log });
  registerNudgeRoute(app, worker, options.serviceToken);
  // stuckSagas is read from the table: the count of stuck sagas an alarm watches.
  app.get('/worker/stats', async () => ({ ...worker.stats(), stuckSagas: await worker.countStuckSagas() }));
  const started = worker;
  app.addHook('onReady', async () => started.start());
  // Before the server waits for requests in flight: held nudges then get their answer at the
  // next step boundary instead of keeping the worker driving sagas during the drain.
  app.addHook('preClose', async () => started.stop());
  return { app, worker: started };
}
