import type { MonitorSpan } from './otlp/decode.ts';

/**
 * The monitor's memory: the spans of the last `windowMs` (at most `maxSpans` of them, oldest
 * dropped first), and per-bucket request statistics of server spans by service and region.
 * Everything is bounded: the span ring by count and age, the buckets by age.
 */

/** Latency histogram for p99: log buckets 10 % apart, from 0.01 ms to about an hour. */
const HISTOGRAM_BASE = 1.1;
const HISTOGRAM_MIN_MS = 0.01;
const bucketIndexOf = (ms: number) => Math.max(0, Math.ceil(Math.log(Math.max(ms, HISTOGRAM_MIN_MS) / HISTOGRAM_MIN_MS) / Math.log(HISTOGRAM_BASE)));
const bucketUpperMs = (index: number) => HISTOGRAM_MIN_MS * HISTOGRAM_BASE ** index;

export class RequestStats {
  requests = 0;
  errors = 0;
  totalMs = 0;
  readonly histogram = new Map<number, number>();

  add(durationMs: number, error: boolean): void {
    this.requests += 1;
    if (error) this.errors += 1;
    this.totalMs += durationMs;
    const index = bucketIndexOf(durationMs);
    this.histogram.set(index, (this.histogram.get(index) ?? 0) + 1);
  }

  merge(other: RequestStats): this {
    this.requests += other.requests;
    this.errors += other.errors;
    this.totalMs += other.totalMs;
    for (const [index, count] of other.histogram) this.histogram.set(index, (this.histogram.get(index) ?? 0) + count);
    return this;
  }

  get latencyAvgMs(): number | undefined {
    return this.requests === 0 ? undefined : this.totalMs / this.requests;
  }

  get errorRatePercent(): number | undefined {
    return this.requests === 0 ? undefined : (this.errors / this.requests) * 100;
  }

  /** The quantile's upper bucket bound (within 10 %). */
  quantileMs(q: number): number | undefined {
    if (this.requests === 0) return undefined;
    const rank = Math.ceil(q * this.requests);
    let seen = 0;
    for (const index of [...this.histogram.keys()].sort((a, b) => a - b)) {
      seen += this.histogram.get(index)!;
      if (seen >= rank) return bucketUpperMs(index);
    }
    return undefined;
  }
}

export interface StoreOptions {
  windowMs: number;
  maxSpans: number;
  /** Width of the chart buckets. */
  bucketMs: number;
}

const round2 = (value: number | undefined) => (value === undefined ? null : Math.round(value * 100) / 100);

export class SpanStore {
  private spans: MonitorSpan[] = [];
  /** Index of the oldest live span in `spans` (dropped ones are compacted away in batches). */
  private head = 0;
  private readonly traces = new Map<string, MonitorSpan[]>();
  private readonly bySpanId = new Map<string, MonitorSpan>();
  /** bucket start → "service\u0000region" → stats */
  private readonly buckets = new Map<number, Map<string, RequestStats>>();
  received = 0;
  dropped = 0;

  constructor(readonly options: StoreOptions) {}

  get size(): number {
    return this.spans.length - this.head;
  }

  add(spans: MonitorSpan[], now = Date.now()): void {
    for (const span of spans) {
      this.received += 1;
      this.spans.push(span);
      this.bySpanId.set(span.spanId, span);
      const trace = this.traces.get(span.traceId);
      if (trace) trace.push(span);
      else this.traces.set(span.traceId, [span]);
      // A request is a SERVER span, or a CONSUMER span: the worker's processing of one saga.
      if (span.kind === 'server' || span.kind === 'consumer') this.statsFor(span.startMs + span.durationMs, span.service, span.region).add(span.durationMs, span.error);
    }
    this.evict(now);
  }

