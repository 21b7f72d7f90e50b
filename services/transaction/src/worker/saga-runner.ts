import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { ACCOUNT_HEADER, contextFromCarrier, isTracing, registerCounter, ROOT_CONTEXT, SpanKind, UpstreamUnavailableError, withSpan, type ServiceClient } from '@corebank/kit';
import { isCompensation, nextStep, stepRequest, type StepOutcome, type TargetService } from '../saga/machine.ts';
import type { SagaRecord } from '../saga/record.ts';
import { LeaseLostError, type SagaStore } from '../store/saga-store.ts';

/** A saga the API created leased to `leaseToken`: the worker runs it under that token. */
export interface HandOver {
  leaseToken: string;
  saga: SagaRecord;
}

export interface RetryPolicy {
  /** How long the step is retried before it is `exhausted`. */
  budgetMs: number;
  maxDelayMs: number;
}

export interface SagaRunnerOptions {
  /** The lease owner for sagas this worker claims. */
  workerId: string;
  store: SagaStore;
  services: Record<TargetService, ServiceClient>;
  log: FastifyBaseLogger;
  leaseMs: number;
  stepTimeoutMs: number;
  /** Test-only: sleep after each step's call, before recording its outcome. */
  stepDelayMs: number;
  retry: { baseDelayMs: number; forward: RetryPolicy; compensation: RetryPolicy };
  /** Aborted when the worker starts stopping: sagas are handed off at the next step boundary. */
  stopSignal: AbortSignal;
  /** True when this region must finish nothing more (or its stopFlag cannot be read). */
  isRegionClosed(): Promise<boolean>;
}

