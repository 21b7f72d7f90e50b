import { describe, expect, it } from 'vitest';
import type { MonitorSpan } from './otlp/decode.ts';
import { RequestStats, SpanStore } from './store.ts';

const span = (i: number, startMs: number, overrides: Partial<MonitorSpan> = {}): MonitorSpan => ({
  traceId: `trace-${Math.floor(i / 2)}`,
  spanId: `span-${i}`,
  name: 'PUT /balance/deposit',
  kind: 'server',
  service: 'balance',
  region: 'tokyo',
  startMs,
  durationMs: 10,
  error: false,
  attributes: {},
  ...overrides,
});

describe('SpanStore', () => {
  it('keeps at most maxSpans spans, dropping the oldest and their traces', () => {
    const store = new SpanStore({ windowMs: 3_600_000, maxSpans: 100, bucketMs: 10_000 });
    const now = 1_000_000_000;
    for (let i = 0; i < 1000; i++) store.add([span(i, now - 1000 + i)], now);
    expect(store.size).toBe(100);
    expect(store.dropped).toBe(900);
    expect(store.trace('trace-0')).toBeUndefined();
    expect(store.trace('trace-499')?.spans).toHaveLength(2);
    expect(store.traceSummaries(1000)).toHaveLength(50);
  });

  it('forgets spans and statistics older than the window', () => {
    const store = new SpanStore({ windowMs: 60_000, maxSpans: 1000, bucketMs: 10_000 });
    const start = 1_000_000_000;
    store.add([span(0, start), span(1, start)], start);
    expect(store.services(start + 20, 60_000)[0]).toMatchObject({ service: 'balance', requests: 2 });
    store.add([span(2, start + 120_000)], start + 120_000);
    expect(store.size).toBe(1);
    expect(store.trace('trace-0')).toBeUndefined();
    expect(store.series(start + 120_000, 3_600_000).times).toEqual([(start + 120_000) / 1000]);
  });

  it('counts a consumer span (the worker processing a saga) as a request of its service', () => {
    const store = new SpanStore({ windowMs: 3_600_000, maxSpans: 1000, bucketMs: 1000 });
    const t = 1_000_000_000;
    store.add([span(0, t, { kind: 'consumer', service: 'transaction-worker', durationMs: 40 })], t);
    expect(store.statsBetween(t, t + 1000, (service) => service === 'transaction-worker')).toMatchObject({ requests: 1, totalMs: 40 });
  });

  it('counts server spans, not client or internal ones, errors included, into the bucket where they ended', () => {
    const store = new SpanStore({ windowMs: 3_600_000, maxSpans: 1000, bucketMs: 1000 });
    const t = 1_000_000_000;
    store.add([span(0, t, { durationMs: 100 }), span(1, t, { durationMs: 300, error: true }), span(2, t, { kind: 'client', durationMs: 5000 })], t);
    const stats = store.statsBetween(t, t + 1000, (service) => service === 'balance');
    expect(stats).toMatchObject({ requests: 2, errors: 1, totalMs: 400 });
    expect(stats.latencyAvgMs).toBe(200);
    expect(stats.errorRatePercent).toBe(50);
    expect(store.statsBetween(t + 1000, t + 2000, () => true).requests).toBe(0);
  });
});

describe('RequestStats', () => {
  it('gives p99 within 10 %', () => {
    const stats = new RequestStats();
    for (let i = 1; i <= 1000; i++) stats.add(i, false);
    const p99 = stats.quantileMs(0.99)!;
    expect(p99).toBeGreaterThanOrEqual(990);
    expect(p99).toBeLessThan(990 * 1.1);
    expect(new RequestStats().quantileMs(0.99)).toBeUndefined();
  });
});
