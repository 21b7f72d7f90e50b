/**
 * The drills' load and money check: users, each with its own account, deposit and withdraw
 * through the global endpoint, every POST with an Idempotency-Key retried with the same key
 * until answered, every saga polled to its end. It records each accepted request and each
 * error by kind, and at the end compares every account's balance with what its successful
 * sagas imply. At most 3 withdrawals per account, so the fee (from the 4th of the month)
 * never applies and the expectation is deposits − withdrawals.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCanaryAccount } from '@corebank/kit';

export type ErrorKind = 'http 503' | 'http 429' | 'refused' | 'timeout' | `http ${number}` | 'other';
/** What clients may see while the system switches regions. */
export const EXPECTED_ERROR_KINDS: readonly ErrorKind[] = ['http 503', 'http 429', 'refused'];
/**
 * A power cut adds the edge's 502: a target SIGKILLed while still in its endpoint's rotation
 * refuses the edge's connection until two health checks have taken it out (about 2 s).
 */
export const REGION_LOSS_ERROR_KINDS: readonly ErrorKind[] = [...EXPECTED_ERROR_KINDS, 'http 502'];

export interface SagaRecordOfLoad {
  account: string;
  kind: 'deposit' | 'withdraw';
  quantity: number;
  transactionId?: string;
  status?: string;
  /** When the POST was accepted and when the end was seen. */
  acceptedAt?: number;
  /** The region whose services accepted the POST (the endpoint's x-corebank-region). */
  acceptedIn?: string;
  endedAt?: number;
}

export interface LoadReport {
  sagas: SagaRecordOfLoad[];
  accepted: number[];
  errors: Record<string, number>;
}

const MAX_WITHDRAWALS = 3;
const REQUEST_TIMEOUT_MS = 5000;
/** How long one request is retried with its key before the user gives up on it (recorded as unanswered). */
const RETRY_BUDGET_MS = 90_000;

export interface Load {
  /** Stops the users after their current saga ends (each saga still reaches its end). */
  stop(): Promise<LoadReport>;
  report(): LoadReport;
  accounts: string[];
}

