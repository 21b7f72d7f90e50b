import { hostname } from 'node:os';
import { ConfigError, envInt, envOptional, envString, listenSettings, type ListenSettings } from '@corebank/kit';
import { DEFAULT_MAIN_TABLE, DEFAULT_REGION, defaultParamTable } from './store/tables.ts';
import { DEFAULT_STOP_FLAG_TTL_MS } from './stop-flag.ts';
import { DEFAULT_PENDING_FRESH_MS, DEFAULT_STATUS_HOLD_MS } from './status-board.ts';

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

export interface ApiEnvConfig extends DynamoSettings, ListenSettings {
  stopFlagTtlMs: number;
  statusFreshMs: number;
  statusHoldMs: number;
  /** The worker's base URL, nudged right after a saga is created; optional. */
  workerUrl?: string;
  /** Sent with nudges; required when WORKER_URL is set. */
  serviceToken?: string;
}

export const DEFAULT_API_PORT = 3000;
export const DEFAULT_WORKER_PORT = 3001;

export function loadApiConfig(env: Env = process.env): ApiEnvConfig {
  const workerUrl = envOptional('WORKER_URL', env);
  const serviceToken = envOptional('SERVICE_TOKEN', env);
  if (workerUrl && !serviceToken) throw new ConfigError('missing required environment variable SERVICE_TOKEN (needed with WORKER_URL)');
  return {
    ...loadDynamoSettings(env),
    ...listenSettings(DEFAULT_API_PORT, env),
    stopFlagTtlMs: positive('STOP_FLAG_TTL_MS', envInt('STOP_FLAG_TTL_MS', DEFAULT_STOP_FLAG_TTL_MS, env), DEFAULT_STOP_FLAG_TTL_MS),
    statusFreshMs: nonNegative('STATUS_FRESH_MS', envInt('STATUS_FRESH_MS', DEFAULT_PENDING_FRESH_MS, env)),
    statusHoldMs: nonNegative('STATUS_HOLD_MS', envInt('STATUS_HOLD_MS', DEFAULT_STATUS_HOLD_MS, env)),
    ...(workerUrl ? { workerUrl } : {}),
    ...(serviceToken ? { serviceToken } : {}),
  };
}

export interface WorkerEnvConfig extends DynamoSettings, ListenSettings {
  balanceUrl: string;
  countUrl: string;
  serviceToken: string;
  workerId: string;
  pollMs: number;
  concurrency: number;
  leaseMs: number;
  stepTimeoutMs: number;
  stepDelayMs: number;
  stepRetryBudgetMs: number;
  compensationRetryBudgetMs: number;
  retryBaseDelayMs: number;
  stepRetryMaxDelayMs: number;
  compensationRetryMaxDelayMs: number;
  stopFlagTtlMs: number;
}

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

/** The worker id's prefix when WORKER_ID is unset; the worker always appends a random part. */
export const defaultWorkerId = () => `${hostname()}-${process.pid}`;

export function loadWorkerConfig(env: Env = process.env): WorkerEnvConfig {
  const stepTimeoutMs = envInt('STEP_TIMEOUT_MS', DEFAULT_STEP_TIMEOUT_MS, env);
  const leaseMs = envInt('WORKER_LEASE_MS', DEFAULT_LEASE_MS, env);
  if (leaseMs < 3 * stepTimeoutMs) {
    throw new ConfigError(`WORKER_LEASE_MS (${leaseMs}) must be at least 3 x STEP_TIMEOUT_MS (${stepTimeoutMs})`);
  }
  return {
    ...loadDynamoSettings(env),
    ...listenSettings(DEFAULT_WORKER_PORT, env),
    balanceUrl: envString('BALANCE_URL', undefined, env),
    countUrl: envString('COUNT_URL', undefined, env),
    serviceToken: envString('SERVICE_TOKEN', undefined, env),
    workerId: envString('WORKER_ID', defaultWorkerId(), env),
    pollMs: positive('WORKER_POLL_MS', envInt('WORKER_POLL_MS', DEFAULT_WORKER_POLL_MS, env)),
    concurrency: positive('WORKER_CONCURRENCY', envInt('WORKER_CONCURRENCY', DEFAULT_WORKER_CONCURRENCY, env)),
    leaseMs: positive('WORKER_LEASE_MS', leaseMs),
    stepTimeoutMs: positive('STEP_TIMEOUT_MS', stepTimeoutMs),
    stepDelayMs: nonNegative('SAGA_STEP_DELAY_MS', envInt('SAGA_STEP_DELAY_MS', 0, env)),
    stepRetryBudgetMs: nonNegative('STEP_RETRY_BUDGET_MS', envInt('STEP_RETRY_BUDGET_MS', DEFAULT_STEP_RETRY_BUDGET_MS, env)),
    compensationRetryBudgetMs: nonNegative('COMPENSATION_RETRY_BUDGET_MS', envInt('COMPENSATION_RETRY_BUDGET_MS', DEFAULT_COMPENSATION_RETRY_BUDGET_MS, env)),
    retryBaseDelayMs: positive('RETRY_BASE_DELAY_MS', envInt('RETRY_BASE_DELAY_MS', DEFAULT_RETRY_BASE_DELAY_MS, env)),
    stepRetryMaxDelayMs: positive('STEP_RETRY_MAX_DELAY_MS', envInt('STEP_RETRY_MAX_DELAY_MS', DEFAULT_STEP_RETRY_MAX_DELAY_MS, env)),
    compensationRetryMaxDelayMs: positive('COMPENSATION_RETRY_MAX_DELAY_MS', envInt('COMPENSATION_RETRY_MAX_DELAY_MS', DEFAULT_COMPENSATION_RETRY_MAX_DELAY_MS, env)),
    stopFlagTtlMs: positive('STOP_FLAG_TTL_MS', envInt('STOP_FLAG_TTL_MS', DEFAULT_STOP_FLAG_TTL_MS, env), DEFAULT_STOP_FLAG_TTL_MS),
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
