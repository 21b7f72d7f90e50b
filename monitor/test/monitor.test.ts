import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { buildMonitorApp } from '../src/app.ts';
import { OtlpFeed } from './otlp-feed.ts';

/** Polls `predicate` until it holds, failing with `what` after `timeoutMs`. */
const until = (what: string, predicate: () => Promise<boolean> | boolean, timeoutMs: number) =>
  waitFor(what, async () => {
    if (!(await predicate())) throw new Error(`not yet: ${what}`);
  }, timeoutMs);

describe('the monitor', () => {
  let monitor: ReturnType<typeof buildMonitorApp>;
  let url: string;
  let feed: OtlpFeed;
  let webhook: Server;
  const posted: Array<{ alarm: string; to: string }> = [];

  beforeAll(async () => {
    webhook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        posted.push(JSON.parse(body));
        response.end();
      });
    });
    webhook.listen(0, '127.0.0.1');
    await once(webhook, 'listening');
    const { port } = webhook.address() as { port: number };
    monitor = buildMonitorApp({
      logger: false,
      alarmPeriodMs: 1000,
      evaluationPeriods: 2,
      windowMs: 3_600_000,
      maxSpans: 10_000,
      webhookUrl: `http://127.0.0.1:${port}/notify`,
    });
    url = await monitor.app.listen({ port: 0, host: '127.0.0.1' });
    feed = new OtlpFeed(url);
  });
  afterAll(async () => {
    await feed?.close();
    await monitor?.app.close();
    webhook?.close();
  });

  it('receives OTLP http/protobuf from the real exporter and answers one trace across services', async () => {
    const traceId = feed.deposit('tokyo');
    await feed.flush();
    const trace = (await monitor.app.inject({ url: `/api/traces/${traceId}` })).json();
    expect(trace.services).toEqual(['balance', 'transaction', 'transaction-worker']);
    expect(trace.spans.map((span: { name: string }) => span.name)).toEqual(['POST /transactions', 'saga step debit', 'PUT', 'PUT /accounts/:id/balance', 'SELECT']);
    expect(trace.spans[1].parentSpanId).toBe(trace.spans[0].spanId);
    expect(trace.spans[1].attributes['saga.step']).toBe('debit');
    const list = (await monitor.app.inject({ url: '/api/traces?limit=5' })).json();
    expect(list[0]).toMatchObject({ traceId, services: ['balance', 'transaction', 'transaction-worker'], spans: 5, error: false });
    expect(list[0].durationMs).toBeCloseTo(29, 0);
  });

  it('receives OTLP JSON too', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'count' } }, { key: 'cloud.region', value: { stringValue: 'osaka' } }] },
        scopeSpans: [{ spans: [{
          traceId: '5B8EFFF798038103D269B633813FC60C', spanId: 'EEE19B7EC3C1B174', name: 'PUT /counts/:id', kind: 2,
          startTimeUnixNano: String(now - 3_000_000n), endTimeUnixNano: String(now),
          attributes: [{ key: 'http.response.status_code', value: { intValue: '503' } }], status: { code: 2 },
        }] }],
      }],
    };
    const reply = await monitor.app.inject({ method: 'POST', url: '/v1/traces', payload: body });
    expect(reply.statusCode).toBe(200);
    const trace = (await monitor.app.inject({ url: '/api/traces/5b8efff798038103d269b633813fc60c' })).json();
    expect(trace).toMatchObject({ services: ['count'], error: true, durationMs: 3 });
    expect(trace.spans[0]).toMatchObject({ service: 'count', region: 'osaka', kind: 'server', httpStatus: 503 });
    expect((await monitor.app.inject({ method: 'POST', url: '/v1/traces', payload: 'nonsense', headers: { 'content-type': 'application/x-protobuf' } })).statusCode).toBe(400);
    expect((await monitor.app.inject({ method: 'POST', url: '/v1/metrics', payload: {} })).statusCode).toBe(200);
  });

  it('derives per service and region requests, errors, latency and availability, and the service map', async () => {
    for (let i = 0; i < 9; i++) feed.deposit('tokyo', 30);
    feed.deposit('tokyo', 30, 500);
    for (let i = 0; i < 3; i++) feed.deposit('osaka', 10);
    await feed.flush();
    const services = (await monitor.app.inject({ url: '/api/services' })).json();
    const balanceTokyo = services.find((row: { service: string; region: string }) => row.service === 'balance' && row.region === 'tokyo');
    expect(balanceTokyo).toMatchObject({ requests: 11, errors: 1 });
    expect(balanceTokyo.latencyAvgMs).toBeCloseTo(((20 + 30 * 10) / 11), 0);
    expect(balanceTokyo.latencyP99Ms).toBeGreaterThanOrEqual(30);
    expect(balanceTokyo.latencyP99Ms).toBeLessThan(34);
    expect(balanceTokyo.availability).toBeCloseTo(100 - 100 / 11, 1);
    expect(services.find((row: { service: string; region: string }) => row.service === 'balance' && row.region === 'osaka')).toMatchObject({ requests: 3, errors: 0, availability: 100 });

    const map = (await monitor.app.inject({ url: '/api/service-map' })).json();
    expect(map.nodes.map((node: { id: string }) => node.id).sort()).toEqual(['PostgreSQL', 'balance', 'count', 'transaction', 'transaction-worker']);
    const workerToBalance = map.edges.find((edge: { from: string; to: string }) => edge.from === 'transaction-worker' && edge.to === 'balance');
    expect(workerToBalance).toMatchObject({ calls: 14 });
    expect(map.edges.find((edge: { from: string; to: string }) => edge.from === 'balance' && edge.to === 'PostgreSQL')).toMatchObject({ calls: 14 });
  });

  it('raises balance-HighLatency after two slow periods, notifies (webhook too), and returns to OK when balance is fast again', async () => {
    const state = async () => (await monitor.app.inject({ url: '/api/alarms' })).json().find((alarm: { name: string }) => alarm.name === 'balance-HighLatency');
    const keepSending = (ms: number) => setInterval(() => feed.deposit('tokyo', ms), 100);
    let sender = keepSending(1500);
    try {
      await until('balance-HighLatency in ALARM', async () => (await state()).state === 'ALARM', 15_000);
      clearInterval(sender);
      sender = keepSending(5);
      await until('balance-HighLatency back to OK', async () => (await state()).state === 'OK', 15_000);
    } finally {
      clearInterval(sender);
    }
    const alarm = await state();
    expect(alarm).toMatchObject({ service: 'balance', metric: 'latencyAvgMs', threshold: 1000, comparison: 'GreaterThanThreshold', periodSeconds: 1, evaluationPeriods: 2 });
    expect(alarm.history.map((entry: { to: string }) => entry.to).slice(0, 2)).toEqual(['OK', 'ALARM']);
    const notifications = (await monitor.app.inject({ url: '/api/notifications' })).json().filter((n: { alarm: string }) => n.alarm === 'balance-HighLatency');
    expect(notifications.map((n: { to: string }) => n.to)).toEqual(['OK', 'ALARM']);
    await until('both notifications at the webhook', () => posted.filter((n) => n.alarm === 'balance-HighLatency').length === 2, 5000);
    expect(posted.filter((n) => n.alarm === 'balance-HighLatency').map((n) => n.to)).toEqual(['ALARM', 'OK']);
    // The other services' latency stayed low: their alarms never fired.
    expect((await monitor.app.inject({ url: '/api/alarms' })).json().filter((a: { state: string }) => a.state === 'ALARM')).toEqual([]);
  });
});
