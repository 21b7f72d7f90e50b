import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, waitFor, type App } from '@corebank/kit';
import { createCanary, isCanaryAccount, type CanaryResult } from './canary.ts';

type Mode = 'ok' | 'unavailable' | 'no answer' | 'rollback';

/** A regional endpoint stand-in whose behaviour the test switches. */
function standIn() {
  const state = { mode: 'ok' as Mode, accounts: new Set<string>(), deposits: 0, polls: new Map<string, number>() };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const app: App = createService({ name: 'endpoint-stand-in', logger: false, metrics: false });
  app.addHook('onRequest', async (request, reply) => {
    state.accounts.add(String(request.headers['x_account_id']));
    if (state.mode === 'unavailable') return reply.code(503).send({ error: 'region_closed', message: 'closed' });
    if (state.mode === 'no answer') await released;
  });
  app.get('/balance', async () => ({ balance: state.deposits }));
  app.post('/transaction/deposit', async (request) => {
    if (!request.headers['idempotency-key']) throw new Error('no idempotency key');
    state.deposits += 1;
    const transactionId = randomUUID();
    state.polls.set(transactionId, 0);
    return { transactionId };
  });
  app.get<{ Params: { id: string } }>('/transaction/:id', async (request) => {
    const polls = (state.polls.get(request.params.id) ?? 0) + 1;
    state.polls.set(request.params.id, polls);
    // Pending on the first poll, so the canary must poll on to the end.
    if (polls === 1) return { status: 'status#pending', updatedAt: new Date().toISOString() };
    return { status: state.mode === 'rollback' ? 'status#success_rollback' : 'status#success', updatedAt: new Date().toISOString() };
  });
  return { app, state, release };
}

describe('canary', () => {
  const endpoint = standIn();
  let url: string;
  beforeAll(async () => {
    url = await endpoint.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    endpoint.release();
    await endpoint.app.close();
  });

  it('marks its account as a canary account, never a customer', () => {
    expect(isCanaryAccount('canary-ap-northeast-3')).toBe(true);
    expect(isCanaryAccount('1231221')).toBe(false);
  });

  it('succeeds on a full round trip, then fails on 503s, on a rolled-back saga and on no answer, each run within its budget', async () => {
    const seen: CanaryResult[] = [];
    const canary = createCanary({ origin: 'ap-northeast-3', endpointUrl: url, periodMs: 1_000, runTimeoutMs: 600, pollIntervalMs: 20, onResult: (result) => seen.push(result) });
    try {
      const ok = await canary.runOnce();
      expect(ok).toMatchObject({ canary: 'canary-ap-northeast-3', success: true });
      expect(ok.transactionId).toBeDefined();
      expect(endpoint.state.polls.get(ok.transactionId!)).toBe(2);
      expect([...endpoint.state.accounts]).toEqual(['canary-ap-northeast-3']);

      endpoint.state.mode = 'unavailable';
      const closed = await canary.runOnce();
      expect(closed).toMatchObject({ success: false, failure: 'GET /balance answered 503' });

      endpoint.state.mode = 'rollback';
      expect((await canary.runOnce()).failure).toMatch(/ended status#success_rollback/);

      endpoint.state.mode = 'no answer';
      const silent = await canary.runOnce();
      expect(silent.success).toBe(false);
      expect(silent.latencyMs).toBeGreaterThanOrEqual(590);
      expect(silent.latencyMs).toBeLessThan(1_000);

      expect(seen.map((result) => result.success)).toEqual([true, false, false, false]);
      expect(canary.results()).toEqual(seen);
    } finally {
      endpoint.state.mode = 'ok';
      await canary.stop();
    }
  });

  it('runs once per period on its own once started, and stops', async () => {
    endpoint.state.mode = 'ok';
    const canary = createCanary({ origin: 'us-west-2', endpointUrl: url, periodMs: 200, pollIntervalMs: 10 });
    canary.start();
    try {
      await waitFor('three scheduled runs', async () => {
        if (canary.results().length < 3) throw new Error(`${canary.results().length} runs`);
      }, 5_000, 50);
    } finally {
      await canary.stop();
    }
    const results = canary.results();
    expect(results.every((result) => result.success)).toBe(true);
    // One run per period boundary: consecutive starts are a period apart (± timer jitter).
    for (let index = 1; index < results.length; index++) {
      expect(results[index]!.startedAt - results[index - 1]!.startedAt).toBeGreaterThanOrEqual(150);
    }
    const after = results.length;
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(canary.results().length).toBe(after);
  });
});
