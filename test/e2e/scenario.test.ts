import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOf } from '@corebank/transaction';
import { REPO_ROOT } from '../../local/src/environment/processes.ts';
import { waitFor } from '@corebank/kit';
import { startScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { apiClient } from './api-client.ts';

const run = promisify(execFile);
// Short enough to keep the test quick; the 15 s bound below still holds at the default 10 s.
const STOP_FLAG_TTL_MS = 2000;

let system: Awaited<ReturnType<typeof startScratchSystem>>;
let api: ReturnType<typeof apiClient>;
const newAccount = () => `e2e${randomUUID().replaceAll('-', '').slice(0, 16)}`;

beforeAll(async () => {
  system = await startScratchSystem({ serviceEnv: { STOP_FLAG_TTL_MS: String(STOP_FLAG_TTL_MS) }, tmpPrefix: 'corebank-e2e-' });
  api = apiClient(system.globalEndpoint);
}, 180_000);
afterAll(() => system?.stop(), 60_000);

describe('the seed scenario through the global endpoint', () => {
  const account = newAccount();
  const period = periodOf(new Date());

  it('deposits 1000', async () => {
    const reply = await api.deposit(account, 1000);
    expect(reply.status).toBe(200);
    expect(reply.body.transactionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await api.finished(account, reply.body.transactionId)).toBe('status#success');
    const status = await api.call('GET', `/transaction/${reply.body.transactionId}`, account);
    expect(new Date(status.body.updatedAt).toISOString()).toBe(status.body.updatedAt);
    expect(await api.balance(account)).toBe(1000);
  });

  it('withdraws 50 four times, charging the fee on the 4th: balance 700, count 4', async () => {
    for (let i = 0; i < 4; i += 1) {
      const reply = await api.withdraw(account, 50);
      expect(reply.status).toBe(200);
      expect(await api.finished(account, reply.body.transactionId)).toBe('status#success');
    }
    expect(await api.balance(account)).toBe(700);
    expect(await api.count(account, period)).toBe(4);
  });

  it('rolls an overdraft back, leaving balance and count unchanged', async () => {
    const reply = await api.withdraw(account, 100_000);
    expect(reply.status).toBe(200);
    expect(await api.finished(account, reply.body.transactionId)).toBe('status#success_rollback');
    expect(await api.balance(account)).toBe(700);
    expect(await api.count(account, period)).toBe(4);
  });

  it('answers 404 to another account reading the transaction', async () => {
    const reply = await api.deposit(account, 1);
    await api.finished(account, reply.body.transactionId);
    const stranger = await api.call('GET', `/transaction/${reply.body.transactionId}`, newAccount());
    expect(stranger.status).toBe(404);
    expect(Object.keys(stranger.body).sort()).toEqual(['error', 'message']);
    expect((await api.call('GET', `/transaction/${randomUUID()}`, account)).status).toBe(404);
    expect(await api.balance(account)).toBe(701);
  });

  it.each([
    ['no X_ACCOUNT_ID', undefined, '{"quantity": 100}'],
    ['an empty X_ACCOUNT_ID', '', '{"quantity": 100}'],
    ['malformed JSON', 'ACCOUNT', '{"quantity": '],
    ['NaN', 'ACCOUNT', '{"quantity": NaN}'],
    ['a string', 'ACCOUNT', '{"quantity": "100"}'],
    ['a float', 'ACCOUNT', '{"quantity": 10.5}'],
    ['a negative', 'ACCOUNT', '{"quantity": -100}'],
    ['zero', 'ACCOUNT', '{"quantity": 0}'],
    ['a huge number', 'ACCOUNT', '{"quantity": 1000000000001}'],
    ['no quantity', 'ACCOUNT', '{}'],
    ['an unknown field of the wrong type', 'ACCOUNT', '{"quantity": 100, "memo": {"a": 1}}'],
  ])('answers 400 {error, message} for %s and changes nothing', async (_name, header, body) => {
    const who = header === 'ACCOUNT' ? account : header;
    for (const path of ['/transaction/deposit', '/transaction/withdraw']) {
      const reply = await api.call('POST', path, who, body);
      expect(reply.status).toBe(400);
      expect(Object.keys(reply.body).sort()).toEqual(['error', 'message']);
    }
    expect(await api.balance(account)).toBe(701);
    expect(await api.count(account, period)).toBe(4);
  });

  it('keeps the internal endpoints off the edge, and behind the service token on the services', async () => {
    const deposit = JSON.stringify({ quantity: 5, transactionId: randomUUID() });
    const count = JSON.stringify({ period, transactionId: randomUUID() });
    const stolenToken = { 'x-service-token': system.serviceToken };
    expect((await api.call('PUT', '/balance/deposit', account, deposit, stolenToken)).status).toBe(404);
    expect((await api.call('PUT', '/count/withdraw', account, count, stolenToken)).status).toBe(404);
    const { ports } = system.regions[0]!.spec;
    expect((await apiClient(`http://127.0.0.1:${ports.balance}`).call('PUT', '/balance/deposit', account, deposit)).status).toBe(403);
    expect((await apiClient(`http://127.0.0.1:${ports.count}`).call('PUT', '/count/withdraw', account, count)).status).toBe(403);
    expect(await api.balance(account)).toBe(701);
  });

  it('answers unmatched paths with a JSON 404', async () => {
    const reply = await api.call('GET', '/nowhere', account);
    expect(reply.status).toBe(404);
    expect(reply.body.error).toBeTruthy();
  });
});

describe('one saga per account at a time', () => {
  it('answers some of 6 concurrent deposits with 429, and applies exactly the accepted ones', async () => {
    const account = newAccount();
    const replies = await Promise.all(Array.from({ length: 6 }, () => api.deposit(account, 100)));
    const accepted = replies.filter((reply) => reply.status === 200);
    const busy = replies.filter((reply) => reply.status === 429);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + busy.length).toBe(6);
    for (const reply of busy) expect(Object.keys(reply.body).sort()).toEqual(['error', 'message']);
    for (const reply of accepted) expect(await api.finished(account, reply.body.transactionId)).toBe('status#success');
    expect(await api.balance(account)).toBe(100 * accepted.length);
  });
});