  private statsFor(atMs: number, service: string, region: string): RequestStats {
    const start = Math.floor(atMs / this.options.bucketMs) * this.options.bucketMs;
    let bucket = this.buckets.get(start);
    if (!bucket) this.buckets.set(start, (bucket = new Map()));
    const key = `${service}\u0000${region}`;
    let stats = bucket.get(key);
    if (!stats) bucket.set(key, (stats = new RequestStats()));
    return stats;
  }

  evict(now = Date.now()): void {
    const oldest = now - this.options.windowMs;
    while (this.head < this.spans.length && (this.size > this.options.maxSpans || this.spans[this.head]!.startMs < oldest)) {
      const span = this.spans[this.head]!;
      this.head += 1;
      this.dropped += 1;
      if (this.bySpanId.get(span.spanId) === span) this.bySpanId.delete(span.spanId);
      const trace = this.traces.get(span.traceId);
      if (trace) {
        const rest = trace.filter((kept) => kept !== span);
        if (rest.length === 0) this.traces.delete(span.traceId);
        else this.traces.set(span.traceId, rest);
      }
    }
    if (this.head > 10_000 && this.head > this.spans.length / 2) {
      this.spans = this.spans.slice(this.head);
      this.head = 0;
    }
    for (const start of this.buckets.keys()) if (start < oldest - this.options.bucketMs) this.buckets.delete(start);
  }

  /** Server-span statistics of `service` (all regions) over [fromMs, toMs), bucket-aligned. */
  statsBetween(fromMs: number, toMs: number, filter: (service: string, region: string) => boolean): RequestStats {
    const total = new RequestStats();
    for (const [start, bucket] of this.buckets) {
      if (start < fromMs || start >= toMs) continue;
      for (const [key, stats] of bucket) {
        const [service, region] = key.split('\u0000') as [string, string];
        if (filter(service, region)) total.merge(stats);
      }
    }
    return total;
  }

  /** Per service and region over the last `lastMs`: what GET /api/services answers. */
  services(now: number, lastMs: number) {
    const totals = new Map<string, RequestStats>();
    for (const [start, bucket] of this.buckets) {
      if (start < now - lastMs) continue;
      for (const [key, stats] of bucket) totals.set(key, (totals.get(key) ?? new RequestStats()).merge(stats));
    }
    return [...totals]
      .map(([key, stats]) => {
        const [service, region] = key.split('\u0000') as [string, string];
        return {
          service,
          region,
          requests: stats.requests,
          errors: stats.errors,
          latencyAvgMs: round2(stats.latencyAvgMs),
          latencyP99Ms: round2(stats.quantileMs(0.99)),
          availability: stats.requests === 0 ? null : round2(100 - stats.errorRatePercent!),
        };
      })
      .sort((a, b) => a.service.localeCompare(b.service) || a.region.localeCompare(b.region));
  }

  /** Per service and region, one point per bucket: the dashboard's charts. */
  series(now: number, lastMs: number) {
    const starts = [...this.buckets.keys()].filter((start) => start >= now - lastMs).sort((a, b) => a - b);
    const keys = new Set<string>();
    for (const start of starts) for (const key of this.buckets.get(start)!.keys()) keys.add(key);
    const seconds = this.options.bucketMs / 1000;
    return {
      bucketSeconds: seconds,
      times: starts.map((start) => start / 1000),
      series: [...keys].sort().map((key) => {
        const [service, region] = key.split('\u0000') as [string, string];
        const points = starts.map((start) => this.buckets.get(start)!.get(key));
        return {
          service,
          region,
          requestRate: points.map((stats) => round2((stats?.requests ?? 0) / seconds)),
          latencyAvgMs: points.map((stats) => round2(stats?.latencyAvgMs)),
          latencyP99Ms: points.map((stats) => round2(stats?.quantileMs(0.99))),
          errorRatePercent: points.map((stats) => round2(stats?.errorRatePercent)),
          availability: points.map((stats) => (stats && stats.requests > 0 ? round2(100 - stats.errorRatePercent!) : null)),
        };
      }),
    };
  }

