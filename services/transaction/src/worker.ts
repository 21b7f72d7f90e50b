import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { createService, createServiceClient, registerGauge, withoutTracing, type App, type ServiceClient, type ServiceOptions } from '@corebank/kit';
import type { WorkerConfig } from './config.ts';
import { registerNudgeRoute } from './nudge/worker-routes.ts';
import { registerRegionStateRoute } from './region-state.ts';
import type { TargetService } from './saga/machine.ts';
import type { SagaRecord } from './saga/record.ts';
import { leaseOwnerPrefix } from './store/saga-store.ts';
import { openRegionStores, type RegionStoresOptions } from './store/region-stores.ts';
import { createSagaRunner, type HandOver, type SagaRunCounters } from './worker/saga-runner.ts';
import { createScheduler, type NudgeResult } from './worker/scheduler.ts';

export type { HandOver, NudgeResult };

export interface WorkerOptions extends WorkerConfig, Pick<RegionStoresOptions, 'dynamo' | 'onCorruptItem'> {
  logger?: FastifyBaseLogger;
}

export interface WorkerStats extends SagaRunCounters {
  workerId: string;
  running: number;
  backlog: number;
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
  /** The stopFlag as the worker applies it (read afresh from now on) and the sagas it still runs or holds. */
  readonly stopFlag: { invalidate(): void; isRegionClosed(): Promise<boolean> };
}

const silentLogger: FastifyBaseLogger = pino({ level: 'silent' });

/**
 * The saga worker: the saga runner (worker/saga-runner.ts) drives each saga under a lease so
 * that no two workers run the same step at once; the scheduler (worker/scheduler.ts) decides
 * which sagas run, from nudges (handed over under the API's lease token, or claimed) and
 * from polls of the pending index. This wires them to the tables and the step services.
 */
export function createWorker(options: WorkerOptions): Worker {
  // Prefixed with the region, so that a lease this worker holds can be attributed to it when the region is lost.
  const workerId = `${leaseOwnerPrefix(options.region)}${options.workerId}-${randomBytes(4).toString('hex')}`;
  const { concurrency, pollMs, leaseMs, stepTimeoutMs } = options;
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
  /** Aborted when the worker starts stopping, which cuts every pause short. */
  const stopping = new AbortController();
  let stopped: Promise<void> | undefined;

  async function isRegionClosed(): Promise<boolean> {
    try {
      return await stopFlag.isRegionClosed();
    } catch (error) {
      log.warn({ err: error }, 'stopFlag unreadable; claiming nothing until it can be read');
      return true;
    }
  }

  const runner = createSagaRunner({
    workerId,
    store,
    services,
    log,
    leaseMs,
    stepTimeoutMs,
    stepDelayMs: options.stepDelayMs,
    retry: {
      baseDelayMs: options.retryBaseDelayMs,
      forward: { budgetMs: options.stepRetryBudgetMs, maxDelayMs: options.stepRetryMaxDelayMs },
      compensation: { budgetMs: options.compensationRetryBudgetMs, maxDelayMs: options.compensationRetryMaxDelayMs },
    },
    stopSignal: stopping.signal,
    isRegionClosed,
  });
  const scheduler = createScheduler({
    concurrency,
    pollMs,
    log,
    stopSignal: stopping.signal,
    isRegionClosed,
    listClaimable: (limit) => store.listClaimableSagas(workerId, limit),
    run: runner.run,
  });

  return {
    workerId,
    start() {
      if (scheduler.start()) log.info({ concurrency, pollMs, leaseMs }, 'saga worker started');
    },
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        if (!(await scheduler.settle(options.shutdownGraceMs))) {
          log.warn({ running: scheduler.stats().running }, 'sagas still in flight at shutdown; their leases will expire');
        }
        await Promise.allSettled([services.balance.close(), services.count.close()]);
        closeStores();
        log.info(runner.counters, 'saga worker stopped');
      })();
      return stopped;
    },
    nudge: scheduler.nudge,
    whenEnded: scheduler.whenEnded,
    pollOnce: scheduler.pollOnce,
    countStuckSagas: () => store.countStuckSagas(),
    isStopping: () => stopping.signal.aborted,
    stats: () => ({ workerId, ...scheduler.stats(), ...runner.counters }),
    stopFlag,
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
  registerWorkerGauges(worker);
  // stuckSagas is read from the table: the count of stuck sagas an alarm watches.
  app.get('/worker/stats', async () => ({ ...worker.stats(), stuckSagas: await worker.countStuckSagas() }));
  const started = worker;
  registerRegionStateRoute(app, options.serviceToken, started.stopFlag, () => {
    const { running, backlog } = started.stats();
    return running + backlog;
  });
  app.addHook('onReady', async () => started.start());
  // Before the server waits for requests in flight: held nudges then get their answer at the
  // next step boundary instead of keeping the worker driving sagas during the drain.
  app.addHook('preClose', async () => started.stop());
  return { app, worker: started };
}

/** How long the stuck-saga gauge keeps a count: a scrape every few seconds costs one query per this, not one each. */
const STUCK_COUNT_TTL_MS = 30_000;

/**
 * The worker's gauges, read at scrape time from what it holds in memory: the sagas nudged
 * while every slot was busy (its backlog), and the stuck sagas (a count of the table's stuck
 * partition, refreshed at most every STUCK_COUNT_TTL_MS; a saga this worker marks stuck
 * counts at once).
 */
function registerWorkerGauges(worker: Worker): void {
  let stuck: { count: number; readAt: number; markedStuck: number } | undefined;
  registerGauge('corebank_worker_backlog', 'Sagas nudged to this worker while every slot was busy, waiting to start', () => worker.stats().backlog);
  registerGauge('corebank_sagas_stuck', 'Sagas whose compensation exhausted its budget, waiting for an operator (corebank sagas --stuck)', async () => {
    const { markedStuck } = worker.stats();
    if (!stuck || Date.now() - stuck.readAt > STUCK_COUNT_TTL_MS) {
      try {
        stuck = { count: await withoutTracing(() => worker.countStuckSagas()), readAt: Date.now(), markedStuck };
      } catch (error) {
        if (!stuck) throw error; // the table unreadable: the last count stands until it is readable again
      }
    }
    return stuck.count + (markedStuck - stuck.markedStuck);
  });
}
