import { hostname } from 'node:os';
import { ConfigError, envInt, envOptional, envString, listenSettings, type ListenSettings } from '@corebank/kit';
import { DEFAULT_MAIN_TABLE, DEFAULT_REGION, defaultParamTable } from './store/tables.ts';

type Env = Record<string, string | undefined>;

/** Where the tables are: shared by the API and the worker. */
export interface DynamoSettings {
  region: string;
  /** DynamoDB Local; unset on AWS. */
  endpoint?: string;
  mainTable: string;
  paramTable: string;
}

export function loadDynamoSettings(env: Env = process.env): DynamoSettings {
  const region = envString('AWS_REGION', DEFAULT_REGION, env);
  const endpoint = envOptional('DYNAMODB_ENDPOINT', env);
  return {
    region,
    ...(endpoint ? { endpoint } : {}),
    mainTable: envString('MAIN_TABLE', DEFAULT_MAIN_TABLE, env),
    paramTable: envString('PARAM_TABLE', defaultParamTable(region), env),
  };
}

/** Services may act on a stopFlag at most this old (SPEC: cached at most 10 s). */
export const DEFAULT_STOP_FLAG_TTL_MS = 10_000;
/** How long a "pending" read from the table may be answered again without reading it anew. */
export const DEFAULT_PENDING_FRESH_MS = 200;
/**
 * How long a poll of a pending saga is held open, waiting for its end (GET /transaction/{id}).
 * Long enough that a client polling in a loop usually needs one poll per saga; short enough
 * that a client with a one-second timeout still gets its "pending".
 */
export const DEFAULT_STATUS_HOLD_MS = 500;

/** The API's tunables, each with its default. */
export interface ApiSettings {
  stopFlagTtlMs: number;
  /** How long a pending status read from the table is answered again from memory (see status-board.ts). */
  statusFreshMs: number;
  /** How long GET holds a poll of a pending saga open, answering at once if it ends meanwhile. */
  statusHoldMs: number;
}

export const API_DEFAULTS: ApiSettings = {
  stopFlagTtlMs: DEFAULT_STOP_FLAG_TTL_MS,
  statusFreshMs: DEFAULT_PENDING_FRESH_MS,
  statusHoldMs: DEFAULT_STATUS_HOLD_MS,
};

export interface ApiConfig extends DynamoSettings, ApiSettings {
  /** The worker's base URL, nudged right after a saga is created; optional. */
  workerUrl?: string;
  /** Sent with nudges; required when WORKER_URL is set. */
  serviceToken?: string;
}

export interface ApiEnvConfig extends ApiConfig, ListenSettings {}

export const DEFAULT_API_PORT = 3000;
export const DEFAULT_WORKER_PORT = 3001;

export function loadApiConfig(env: Env = process.env): ApiEnvConfig {
  const workerUrl = envOptional('WORKER_URL', env);
  const serviceToken = envOptional('SERVICE_TOKEN', env);
  if (workerUrl && !serviceToken) throw new ConfigError('missing required environment variable SERVICE_TOKEN (needed with WORKER_URL)');
  return {
    ...loadDynamoSettings(env),
    ...listenSettings(DEFAULT_API_PORT, env),
    stopFlagTtlMs: positive('STOP_FLAG_TTL_MS', envInt('STOP_FLAG_TTL_MS', API_DEFAULTS.stopFlagTtlMs, env), DEFAULT_STOP_FLAG_TTL_MS),
    statusFreshMs: nonNegative('STATUS_FRESH_MS', envInt('STATUS_FRESH_MS', API_DEFAULTS.statusFreshMs, env)),
    statusHoldMs: nonNegative('STATUS_HOLD_MS', envInt('STATUS_HOLD_MS', API_DEFAULTS.statusHoldMs, env)),
    ...(workerUrl ? { workerUrl } : {}),
    ...(serviceToken ? { serviceToken } : {}),
  };
}

/** The worker's tunables, each with its default. */
export interface WorkerSettings {
  /**
   * Prefix of the worker's id; a random part is always appended, so that a prefix given
   * twice (WORKER_ID) still makes two owners: a worker may resume sagas leased under its own id.
   */
  workerId: string;
  pollMs: number;
  concurrency: number;
  leaseMs: number;
  stepTimeoutMs: number;
  /** Test-only: sleep after each step's call, before recording its outcome. */
  stepDelayMs: number;
  /** How long a forward step is retried (5xx, no answer) before it fails and is compensated. */
  stepRetryBudgetMs: number;
  /** How long a compensation is retried (any failure) before its saga is marked stuck. */
  compensationRetryBudgetMs: number;
  /** First backoff between attempts; it doubles (with jitter) up to the caps below. */
  retryBaseDelayMs: number;
  stepRetryMaxDelayMs: number;
  compensationRetryMaxDelayMs: number;
  stopFlagTtlMs: number;
  /** How long a graceful stop waits for in-flight steps. */
  shutdownGraceMs: number;
}

export interface WorkerConfig extends DynamoSettings, WorkerSettings {
  balanceUrl: string;
  countUrl: string;
  serviceToken: string;
}

export interface WorkerEnvConfig extends WorkerConfig, ListenSettings {}

