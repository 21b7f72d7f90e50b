import { randomBytes, randomUUID } from 'node:crypto';
import { RequestTimeoutError, type HttpResponse, type HttpTransport } from './http-transport.ts';

/** Request names as they appear in the statistics (all polls share one name, as in the Locust file). */
export const DEPOSIT_NAME = '/transaction/deposit';
export const WITHDRAW_NAME = '/transaction/withdraw';
export const POLL_NAME = '/transaction/<txId>';
export const SAGA_DEPOSIT_NAME = 'saga deposit';
export const SAGA_WITHDRAW_NAME = 'saga withdraw';
export const SCENARIO_REQUEST_NAMES = [DEPOSIT_NAME, WITHDRAW_NAME, POLL_NAME] as const;

export const DEPOSIT_QUANTITY = 1000;
export const WITHDRAW_QUANTITY = 50;
export const WITHDRAWALS_PER_ROUND = 3;

const STATUS_PENDING = 'status#pending';
const STATUS_SUCCESS = 'status#success';
const STATUS_ROLLBACK = 'status#success_rollback';

/** Where a virtual user reports what happened; RequestStats implements it. */
export interface ScenarioRecorder {
  logRequest(method: string, name: string, responseTimeMs: number, contentLength: number, failureMessage?: string): void;
  logSagaCompleted(name: string, latencyMs: number, rolledBack: boolean): void;
  logSagaAbandoned(name: string): void;
}

/** Read before every request, so that edits made while running apply at once. */
export interface ScenarioSettings {
  host: string;
  timeoutMs: number;
  pollIntervalMs: number;
  /** A saga with no terminal status after this long is abandoned and the round ends. */
  sagaTimeoutMs: number;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** Header the API deduplicates POSTs on: a repeat with the same key answers the same transactionId. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** A POST that got no answer, or a server error, may or may not have taken effect: it is sent once more, with the same key. */
const isWorthRetrying = (outcome: Outcome) => outcome.kind === 'failed' && (outcome.response === undefined || outcome.response.status >= 500);

/** Splits a host such as `http://api.example.com/prefix/` into origin and base path. */
export function parseHost(host: string): { origin: string; basePath: string } {
  const url = new URL(host);
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

export function randomAccountId(length = 20): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const byte of bytes) id += LETTERS[byte % LETTERS.length];
  return id;
}

/** Short, stable failure text: stable so that the Failures tab groups it instead of listing every request. */
export function describeHttpFailure(response: HttpResponse): string {
  let detail = '';
  try {
    const parsed = JSON.parse(response.body) as { error?: unknown; message?: unknown };
    detail = [parsed.error, parsed.message].filter((part) => typeof part === 'string' && part).join(': ');
  } catch {
    detail = response.body.slice(0, 120);
  }
  return detail ? `HTTP ${response.status}: ${detail}` : `HTTP ${response.status}`;
}

export function describeTransportError(error: unknown): string {
  if (error instanceof RequestTimeoutError) return error.message;
  const err = error as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = err.cause?.code ?? err.code;
  const message = err.cause?.message ?? err.message;
  return `ConnectionError: ${typeof code === 'string' ? code : String(message ?? error)}`;
}

type Outcome = { kind: 'stopped' } | { kind: 'failed'; message: string; response?: HttpResponse } | { kind: 'ok'; response: HttpResponse };

/**
 * One simulated user: round after round, a fresh account gets a deposit saga and three
 * withdrawal sagas, each followed to its terminal status. Stopping interrupts the current
 * sleep or request at once; an interrupted request is not recorded.
 */
export class VirtualUser {
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private parsedHost: { host: string; origin: string; basePath: string } | undefined;

