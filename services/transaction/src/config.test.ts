import { describe, expect, it } from 'vitest';
import { ConfigError } from '@corebank/kit';
import { loadApiConfig, loadWorkerConfig } from './config.ts';

const workerEnv = { BALANCE_URL: 'http://b', COUNT_URL: 'http://c', SERVICE_TOKEN: 's' };

describe('config', () => {
  it('gives the API its defaults: Tokyo, corebank-main, the region-named param table, 10 s flag cache', () => {
    expect(loadApiConfig({})).toEqual({
      region: 'ap-northeast-1',
      mainTable: 'corebank-main',
      paramTable: 'corebank-param-ap-northeast-1',
      port: 3000,
      host: '127.0.0.1',
      stopFlagTtlMs: 10_000,
      statusFreshMs: 200,
      statusHoldMs: 500,
    });
    expect(loadApiConfig({ AWS_REGION: 'ap-northeast-3' }).paramTable).toBe('corebank-param-ap-northeast-3');
    expect(loadApiConfig({ PARAM_TABLE: 'p', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' })).toMatchObject({ paramTable: 'p', endpoint: 'http://127.0.0.1:8000' });
  });

  it('refuses a stopFlag cache longer than 10 s and WORKER_URL without SERVICE_TOKEN, by name', () => {
    expect(() => loadApiConfig({ STOP_FLAG_TTL_MS: '10001' })).toThrow(/STOP_FLAG_TTL_MS/);
    expect(() => loadApiConfig({ WORKER_URL: 'http://w' })).toThrow(/SERVICE_TOKEN/);
  });

  it('requires the worker URLs and token, by name', () => {
    for (const name of Object.keys(workerEnv)) {
      const env: Record<string, string> = { ...workerEnv };
      delete env[name];
      expect(() => loadWorkerConfig(env)).toThrow(ConfigError);
      expect(() => loadWorkerConfig(env)).toThrow(name);
    }
  });

  it('gives the worker its defaults and reads its tuning variables', () => {
    const defaults = loadWorkerConfig(workerEnv);
    expect(defaults).toMatchObject({
      pollMs: 1000,
      concurrency: 64,
      leaseMs: 30_000,
      stepTimeoutMs: 3000,
      stepDelayMs: 0,
      port: 3001,
      stepRetryBudgetMs: 120_000,
      compensationRetryBudgetMs: 300_000,
      retryBaseDelayMs: 100,
      stepRetryMaxDelayMs: 2000,
      compensationRetryMaxDelayMs: 10_000,
    });
    expect(defaults.workerId).toMatch(/-\d+$/); // the worker appends its random part
    expect(
      loadWorkerConfig({
        ...workerEnv,
        WORKER_ID: 'w1',
        WORKER_POLL_MS: '50',
        WORKER_CONCURRENCY: '8',
        SAGA_STEP_DELAY_MS: '250',
        STEP_RETRY_BUDGET_MS: '5000',
        COMPENSATION_RETRY_BUDGET_MS: '7000',
        RETRY_BASE_DELAY_MS: '20',
        STEP_RETRY_MAX_DELAY_MS: '300',
        COMPENSATION_RETRY_MAX_DELAY_MS: '400',
      }),
    ).toMatchObject({
      workerId: 'w1',
      pollMs: 50,
      concurrency: 8,
      stepDelayMs: 250,
      stepRetryBudgetMs: 5000,
      compensationRetryBudgetMs: 7000,
      retryBaseDelayMs: 20,
      stepRetryMaxDelayMs: 300,
      compensationRetryMaxDelayMs: 400,
    });
  });

  it('refuses a lease that is not much longer than a step, and nonsense numbers', () => {
    expect(() => loadWorkerConfig({ ...workerEnv, WORKER_LEASE_MS: '5000', STEP_TIMEOUT_MS: '3000' })).toThrow(/WORKER_LEASE_MS/);
    expect(() => loadWorkerConfig({ ...workerEnv, WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => loadWorkerConfig({ ...workerEnv, WORKER_POLL_MS: 'soon' })).toThrow(/WORKER_POLL_MS/);
    expect(() => loadWorkerConfig({ ...workerEnv, SAGA_STEP_DELAY_MS: '-1' })).toThrow(/SAGA_STEP_DELAY_MS/);
    expect(() => loadWorkerConfig({ ...workerEnv, STEP_RETRY_BUDGET_MS: '-1' })).toThrow(/STEP_RETRY_BUDGET_MS/);
    expect(() => loadWorkerConfig({ ...workerEnv, RETRY_BASE_DELAY_MS: '0' })).toThrow(/RETRY_BASE_DELAY_MS/);
  });
});
