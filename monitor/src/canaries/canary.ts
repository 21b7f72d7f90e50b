/**
 * A canary (the stand-in for a CloudWatch Synthetics canary): every period, the seed's API
 * round trip against one region's endpoint — read the balance, deposit 1 to the canary's own
 * account, poll the saga's status until it ends — and one result per run: success (every
 * step as expected and the saga `status#success`), latency, and the failed step's reason.
 *
 * Each run is bounded to `runTimeoutMs` (less than the period): a region that does not
 * answer gives a failed run in every period, never a period without data. Runs never
 * overlap; a run that ends late starts the next one at the next period boundary.
 */
import { randomUUID } from 'node:crypto';
import { ACCOUNT_HEADER, canaryAccountId, createServiceClient, isCanaryAccount } from '@corebank/kit';
import { canaryName } from './alarms.ts';

export { canaryAccountId, isCanaryAccount };

export interface CanaryResult {
  canary: string;
  origin: string;
  startedAt: number;
  endedAt: number;
  latencyMs: number;
  success: boolean;
  /** The step that failed and why, when one did. */
  failure?: string;
  transactionId?: string;
}

export interface CanaryOptions {
  /** Where the canary runs from: its name is `canary-<origin>`, its account too. */
  origin: string;
  /** The regional endpoint it calls (Tokyo's: http://127.0.0.1:8081). */
  endpointUrl: string;
  periodMs: number;
  /** One run's budget; at most 80 % of the period by default, and never more than 30 s. */
  runTimeoutMs?: number;
  /** How often the saga's status is asked while it is pending. */
  pollIntervalMs?: number;
  /** Results kept for `results()`. */
  keep?: number;
  onResult?: (result: CanaryResult) => void;
}

const TERMINAL_SUCCESS = 'status#success';
const PENDING = 'status#pending';

class StepFailed extends Error {}

export function createCanary(options: CanaryOptions) {
  const name = canaryName(options.origin);
  const accountId = canaryAccountId(options.origin);
  const runTimeoutMs = options.runTimeoutMs ?? Math.min(30_000, Math.floor(options.periodMs * 0.8));
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const keep = options.keep ?? 1000;
  const client = createServiceClient({ baseUrl: options.endpointUrl, timeoutMs: runTimeoutMs, connections: 4 });
  const headers = { [ACCOUNT_HEADER]: accountId };
  const kept: CanaryResult[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CanaryResult> | undefined;
  let stopped = false;

  async function roundTrip(deadline: number): Promise<string> {
    const balance = await client.get('/balance', headers);
    if (balance.status !== 200) throw new StepFailed(`GET /balance answered ${balance.status}`);
    const deposit = await client.post<{ transactionId?: string }>('/transaction/deposit', { quantity: 1 }, { ...headers, 'idempotency-key': randomUUID() });
    const transactionId = deposit.body?.transactionId;
    if (deposit.status < 200 || deposit.status > 299 || !transactionId) throw new StepFailed(`POST /transaction/deposit answered ${deposit.status}`);
    for (;;) {
      const status = await client.get<{ status?: string }>(`/transaction/${encodeURIComponent(transactionId)}`, headers);
      if (status.status !== 200) throw new StepFailed(`GET /transaction/${transactionId} answered ${status.status}`);
      if (status.body?.status !== PENDING) {
        if (status.body?.status !== TERMINAL_SUCCESS) throw new StepFailed(`the deposit ${transactionId} ended ${status.body?.status}`);
        return transactionId;
      }
      if (Date.now() + pollIntervalMs >= deadline) throw new StepFailed(`the deposit ${transactionId} was still pending after ${runTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }

  /** One run, bounded to runTimeoutMs whatever the endpoint does. */
  async function runOnce(): Promise<CanaryResult> {
    const startedAt = Date.now();
    const deadline = startedAt + runTimeoutMs;
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => reject(new StepFailed(`no complete round trip within ${runTimeoutMs} ms`)), runTimeoutMs);
    });
    let result: CanaryResult;
    try {
      const transactionId = await Promise.race([roundTrip(deadline), expired]);
      result = { canary: name, origin: options.origin, startedAt, endedAt: Date.now(), latencyMs: Date.now() - startedAt, success: true, transactionId };
    } catch (error) {
      const failure = error instanceof StepFailed ? error.message : `no answer: ${(error as Error).message}`;
      result = { canary: name, origin: options.origin, startedAt, endedAt: Date.now(), latencyMs: Date.now() - startedAt, success: false, failure };
    } finally {
      clearTimeout(timeout);
    }
    kept.push(result);
    if (kept.length > keep) kept.splice(0, kept.length - keep);
    options.onResult?.(result);
    return result;
  }

  function schedule() {
    if (stopped) return;
    const now = Date.now();
    const next = Math.floor(now / options.periodMs) * options.periodMs + options.periodMs;
    timer = setTimeout(() => {
      running = runOnce();
      void running.finally(() => {
        running = undefined;
        schedule();
      });
    }, next - now);
  }

  return {
    name,
    accountId,
    runOnce,
    /** Runs at every period boundary (the first at the next one) until stopped. */
    start() {
      stopped = false;
      schedule();
    },
    /** Stops scheduling and waits for a run in progress to end. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await client.close();
    },
    results: (): readonly CanaryResult[] => kept,
  };
}

export type Canary = ReturnType<typeof createCanary>;