export interface SagaRunCounters {
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

/**
 * The worker stops driving this saga at a step boundary (it is shutting down, or the
 * region was closed); the lease is handed back so that another worker resumes it at once.
 */
class HandOffError extends Error {
  override name = 'HandOffError';
}

/** Sagas that ended in this worker, by kind and outcome (success, rolled_back, stuck). */
const sagasEnded = registerCounter('corebank_sagas_total', 'Sagas that ended in this worker, by kind and outcome (success, rolled_back, stuck)', ['kind', 'outcome']);

interface StepResult {
  outcome: StepOutcome;
  withdrawalCount?: number;
  /** The last failure seen, when the step exhausted its budget. */
  problem?: string;
}

/**
 * Runs one saga at a time per call: takes it (the hand-over, or a claim), drives it step by
 * step to its end under its lease, and keeps the lease alive. Which sagas run, and how many
 * at once, is the scheduler's business.
 */
export function createSagaRunner(options: SagaRunnerOptions) {
  const { workerId, store, services, log, leaseMs, stepTimeoutMs, stepDelayMs, retry, stopSignal, isRegionClosed } = options;
  const counters: SagaRunCounters = { claimed: 0, succeeded: 0, rolledBack: 0, handedOff: 0, leaseLost: 0, markedStuck: 0 };

  /** Sleeps, but wakes at once when the worker starts stopping. */
  const pause = async (ms: number) => {
    if (ms <= 0 || stopSignal.aborted) return;
    await sleep(ms, undefined, { signal: stopSignal }).catch(() => {});
  };

  /** Throws HandOffError when the saga must be given back at this step boundary. */
  async function checkStillOurs(): Promise<void> {
    if (stopSignal.aborted) throw new HandOffError('worker stopping');
    // A closed region finishes nothing more: the open region's worker takes over.
    if (await isRegionClosed()) throw new HandOffError('region closed');
  }

  /**
   * Takes the saga (under the hand-over lease, or by claiming it) and drives it. Resolves
   * with the finished saga, or undefined if it did not end here.
   */
  async function run(transactionId: string, handOver?: HandOver): Promise<SagaRecord | undefined> {
    if (stopSignal.aborted || (await isRegionClosed())) {
      if (handOver) await store.releaseLease(transactionId, handOver.leaseToken);
      return undefined;
    }
    const saga = handOver ? handOver.saga : await store.claimSaga(transactionId, workerId, leaseMs);
    if (!saga) return undefined;
    counters.claimed++;
    const owner = handOver ? handOver.leaseToken : workerId;
    if (!isTracing()) return driveSaga(saga, owner);
    // The saga continues the trace of the request that created it (a claimed one too: the
    // context is stored with it), not whatever this worker was doing when it took the saga.
    const parent = contextFromCarrier(saga.traceparent ? { traceparent: saga.traceparent } : {}, ROOT_CONTEXT);
    return withSpan(
      `saga ${saga.kind}`,
      { 'transaction.id': saga.transactionId, 'saga.kind': saga.kind, 'saga.step': saga.step, 'saga.attempt': saga.attempts },
      async (span) => {
        const ended = await driveSaga(saga, owner);
        span.setAttribute('saga.outcome', ended ? outcomeOf(ended.status) : 'not_ended_here');
        return ended;
      },
      { parent, kind: SpanKind.CONSUMER },
    );
  }

  /**
   * Runs the saga from its recorded step to its end, recording each step as it goes. Every
   * write is conditioned on `owner` (this worker's id, or the hand-over token) holding the lease.
   */
  async function driveSaga(claimed: SagaRecord, owner: string): Promise<SagaRecord | undefined> {
    let saga = claimed;
    /**
     * The step the table holds, which every write of ours is conditioned on. A forward step
     * that follows a forward step that succeeded (withdraw_balance after withdraw_count) runs
     * without writing that down first: a worker that resumes the saga from the step recorded
     * runs the first one again, and its service answers the replay as it answered the first
     * call (the count service with the same count). The end records it, and so does a
     * compensation, a retry (so that a long outage shows where the saga waits) or a hand-off.
     */
    let recordedStep = claimed.step;
    const recordProgress = async () => {
      if (saga.step === recordedStep) return;
      saga = await store.recordStep(saga, owner, saga.step, leaseMs, saga.withdrawalCount, recordedStep);
      recordedStep = saga.step;
    };
    try {
      for (;;) {
        await checkStillOurs();
        saga = await keepLease(saga, owner);
        const current = saga;
        const result = await withSpan(`step ${current.step}`, { 'saga.step': current.step, 'transaction.id': current.transactionId }, async (span) => {
          const stepResult = await performStep(current, async () => {
            await recordProgress();
            saga = await keepLease(saga, owner);
          });
          span.setAttribute('saga.outcome', stepResult.outcome);
          return stepResult;
        });
        await pause(stepDelayMs);
        const transition = nextStep(saga.kind, saga.step, result.outcome);
        if (transition.kind === 'finish') {
          const finished = await store.finishSaga(saga, owner, transition.status, recordedStep);
          if (transition.status === 'status#success') counters.succeeded++;
          else counters.rolledBack++;
          sagasEnded.inc({ kind: saga.kind, outcome: outcomeOf(transition.status) });
          log.debug({ transactionId: saga.transactionId, status: transition.status }, 'saga finished');
          return finished;
        }
        if (transition.kind === 'stuck') {
          const problem = result.problem ?? 'compensation failed';
          await store.markStuck(saga, owner, problem);
          counters.markedStuck++;
          sagasEnded.inc({ kind: saga.kind, outcome: 'stuck' });
          log.error({ transactionId: saga.transactionId, accountId: saga.accountId, step: saga.step, problem }, 'compensation exhausted its budget; saga is stuck, its account stays locked');
          return undefined;
        }
        if (transition.kind === 'retry') continue; // performStep retries compensations itself
        if (!isCompensation(transition.step)) {
          saga = { ...saga, step: transition.step, ...(result.withdrawalCount !== undefined ? { withdrawalCount: result.withdrawalCount } : {}) };
          continue;
        }
        log.debug({ transactionId: saga.transactionId, failedStep: saga.step, next: transition.step }, 'saga step failed; compensating');
        saga = await store.recordStep(saga, owner, transition.step, leaseMs, result.withdrawalCount ?? saga.withdrawalCount, recordedStep);
        recordedStep = saga.step;
      }
    } catch (error) {
      if (error instanceof HandOffError) {
        counters.handedOff++;
        // The next worker starts from the step this one reached, not from one it ran again.
        await recordProgress().catch(() => {});
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
      await checkStillOurs();
      await renewLease();
    }
  }

  return { run, counters };
}

/** A finished saga's status as a metric or span label: success or rolled_back (pending: not finished). */
function outcomeOf(status: SagaRecord['status']): string {
  if (status === 'status#success') return 'success';
  if (status === 'status#success_rollback') return 'rolled_back';
  return 'pending';
}