  constructor(
    private readonly transport: HttpTransport,
    private readonly recorder: ScenarioRecorder,
    private readonly settings: () => ScenarioSettings,
  ) {}

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
  }

  async run(): Promise<void> {
    while (!this.stopped) await this.round();
  }

  private async round(): Promise<void> {
    const accountId = randomAccountId();
    if (!(await this.saga(accountId, 'deposit', DEPOSIT_QUANTITY, true))) return;
    for (let i = 0; i < WITHDRAWALS_PER_ROUND && !this.stopped; i++) {
      if (!(await this.saga(accountId, 'withdraw', WITHDRAW_QUANTITY, false))) return;
    }
  }

  /** Runs one saga to its terminal status; false when the round cannot go on. */
  private async saga(accountId: string, kind: 'deposit' | 'withdraw', quantity: number, closeConnection: boolean): Promise<boolean> {
    const requestName = kind === 'deposit' ? DEPOSIT_NAME : WITHDRAW_NAME;
    const sagaName = kind === 'deposit' ? SAGA_DEPOSIT_NAME : SAGA_WITHDRAW_NAME;
    const startedAt = performance.now();
    const startedAtWall = Date.now();
    // One key per saga, as a bank's careful client does: its retry cannot move the money twice.
    const idempotencyKey = randomUUID();
    const post = () => this.call('POST', requestName, `/transaction/${kind}`, accountId, JSON.stringify({ quantity }), closeConnection, (response) => {
      if (response.status !== 200) return describeHttpFailure(response);
      const transactionId = parseJson(response.body)?.transactionId;
      return typeof transactionId === 'string' && transactionId ? undefined : 'Unexpected response: no transactionId';
    }, idempotencyKey);
    let posted = await post();
    if (isWorthRetrying(posted) && !this.stopped) posted = await post();
    if (posted.kind === 'stopped') return false;
    if (posted.kind === 'failed') {
      this.recorder.logSagaAbandoned(sagaName);
      return false;
    }
    const transactionId = String(parseJson(posted.response.body)?.transactionId);
    const deadline = startedAt + this.settings().sagaTimeoutMs;

    while (performance.now() < deadline) {
      await this.sleep(this.settings().pollIntervalMs);
      if (this.stopped) return false;
      let status: unknown;
      let endedAt: unknown;
      const polled = await this.call('GET', POLL_NAME, `/transaction/${encodeURIComponent(transactionId)}`, accountId, undefined, false, (response) => {
        if (response.status !== 200) return describeHttpFailure(response);
        const answer = parseJson(response.body);
        status = answer?.status;
        endedAt = answer?.updatedAt;
        if (status === STATUS_SUCCESS || status === STATUS_PENDING) return undefined;
        if (status === STATUS_ROLLBACK) return `Saga rolled back (${STATUS_ROLLBACK})`;
        return `Unexpected status: ${String(status).slice(0, 60)}`;
      });
      if (polled.kind === 'stopped') return false;
      if (status === STATUS_SUCCESS || status === STATUS_ROLLBACK) {
        this.recorder.logSagaCompleted(sagaName, sagaLatency(performance.now() - startedAt, startedAtWall, endedAt), status === STATUS_ROLLBACK);
        return true;
      }
      // 404 means the service does not know this saga; polling on cannot help.
      if (polled.kind === 'failed' && polled.response?.status === 404) break;
    }
    this.recorder.logSagaAbandoned(sagaName);
    return false;
  }

  /** Sends one request and records it; `judge` returns a failure message or undefined. */
  private async call(
    method: 'GET' | 'POST',
    name: string,
    path: string,
    accountId: string,
    body: string | undefined,
    closeConnection: boolean,
    judge: (response: HttpResponse) => string | undefined,
    idempotencyKey?: string,
  ): Promise<Outcome> {
    const settings = this.settings();
    if (this.parsedHost?.host !== settings.host) this.parsedHost = { host: settings.host, ...parseHost(settings.host) };
    const headers: Record<string, string> = { X_ACCOUNT_ID: accountId };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers[IDEMPOTENCY_KEY_HEADER] = idempotencyKey;
    const startedAt = performance.now();
    try {
      const response = await this.transport.send({
        method,
        origin: this.parsedHost.origin,
        path: this.parsedHost.basePath + path,
        headers,
        body,
        closeConnection,
        timeoutMs: settings.timeoutMs,
        signal: this.abort.signal,
      });
      const elapsed = performance.now() - startedAt;
      const failure = judge(response);
      this.recorder.logRequest(method, name, elapsed, response.bytes, failure);
      return failure === undefined ? { kind: 'ok', response } : { kind: 'failed', message: failure, response };
    } catch (error) {
      if (this.stopped) return { kind: 'stopped' };
      const message = describeTransportError(error);
      this.recorder.logRequest(method, name, performance.now() - startedAt, 0, message);
      // Back off a little so an unreachable host does not turn into a busy loop.
      await this.sleep(Math.min(settings.pollIntervalMs, 100));
      return { kind: 'failed', message };
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/**
 * A saga's latency is POST → the end the server recorded (`updatedAt` of the terminal status),
 * which is what the account holder feels, not when the next poll happened to look: with the
 * seed's 0.5 s poll that would put every saga on the poll grid. Bounded by what the client
 * saw, so a clock ahead of the server's cannot make it longer; without `updatedAt`, what the
 * client saw.
 */
export function sagaLatency(observedMs: number, startedAtWall: number, endedAt: unknown): number {
  const end = typeof endedAt === 'string' ? Date.parse(endedAt) : Number.NaN;
  if (Number.isNaN(end)) return observedMs;
  return Math.min(Math.max(end - startedAtWall, 0), observedMs);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