describe('Idempotency-Key', () => {
  it('deposits once for a repeated key and returns the same transactionId', async () => {
    const account = newAccount();
    const key = randomUUID();
    const first = await api.deposit(account, 250, { 'Idempotency-Key': key });
    const inFlight = await api.deposit(account, 250, { 'Idempotency-Key': key });
    expect(first.status).toBe(200);
    expect(inFlight.status).toBe(200);
    expect(inFlight.body.transactionId).toBe(first.body.transactionId);
    await api.finished(account, first.body.transactionId);
    const after = await api.deposit(account, 250, { 'Idempotency-Key': key });
    expect(after.body.transactionId).toBe(first.body.transactionId);
    expect(await api.balance(account)).toBe(250);
  });
});

describe('stopFlag', () => {
  it('closes the region with `corebank param put stopFlag true` (503 within 15 s) and reopens it with false', async () => {
    // Probes before the flag takes effect still start sagas, so they use an account of their own.
    const probe = newAccount();
    const account = newAccount();
    const corebank = (...args: string[]) =>
      run(process.execPath, ['local/bin/corebank.js', ...args], { cwd: REPO_ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: system.dynamodbEndpoint } });

    const closed = await corebank('param', 'put', 'stopFlag', 'true');
    expect(closed.stdout).toContain('stopFlag = "true"');
    const closedAt = Date.now();
    await waitFor('503 from the closed region', async () => {
      const reply = await api.deposit(probe, 10);
      if (reply.status !== 503) throw new Error(`got ${reply.status}`);
      expect(Object.keys(reply.body).sort()).toEqual(['error', 'message']);
    }, 15_000, 200);
    expect(Date.now() - closedAt).toBeLessThan(15_000);
    expect((await corebank('param', 'get', 'stopFlag')).stdout).toContain('"true"');

    await corebank('param', 'put', 'stopFlag', 'false');
    let transactionId = '';
    await waitFor('200 from the reopened region', async () => {
      const reply = await api.deposit(account, 10);
      if (reply.status !== 200) throw new Error(`got ${reply.status}`);
      transactionId = reply.body.transactionId;
    }, 15_000, 200);
    expect(await api.finished(account, transactionId)).toBe('status#success');
    expect(await api.balance(account)).toBe(10);
  });
});