  /** The most recent traces first (by their first span's start). */
  traceSummaries(limit: number) {
    const summaries = [];
    for (const [traceId, spans] of this.traces) summaries.push(summaryOf(traceId, spans));
    return summaries.sort((a, b) => b.startMs - a.startMs).slice(0, limit);
  }

  trace(traceId: string) {
    const spans = this.traces.get(traceId);
    if (!spans) return undefined;
    return { ...summaryOf(traceId, spans), spans: [...spans].sort((a, b) => a.startMs - b.startMs) };
  }

  /**
   * Nodes (services and databases) and edges drawn from client spans of the last `lastMs`:
   * an HTTP call's callee is the service of the server span it parents; a database call's is
   * its db.system (PostgreSQL, DynamoDB).
   */
  serviceMap(now: number, lastMs: number) {
    const edges = new Map<string, { from: string; to: string; calls: number; errors: number }>();
    const nodes = new Map<string, { id: string; kind: 'service' | 'database'; regions: Set<string> }>();
    const node = (id: string, kind: 'service' | 'database', region?: string) => {
      const existing = nodes.get(id) ?? { id, kind, regions: new Set<string>() };
      if (region) existing.regions.add(region);
      nodes.set(id, existing);
    };
    const childServerOf = new Map<string, MonitorSpan>();
    for (let i = this.head; i < this.spans.length; i++) {
      const span = this.spans[i]!;
      if (span.kind === 'server' && span.parentSpanId) childServerOf.set(span.parentSpanId, span);
    }
    for (let i = this.head; i < this.spans.length; i++) {
      const span = this.spans[i]!;
      if (span.startMs < now - lastMs) continue;
      if (span.kind === 'server') node(span.service, 'service', span.region);
      if (span.kind !== 'client') continue;
      const target = databaseOf(span) ?? childServerOf.get(span.spanId)?.service ?? peerOf(span);
      if (!target) continue;
      node(span.service, 'service', span.region);
      node(target, databaseOf(span) ? 'database' : 'service');
      const key = `${span.service}\u0000${target}`;
      const edge = edges.get(key) ?? { from: span.service, to: target, calls: 0, errors: 0 };
      edge.calls += 1;
      if (span.error) edge.errors += 1;
      edges.set(key, edge);
    }
    const minutes = lastMs / 60_000;
    return {
      windowMinutes: minutes,
      nodes: [...nodes.values()].map(({ id, kind, regions }) => ({ id, kind, regions: [...regions].sort() })),
      edges: [...edges.values()].map((edge) => ({
        ...edge,
        callsPerMinute: round2(edge.calls / minutes),
        errorRatePercent: round2((edge.errors / edge.calls) * 100),
      })),
    };
  }
}

function databaseOf(span: MonitorSpan): string | undefined {
  const system = span.attributes['db.system.name'] ?? span.attributes['db.system'];
  if (system === 'postgresql') return 'PostgreSQL';
  if (system === 'dynamodb' || span.attributes['rpc.service'] === 'DynamoDB') return 'DynamoDB';
  return typeof system === 'string' ? system : undefined;
}

function peerOf(span: MonitorSpan): string | undefined {
  const host = span.attributes['server.address'] ?? span.attributes['net.peer.name'];
  if (host === undefined) return undefined;
  const port = span.attributes['server.port'] ?? span.attributes['net.peer.port'];
  return port === undefined ? String(host) : `${host}:${port}`;
}

function summaryOf(traceId: string, spans: MonitorSpan[]) {
  const startMs = Math.min(...spans.map((span) => span.startMs));
  const endMs = Math.max(...spans.map((span) => span.startMs + span.durationMs));
  const root = spans.find((span) => !span.parentSpanId) ?? spans[0]!;
  return {
    traceId,
    root: `${root.service}: ${root.name}`,
    services: [...new Set(spans.map((span) => span.service))].sort(),
    startMs,
    durationMs: round2(endMs - startMs)!,
    spans: spans.length,
    error: spans.some((span) => span.error),
  };
}
