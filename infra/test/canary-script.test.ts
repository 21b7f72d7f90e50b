import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

/** The canary's script, as the CDK app inlines it (CommonJS). */
const script = createRequire(import.meta.url)('../canary/round-trip.cjs') as {
  roundTrip(options: Record<string, unknown>): Promise<string>;
  plainCall(baseUrl: string, deadline: number): (request: Record<string, unknown>) => Promise<{ status: number; body: unknown }>;
  settings(env: Record<string, string | undefined>): { baseUrl: string; accountHeader: string; accountId: string; runTimeoutMs: number; pollIntervalMs: number };
};

/** A tiny stand-in for the regional API: what it answers is set per test. */
interface Behaviour { depositStatus: number; pendingPolls: number; terminal: string }
let behaviour: Behaviour;
let seen: { method: string; url: string; account: string | undefined; body: string }[];
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, account: request.headers['x_account_id'] as string | undefined, body });
      const reply = (status: number, payload: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      if (request.method === 'GET' && request.url === '/balance') return reply(200, { balance: 10 });
      if (request.method === 'POST' && request.url === '/transaction/deposit') {
        return behaviour.depositStatus === 200 ? reply(200, { transactionId: 'tx-1' }) : reply(behaviour.depositStatus, { error: 'stopped', message: 'region closed' });
      }
      if (request.method === 'GET' && request.url === '/transaction/tx-1') {
        if (behaviour.pendingPolls > 0) {
          behaviour.pendingPolls--;
          return reply(200, { status: 'status#pending' });
        }
        return reply(200, { status: behaviour.terminal });
      }
      return reply(404, { error: 'not_found', message: request.url });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  behaviour = { depositStatus: 200, pendingPolls: 2, terminal: 'status#success' };
  seen = [];
});

const run = (runTimeoutMs = 5000) => script.roundTrip({
  accountHeader: 'X_ACCOUNT_ID', accountId: 'canary-us-west-2', runTimeoutMs, pollIntervalMs: 10,
  call: script.plainCall(baseUrl, Date.now() + runTimeoutMs),
  sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
});

describe('the canary script', () => {
  it('reads the balance, deposits 1 to its own account and polls the saga until status#success', async () => {
    await expect(run()).resolves.toBe('tx-1');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /balance', 'POST /transaction/deposit', 'GET /transaction/tx-1', 'GET /transaction/tx-1', 'GET /transaction/tx-1',
    ]);
    expect(new Set(seen.map((r) => r.account))).toEqual(new Set(['canary-us-west-2']));
    expect(JSON.parse(seen[1]!.body)).toEqual({ quantity: 1 });
  });

  it('fails on a refused deposit, naming the step', async () => {
    behaviour.depositStatus = 503;
    await expect(run()).rejects.toThrow('POST /transaction/deposit answered 503');
  });

  it('fails when the saga ends other than status#success', async () => {
    behaviour.terminal = 'status#success_rollback';
    await expect(run()).rejects.toThrow('the deposit tx-1 ended status#success_rollback');
  });

  it('fails within its budget when the saga stays pending', async () => {
    behaviour.pendingPolls = Number.POSITIVE_INFINITY;
    const started = Date.now();
    await expect(run(300)).rejects.toThrow('the deposit tx-1 was still pending after 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('names the pending saga, not the cut-off poll, when a late timer leaves the last poll no time', async () => {
    let clock = 0;
    const deadline = 100;
    await expect(script.roundTrip({
      accountHeader: 'X_ACCOUNT_ID', accountId: 'canary-x', runTimeoutMs: deadline, pollIntervalMs: 30, now: () => clock,
      // Each sleep overshoots, as a timer does on a busy machine.
      sleep: async (ms: number) => { clock += 2 * ms; },
      call: async ({ path }: { path: string }) => {
        if (clock >= deadline) throw new Error('no answer within 1 ms');
        if (path === '/balance') return { status: 200, body: { balance: 0 } };
        if (path === '/transaction/deposit') return { status: 200, body: { transactionId: 'tx-9' } };
        return { status: 200, body: { status: 'status#pending' } };
      },
    })).rejects.toThrow('the deposit tx-9 was still pending after 100 ms');
  });

  it('fails when nothing answers', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(script.roundTrip({
      accountHeader: 'X_ACCOUNT_ID', accountId: 'canary-x', runTimeoutMs: 1000, pollIntervalMs: 10,
      call: script.plainCall(`http://127.0.0.1:${port}`, Date.now() + 1000), sleep: () => Promise.resolve(),
    })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('reads its settings from the environment and refuses to run without them', () => {
    expect(script.settings({ BASE_URL: 'http://api.ap-northeast-1.example.com/', ACCOUNT_HEADER: 'X_ACCOUNT_ID', ACCOUNT_ID: 'canary-ap-northeast-3' }))
      .toEqual({ baseUrl: 'http://api.ap-northeast-1.example.com', accountHeader: 'X_ACCOUNT_ID', accountId: 'canary-ap-northeast-3', runTimeoutMs: 30000, pollIntervalMs: 200 });
    expect(() => script.settings({ BASE_URL: 'http://x' })).toThrow('ACCOUNT_HEADER is not set');
  });
});
