import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '@corebank/kit';
import { freePort, waitFor } from '@corebank/kit';
import { buildTransactionApi } from './api.ts';
import { createSagaStore, type SagaStore } from './store/saga-store.ts';
import { startBackends, TEST_SERVICE_TOKEN, type Backends } from '@corebank/testing';
import { withApiDefaults } from './config.ts';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
const children = new Set<ChildProcess>();

/** Runs worker-main.ts as its own process, as in production, and waits for its /health. */
async function spawnWorker(backends: Backends, extraEnv: Record<string, string>): Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      DYNAMODB_ENDPOINT: backends.dynamodbEndpoint,
      AWS_REGION: backends.tables.region,
      MAIN_TABLE: backends.tables.mainTable,
      PARAM_TABLE: backends.tables.paramTable,
      BALANCE_URL: backends.balanceUrl,
      COUNT_URL: backends.countUrl,
      SERVICE_TOKEN: TEST_SERVICE_TOKEN,
      PORT: String(port),
      WORKER_POLL_MS: '50',
      STEP_TIMEOUT_MS: '500',
      WORKER_LEASE_MS: '1500',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`worker process on ${url}`, async () => {
    if (child.exitCode !== null) throw new Error(`worker exited: ${stderr}`);
    const reply = await fetch(`${url}/health`);
    if (!reply.ok) throw new Error(String(reply.status));
  }, 30_000);
  return { child, url, exited };
}

describe('worker-main as a process, stopped mid-saga', () => {
  let backends: Backends;
  let store: SagaStore;
  let api: App;

  beforeAll(async () => {
    backends = await startBackends('tx-crash');
    store = createSagaStore({ doc: backends.dynamo.doc, mainTable: backends.tables.mainTable });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await api?.close();
    await backends?.close();
  });

  it('leaves every saga to finish exactly once after a restart', async () => {
    // The first worker sleeps 1 s after each step's call, before recording it.
    const first = await spawnWorker(backends, { SAGA_STEP_DELAY_MS: '1000' });
    api = buildTransactionApi(withApiDefaults(backends.apiSettings(first.url)));

    const depositAccounts = Array.from({ length: 8 }, (_, i) => `crash-d${i}`);
    const withdrawAccounts = Array.from({ length: 8 }, (_, i) => `crash-w${i}`);
    for (const account of withdrawAccounts) {
      expect(await backends.internalPut('balance', '/balance/deposit', account, { quantity: 5000, transactionId: crypto.randomUUID() })).toBe(200);
    }
    const post = async (kind: string, account: string, quantity: number) => {
      const reply = await api.inject({ method: 'POST', url: `/transaction/${kind}`, payload: { quantity }, headers: { x_account_id: account } });
      expect(reply.statusCode).toBe(200);
      return reply.json().transactionId as string;
    };
    const ids = await Promise.all([
      ...depositAccounts.map((account) => post('deposit', account, 1000)),
      ...withdrawAccounts.map((account) => post('withdraw', account, 300)),
    ]);

    // Kill once some first step has landed at balance/count while its saga is still pending.
    await waitFor('a first step applied but not yet recorded', async () => {
      const applied = (await Promise.all(depositAccounts.map((account) => backends.balanceOf(account)))).filter((b) => b === 1000).length +
        (await Promise.all(withdrawAccounts.map((account) => backends.countOf(account)))).filter((c) => c === 1).length;
      if (applied === 0) throw new Error('no step applied yet');
    }, 20_000, 20);
    first.child.kill('SIGKILL');
    await first.exited;
    const afterKill = await Promise.all(ids.map((id) => store.getSaga(id)));
    expect(afterKill.some((saga) => saga?.status === 'status#pending' && saga.leaseOwner !== undefined)).toBe(true);

    // A fresh worker (new id) resumes them once the dead worker's leases expire.
    const second = await spawnWorker(backends, { SAGA_STEP_DELAY_MS: '0' });
    await waitFor('every saga to end', async () => {
      const sagas = await Promise.all(ids.map((id) => store.getSaga(id)));
      const pending = sagas.filter((saga) => saga?.status !== 'status#success').length;
      if (pending > 0) throw new Error(`${pending} not yet successful`);
    }, 30_000, 100);

    for (const account of depositAccounts) expect(await backends.balanceOf(account)).toBe(1000);
    for (const account of withdrawAccounts) {
      expect(await backends.balanceOf(account)).toBe(4700);
      expect(await backends.countOf(account)).toBe(1);
    }
    const resumed = (await Promise.all(ids.map((id) => store.getSaga(id)))).filter((saga) => (saga?.attempts ?? 0) >= 2);
    expect(resumed.length).toBeGreaterThan(0);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('on SIGTERM finishes the step in flight, records it, hands the lease back and exits 0', async () => {
    // A lease far longer than the test: only a released lease lets the next worker resume in time.
    const first = await spawnWorker(backends, { SAGA_STEP_DELAY_MS: '1500', WORKER_LEASE_MS: '120000' });
    await api?.close();
    api = buildTransactionApi(withApiDefaults(backends.apiSettings(first.url)));
    const accounts = Array.from({ length: 6 }, (_, i) => `term-w${i}`);
    for (const account of accounts) {
      expect(await backends.internalPut('balance', '/balance/deposit', account, { quantity: 1000, transactionId: crypto.randomUUID() })).toBe(200);
    }
    const ids = await Promise.all(
      accounts.map(async (account) => {
        const reply = await api.inject({ method: 'POST', url: '/transaction/withdraw', payload: { quantity: 100 }, headers: { x_account_id: account } });
        return reply.json().transactionId as string;
      }),
    );
    await waitFor('the first steps to be applied', async () => {
      const counted = (await Promise.all(accounts.map((account) => backends.countOf(account)))).filter((c) => c === 1).length;
      if (counted < accounts.length) throw new Error(`${counted} counted`);
    }, 20_000, 20);

    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    const code = await first.exited;
    expect(code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    // Each saga recorded the step whose call had completed, and nobody holds it.
    for (const saga of await Promise.all(ids.map((id) => store.getSaga(id)))) {
      expect(saga?.status).toBe('status#pending');
      expect(saga?.step).toBe('withdraw_balance');
      expect(saga?.withdrawalCount).toBe(1);
      expect(saga?.leaseOwner).toBeUndefined();
    }

    await spawnWorker(backends, { SAGA_STEP_DELAY_MS: '0', WORKER_LEASE_MS: '120000' });
    await waitFor('every saga to end', async () => {
      const sagas = await Promise.all(ids.map((id) => store.getSaga(id)));
      if (sagas.some((saga) => saga?.status !== 'status#success')) throw new Error('not all successful');
    }, 20_000, 50);
    for (const account of accounts) {
      expect(await backends.balanceOf(account)).toBe(900);
      expect(await backends.countOf(account)).toBe(1);
    }
  });
});