export function startLoad(options: { baseUrl: string; users: number; thinkMs?: number; prefix?: string }): Load {
  const prefix = options.prefix ?? `drill${randomUUID().slice(0, 8)}`;
  const accounts = Array.from({ length: options.users }, (_, i) => `${prefix}u${i}`);
  const sagas: SagaRecordOfLoad[] = [];
  const accepted: number[] = [];
  const errors: Record<string, number> = {};
  let stopping = false;

  const countError = (kind: string) => {
    errors[kind] = (errors[kind] ?? 0) + 1;
  };
  const kindOf = (error: unknown): ErrorKind => {
    const cause = (error as { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET') return 'refused';
    if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') return 'timeout';
    return 'other';
  };

  async function request(method: string, path: string, account: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; region?: string } | undefined> {
    try {
      const response = await fetch(`${options.baseUrl}${path}`, {
        method,
        headers: { X_ACCOUNT_ID: account, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status !== 200) countError(`http ${response.status}`);
      const region = response.headers.get('x-corebank-region');
      return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ...(region ? { region } : {}) };
    } catch (error) {
      countError(kindOf(error));
      return undefined;
    }
  }

  async function runSaga(saga: SagaRecordOfLoad): Promise<void> {
    const key = randomUUID();
    const giveUpAt = Date.now() + RETRY_BUDGET_MS;
    while (Date.now() < giveUpAt) {
      const reply = await request('POST', `/transaction/${saga.kind}`, saga.account, { quantity: saga.quantity }, { 'Idempotency-Key': key });
      if (reply?.status === 200) {
        saga.transactionId = reply.body.transactionId as string;
        saga.acceptedAt = Date.now();
        if (reply.region) saga.acceptedIn = reply.region;
        accepted.push(saga.acceptedAt);
        break;
      }
      if (reply && reply.status >= 400 && reply.status < 500 && reply.status !== 429) return; // a client error: never retried
      await sleep(200);
    }
    if (!saga.transactionId) return;
    while (Date.now() < giveUpAt + RETRY_BUDGET_MS) {
      const reply = await request('GET', `/transaction/${saga.transactionId}`, saga.account);
      const status = reply?.status === 200 ? (reply.body.status as string) : undefined;
      if (status && status !== 'status#pending') {
        saga.status = status;
        saga.endedAt = Date.now();
        return;
      }
      await sleep(reply?.status === 200 ? 50 : 200);
    }
  }

  const users = accounts.map(async (account, i) => {
    let balance = 0;
    let withdrawals = 0;
    let n = 0;
    while (!stopping) {
      const withdraw = withdrawals < MAX_WITHDRAWALS && balance >= 500 && n % 3 === 2;
      const saga: SagaRecordOfLoad = { account, kind: withdraw ? 'withdraw' : 'deposit', quantity: withdraw ? 100 + ((i + n) % 4) * 50 : 200 + ((i * 7 + n) % 5) * 100 };
      sagas.push(saga);
      await runSaga(saga);
      if (saga.status === 'status#success') balance += saga.kind === 'deposit' ? saga.quantity : -saga.quantity;
      if (saga.kind === 'withdraw') withdrawals++;
      n++;
      if (options.thinkMs) await sleep(options.thinkMs);
    }
  });

  const report = (): LoadReport => ({ sagas: [...sagas], accepted: [...accepted].sort((a, b) => a - b), errors: { ...errors } });
  return {
    accounts,
    report,
    async stop() {
      stopping = true;
      await Promise.all(users);
      return report();
    },
  };
}

/** The longest gap between two accepted requests that overlaps [from, to] (the switch): the outage a client felt. */
export function longestGap(accepted: readonly number[], from: number, to: number): number {
  const sorted = [...accepted].sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b >= from && a <= to) longest = Math.max(longest, b - a);
  }
  return longest;
}

/** Each account's expected balance: deposits − withdrawals of its successful sagas (no fee below the 4th withdrawal). */
export function expectedBalances(sagas: readonly SagaRecordOfLoad[]): Map<string, number> {
  const expected = new Map<string, number>();
  for (const saga of sagas) {
    expected.set(saga.account, (expected.get(saga.account) ?? 0) + (saga.status === 'status#success' ? (saga.kind === 'deposit' ? saga.quantity : -saga.quantity) : 0));
  }
  return expected;
}

export interface MoneyCheck {
  sagas: number;
  terminal: number;
  /** Sagas started but not seen to end (or never answered): must be 0. */
  notTerminal: SagaRecordOfLoad[];
  accountsChecked: number;
  mismatches: Array<{ account: string; expected: number; actual: number | null }>;
  unexpectedErrors: Record<string, number>;
}

/** Reads each account's balance through `baseUrl` and compares it with its successful sagas. */
export async function checkMoney(baseUrl: string, report: LoadReport, allowedErrors: readonly ErrorKind[] = EXPECTED_ERROR_KINDS): Promise<MoneyCheck> {
  // The canaries deposit to their own accounts in the same regions: never the load's money.
  const expected = new Map([...expectedBalances(report.sagas)].filter(([account]) => !isCanaryAccount(account)));
  const mismatches: MoneyCheck['mismatches'] = [];
  for (const [account, value] of expected) {
    const response = await fetch(`${baseUrl}/balance`, { headers: { X_ACCOUNT_ID: account }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const body = (await response.json()) as { balance?: number };
    const actual = response.status === 200 ? (body.balance ?? null) : response.status === 404 ? 0 : null;
    if (actual !== value) mismatches.push({ account, expected: value, actual });
  }
  const started = report.sagas.filter((saga) => saga.transactionId !== undefined || saga.status !== undefined);
  const notTerminal = report.sagas.filter((saga) => !saga.status || saga.status === 'status#pending');
  return {
    sagas: started.length,
    terminal: started.filter((saga) => saga.status && saga.status !== 'status#pending').length,
    notTerminal,
    accountsChecked: expected.size,
    mismatches,
    unexpectedErrors: Object.fromEntries(Object.entries(report.errors).filter(([kind]) => !allowedErrors.includes(kind as ErrorKind))),
  };
}

/** What makes a money check fail, one line each, prefixed with `label` when given. */
export function moneyProblems(money: MoneyCheck, label?: string): string[] {
  const prefix = label ? `${label}: ` : '';
  return [
    ...(money.mismatches.length ? [`${prefix}mismatches ${JSON.stringify(money.mismatches)}`] : []),
    ...(money.notTerminal.length ? [`${prefix}${money.notTerminal.length} sagas not terminal`] : []),
    ...(Object.keys(money.unexpectedErrors).length ? [`${prefix}unexpected errors ${JSON.stringify(money.unexpectedErrors)}`] : []),
  ];
}