export const DEFAULT_WORKER_POLL_MS = 1000;
export const DEFAULT_WORKER_CONCURRENCY = 64;
/** Much longer than a step's HTTP timeout, so a live worker never loses a saga mid-call. */
export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_STEP_TIMEOUT_MS = 3000;
/** Longer than a database switchover (Aurora's is typically under a minute), so a failover rolls nothing back. */
export const DEFAULT_STEP_RETRY_BUDGET_MS = 120_000;
/** After this a compensation that keeps failing (a 403 after a token change, say) leaves its saga stuck. */
export const DEFAULT_COMPENSATION_RETRY_BUDGET_MS = 300_000;
export const DEFAULT_RETRY_BASE_DELAY_MS = 100;
export const DEFAULT_STEP_RETRY_MAX_DELAY_MS = 2000;
export const DEFAULT_COMPENSATION_RETRY_MAX_DELAY_MS = 10_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/** The worker id's prefix when WORKER_ID is unset; the worker always appends a random part. */
export const defaultWorkerId = () => `${hostname()}-${process.pid}`;

export const WORKER_DEFAULTS: WorkerSettings = {
  workerId: defaultWorkerId(),
  pollMs: DEFAULT_WORKER_POLL_MS,
  concurrency: DEFAULT_WORKER_CONCURRENCY,
  leaseMs: DEFAULT_LEASE_MS,
  stepTimeoutMs: DEFAULT_STEP_TIMEOUT_MS,
  stepDelayMs: 0,
  stepRetryBudgetMs: DEFAULT_STEP_RETRY_BUDGET_MS,
  compensationRetryBudgetMs: DEFAULT_COMPENSATION_RETRY_BUDGET_MS,
  retryBaseDelayMs: DEFAULT_RETRY_BASE_DELAY_MS,
  stepRetryMaxDelayMs: DEFAULT_STEP_RETRY_MAX_DELAY_MS,
  compensationRetryMaxDelayMs: DEFAULT_COMPENSATION_RETRY_MAX_DELAY_MS,
  stopFlagTtlMs: DEFAULT_STOP_FLAG_TTL_MS,
  shutdownGraceMs: DEFAULT_SHUTDOWN_GRACE_MS,
};

/** `settings` with every API tunable it leaves out at its default (for code that builds the API in-process). */
export function withApiDefaults<T extends object>(settings: T & Partial<ApiSettings>): Omit<T, keyof ApiSettings> & ApiSettings {
  return { ...API_DEFAULTS, ...settings };
}

/** `settings` with every worker tunable it leaves out at its default (for code that builds a worker in-process). */
export function withWorkerDefaults<T extends object>(settings: T & Partial<WorkerSettings>): Omit<T, keyof WorkerSettings> & WorkerSettings {
  return { ...WORKER_DEFAULTS, ...settings };
}

export function loadWorkerConfig(env: Env = process.env): WorkerEnvConfig {
  const defaults = WORKER_DEFAULTS;
  const stepTimeoutMs = envInt('STEP_TIMEOUT_MS', defaults.stepTimeoutMs, env);
  const leaseMs = envInt('WORKER_LEASE_MS', defaults.leaseMs, env);
  if (leaseMs < 3 * stepTimeoutMs) {
    throw new ConfigError(`WORKER_LEASE_MS (${leaseMs}) must be at least 3 x STEP_TIMEOUT_MS (${stepTimeoutMs})`);
  }
  return {
    ...loadDynamoSettings(env),
    ...listenSettings(DEFAULT_WORKER_PORT, env),
    balanceUrl: envString('BALANCE_URL', undefined, env),
    countUrl: envString('COUNT_URL', undefined, env),
    serviceToken: envString('SERVICE_TOKEN', undefined, env),
    workerId: envString('WORKER_ID', defaults.workerId, env),
    pollMs: positive('WORKER_POLL_MS', envInt('WORKER_POLL_MS', defaults.pollMs, env)),
    concurrency: positive('WORKER_CONCURRENCY', envInt('WORKER_CONCURRENCY', defaults.concurrency, env)),
    leaseMs: positive('WORKER_LEASE_MS', leaseMs),
    stepTimeoutMs: positive('STEP_TIMEOUT_MS', stepTimeoutMs),
    stepDelayMs: nonNegative('SAGA_STEP_DELAY_MS', envInt('SAGA_STEP_DELAY_MS', defaults.stepDelayMs, env)),
    stepRetryBudgetMs: nonNegative('STEP_RETRY_BUDGET_MS', envInt('STEP_RETRY_BUDGET_MS', defaults.stepRetryBudgetMs, env)),
    compensationRetryBudgetMs: nonNegative('COMPENSATION_RETRY_BUDGET_MS', envInt('COMPENSATION_RETRY_BUDGET_MS', defaults.compensationRetryBudgetMs, env)),
    retryBaseDelayMs: positive('RETRY_BASE_DELAY_MS', envInt('RETRY_BASE_DELAY_MS', defaults.retryBaseDelayMs, env)),
    stepRetryMaxDelayMs: positive('STEP_RETRY_MAX_DELAY_MS', envInt('STEP_RETRY_MAX_DELAY_MS', defaults.stepRetryMaxDelayMs, env)),
    compensationRetryMaxDelayMs: positive('COMPENSATION_RETRY_MAX_DELAY_MS', envInt('COMPENSATION_RETRY_MAX_DELAY_MS', defaults.compensationRetryMaxDelayMs, env)),
    stopFlagTtlMs: positive('STOP_FLAG_TTL_MS', envInt('STOP_FLAG_TTL_MS', defaults.stopFlagTtlMs, env), DEFAULT_STOP_FLAG_TTL_MS),
    shutdownGraceMs: defaults.shutdownGraceMs,
  };
}

function positive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value <= 0 || value > max) throw new ConfigError(`environment variable ${name} must be between 1 and ${max}, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (value < 0) throw new ConfigError(`environment variable ${name} must not be negative, got ${value}`);
  return value;
}
