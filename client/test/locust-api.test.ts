import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocustRequestsReport } from '../src/stats/locust-report.ts';
import { startFakeCorebank, type FakeCorebank } from '@corebank/testing';
import { startWebUi, type WebUi } from '../src/web/web-ui.ts';
import { curl, eventually } from './helpers.ts';

describe('Locust-compatible HTTP API, driven by curl', () => {
  let fake: FakeCorebank;
  let ui: WebUi;

  beforeAll(async () => {
    fake = await startFakeCorebank({ pendingPolls: 2, unavailableEvery: 25, rollbackEvery: 10 });
    ui = await startWebUi({ port: 0, host: '127.0.0.1', defaultHost: 'http://127.0.0.1:1', pollIntervalMs: 20 });
  });

  afterAll(async () => {
    await ui?.close();
    await fake?.close();
  });

  async function report(): Promise<LocustRequestsReport> {
    const response = await curl([`${ui.url}/stats/requests`]);
    expect(response.status).toBe(200);
    return JSON.parse(response.body) as LocustRequestsReport;
  }

  it('starts ready with only the Aggregated row', async () => {
    const initial = await report();
    expect(initial.state).toBe('ready');
    expect(initial.stats.map((s) => s.name)).toEqual(['Aggregated']);
  });

  it('rejects a swarm with a bad field', async () => {
    const response = await curl(['-X', 'POST', '-d', 'user_count=abc&spawn_rate=1', `${ui.url}/swarm`]);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ success: false });
  });

  it('swarms, records every request name, failures and sagas, then stops', async () => {
    const swarm = await curl(['-X', 'POST', '-d', `user_count=5&spawn_rate=50&host=${encodeURIComponent(fake.url)}&timeout=2`, `${ui.url}/swarm`]);
    expect(swarm.status).toBe(200);
    expect(JSON.parse(swarm.body)).toEqual({ success: true, message: 'Swarming started', host: fake.url });

    const running = await eventually('all three names, a rollback and a 503', async () => {
      const r = await report();
      const names = r.stats.map((s) => s.name);
      const ready = ['/transaction/deposit', '/transaction/withdraw', '/transaction/<txId>'].every((n) => names.includes(n));
      const hasRollback = r.errors.some((e) => e.error.includes('status#success_rollback'));
      const has503 = r.errors.some((e) => e.error.startsWith('HTTP 503'));
      return ready && hasRollback && has503 && r.completed_sagas > 5 && r;
    });
    expect(running.state).toBe('running');
    expect(running.user_count).toBe(5);
    expect(running.host).toBe(fake.url);
    expect(running.timeout_seconds).toBe(2);
    const aggregated = running.stats.at(-1)!;
    expect(aggregated.name).toBe('Aggregated');
    for (const field of ['num_requests', 'num_failures', 'median_response_time', 'avg_response_time', 'min_response_time', 'max_response_time',
      'avg_content_length', 'current_rps', 'current_fail_per_sec', 'response_time_percentile_0.95', 'response_time_percentile_0.99'] as const) {
      expect(typeof aggregated[field]).toBe('number');
    }
    expect(aggregated.num_requests).toBe(running.stats.slice(0, -1).reduce((sum, s) => sum + s.num_requests, 0));
    expect(running.saga_latency.p50Ms).toBeGreaterThan(0);
    expect(fake.counts.closeHeaders).toBeGreaterThan(0);
    expect(fake.counts.missingAccountHeader).toBe(0);

    // Edit while running: more users through the same endpoint.
    expect((await curl(['-X', 'POST', '-d', 'user_count=8&spawn_rate=100', `${ui.url}/swarm`])).status).toBe(200);
    await eventually('8 users', async () => (await report()).user_count === 8);

    const csv = await curl([`${ui.url}/stats/requests/csv`]);
    expect(csv.body.split('\n')[0]).toMatch(/^Type,Name,Request Count,Failure Count,/);
    expect(csv.body).toContain('POST,/transaction/deposit,');
    const failures = await curl([`${ui.url}/stats/failures/csv`]);
    expect(failures.body).toContain('Saga rolled back (status#success_rollback)');
    await eventually('a history point', async () => (await curl([`${ui.url}/stats/requests_full_history/csv`])).body.includes('Aggregated'));

    const stop = await curl([`${ui.url}/stop`]);
    expect(JSON.parse(stop.body)).toEqual({ success: true, message: 'Test stopped' });
    const stopped = await report();
    expect(stopped.state).toBe('stopped');
    expect(stopped.user_count).toBe(0);
    const requestsAfterStop = fake.counts.deposits + fake.counts.withdrawals + fake.counts.polls;
    expect((await report()).stats.at(-1)!.num_requests).toBe(stopped.stats.at(-1)!.num_requests);
    expect(fake.counts.deposits + fake.counts.withdrawals + fake.counts.polls).toBe(requestsAfterStop);

    const reset = await curl([`${ui.url}/stats/reset`]);
    expect(reset.body).toBe('ok');
    const afterReset = await report();
    expect(afterReset.stats.map((s) => s.name)).toEqual(['Aggregated']);
    expect(afterReset.errors).toEqual([]);
  });
});
