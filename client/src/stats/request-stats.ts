import { Histogram, WindowedHistogram } from './histogram.ts';
import { PerSecondCounter, RATE_WINDOW_SECONDS } from './per-second-counter.ts';

/** Percentiles Locust writes in its CSVs (the same columns, so existing tooling reads ours). */
export const CSV_PERCENTILES = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1] as const;

export const AGGREGATED_NAME = 'Aggregated';

/** One row of the statistics table: a request name (or the aggregate of all of them). */
export interface EntrySnapshot {
  method: string;
  name: string;
  requests: number;
  failures: number;
  medianMs: number;
  p95Ms: number;
  p99Ms: number;
  avgMs: number;
  minMs: number;
  maxMs: number;
  avgContentLength: number;
  currentRps: number;
  currentFailPerSec: number;
  /** Cumulative percentiles keyed by fraction (CSV_PERCENTILES), for the CSV export. */
  percentiles: Record<string, number>;
  /** Median and 95th percentile of the last ten seconds only (what the charts plot). */
  currentMedianMs: number;
  currentP95Ms: number;
  /** CSV_PERCENTILES over the last ten seconds only (the history CSV's columns, as in Locust). */
  currentPercentiles: Record<string, number>;
}

/** Failures grouped by method, name and message, as Locust's Failures tab shows them. */
export interface FailureGroup {
  method: string;
  name: string;
  message: string;
  occurrences: number;
}

/** Time from a saga's POST until its status turned terminal, per kind of saga. */
export interface SagaSnapshot {
  name: string;
  completed: number;
  succeeded: number;
  rolledBack: number;
  /** Sagas abandoned because the POST failed or no terminal status arrived in time. */
  abandoned: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  avgMs: number;
  minMs: number;
  maxMs: number;
}

export interface HistoryPoint {
  /** Unix epoch milliseconds. */
  time: number;
  userCount: number;
  totalRps: number;
  totalFailPerSec: number;
  currentMedianMs: number;
  currentP95Ms: number;
  /** Every request name plus the Aggregated row, as they stood at `time`. */
  entries: EntrySnapshot[];
}

export interface StatsSnapshot {
  /** Unix epoch milliseconds of the snapshot. */
  time: number;
  /** When statistics started (first start or last reset). */
  startTime: number;
  entries: EntrySnapshot[];
  aggregated: EntrySnapshot;
  failures: FailureGroup[];
  failRatio: number;
  sagas: SagaSnapshot[];
  /** All saga kinds together: the figure a system benchmark reports as "saga latency". */
  sagaLatency: SagaSnapshot;
  completedSagas: number;
}

/** Failure groups beyond this many are folded into one, so a run with unique messages stays bounded. */
const MAX_FAILURE_GROUPS = 500;
const OVERFLOW_MESSAGE = 'other failures (too many distinct messages)';

class StatsEntry {
  requests = 0;
  failures = 0;
  totalResponseTime = 0;
  minResponseTime = Number.POSITIVE_INFINITY;
  maxResponseTime = 0;
  totalContentLength = 0;
  readonly histogram = new Histogram();
  readonly recentHistogram = new WindowedHistogram(RATE_WINDOW_SECONDS + 4);
  readonly requestsPerSecond = new PerSecondCounter();
  readonly failuresPerSecond = new PerSecondCounter();

  constructor(
    readonly method: string,
    readonly name: string,
  ) {}

  logRequest(second: number, responseTimeMs: number, contentLength: number): void {
    this.requests += 1;
    this.totalResponseTime += responseTimeMs;
    if (responseTimeMs < this.minResponseTime) this.minResponseTime = responseTimeMs;
    if (responseTimeMs > this.maxResponseTime) this.maxResponseTime = responseTimeMs;
    this.totalContentLength += contentLength;
    this.histogram.add(responseTimeMs);
    this.recentHistogram.add(second, responseTimeMs);
    this.requestsPerSecond.add(second);
  }

  logFailure(second: number): void {
    this.failures += 1;
    this.failuresPerSecond.add(second);
  }

  snapshot(nowSecond: number, startSecond: number): EntrySnapshot {
    const min = this.requests === 0 ? 0 : this.minResponseTime;
    // Buckets have two significant digits while min and max are exact; clamp so a run with
    // one slow request never shows a median above its maximum.
    const clamp = (value: number) => (this.requests === 0 ? 0 : Math.min(Math.max(value, min), this.maxResponseTime));
    const percentiles: Record<string, number> = {};
    for (const fraction of CSV_PERCENTILES) percentiles[String(fraction)] = clamp(this.histogram.percentile(fraction));
    const recent = this.recentHistogram.window(nowSecond - RATE_WINDOW_SECONDS, nowSecond);
    const currentPercentiles: Record<string, number> = {};
    for (const fraction of CSV_PERCENTILES) currentPercentiles[String(fraction)] = recent.percentile(fraction);
    return {
      method: this.method,
      name: this.name,
      requests: this.requests,
      failures: this.failures,
      medianMs: clamp(this.histogram.median()),
      p95Ms: clamp(this.histogram.percentile(0.95)),
      p99Ms: clamp(this.histogram.percentile(0.99)),
      avgMs: this.requests === 0 ? 0 : this.totalResponseTime / this.requests,
      minMs: min,
      maxMs: this.maxResponseTime,
      avgContentLength: this.requests === 0 ? 0 : this.totalContentLength / this.requests,
      currentRps: this.requestsPerSecond.currentRate(nowSecond, startSecond),
      currentFailPerSec: this.failuresPerSecond.currentRate(nowSecond, startSecond),
      percentiles,
      currentMedianMs: recent.median(),
      currentP95Ms: recent.percentile(0.95),
      currentPercentiles,
    };
  }
}

class SagaEntry {
  succeeded = 0;
  rolledBack = 0;
  abandoned = 0;
  total = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  readonly histogram = new Histogram();

  constructor(readonly name: string) {}

  logCompleted(latencyMs: number, rolledBack: boolean): void {
    if (rolledBack) this.rolledBack += 1;
    else this.succeeded += 1;
    this.total += latencyMs;
    if (latencyMs < this.min) this.min = latencyMs;
    if (latencyMs > this.max) this.max = latencyMs;
    this.histogram.add(latencyMs);
  }

  snapshot(): SagaSnapshot {
    const completed = this.succeeded + this.rolledBack;
    const clamp = (value: number) => (completed === 0 ? 0 : Math.min(Math.max(value, this.min), this.max));
    return {
      name: this.name,
      completed,
      succeeded: this.succeeded,
      rolledBack: this.rolledBack,
      abandoned: this.abandoned,
      p50Ms: clamp(this.histogram.median()),
      p95Ms: clamp(this.histogram.percentile(0.95)),
      p99Ms: clamp(this.histogram.percentile(0.99)),
      avgMs: completed === 0 ? 0 : this.total / completed,
      minMs: completed === 0 ? 0 : this.min,
      maxMs: this.max,
    };
  }

  static combine(name: string, parts: SagaEntry[]): SagaEntry {
    const combined = new SagaEntry(name);
    for (const part of parts) {
      combined.succeeded += part.succeeded;
      combined.rolledBack += part.rolledBack;
      combined.abandoned += part.abandoned;
      combined.total += part.total;
      combined.min = Math.min(combined.min, part.min);
      combined.max = Math.max(combined.max, part.max);
      combined.histogram.merge(part.histogram);
    }
    return combined;
  }
}

/**
 * All statistics of one load run. Pure bookkeeping: the caller passes a clock, so tests
 * feed known timestamps and assert exact rates and percentiles.
 */
export class RequestStats {
  private entries = new Map<string, StatsEntry>();
  private total = new StatsEntry('', AGGREGATED_NAME);
  private failures = new Map<string, FailureGroup>();
  private sagas = new Map<string, SagaEntry>();
  private startTime: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startTime = now();
  }

  reset(): void {
    this.entries = new Map();
    this.total = new StatsEntry('', AGGREGATED_NAME);
    this.failures = new Map();
    this.sagas = new Map();
    this.startTime = this.now();
  }

  /** A request that got an answer (or failed): its response time always counts, as in Locust. */
  logRequest(method: string, name: string, responseTimeMs: number, contentLength: number, failureMessage?: string): void {
    const second = Math.floor(this.now() / 1000);
    const entry = this.entry(method, name);
    entry.logRequest(second, responseTimeMs, contentLength);
    this.total.logRequest(second, responseTimeMs, contentLength);
    if (failureMessage !== undefined) {
      entry.logFailure(second);
      this.total.logFailure(second);
      this.logFailureGroup(method, name, failureMessage);
    }
  }

  logSagaCompleted(name: string, latencyMs: number, rolledBack: boolean): void {
    this.saga(name).logCompleted(latencyMs, rolledBack);
  }

  logSagaAbandoned(name: string): void {
    this.saga(name).abandoned += 1;
  }

  snapshot(): StatsSnapshot {
    const time = this.now();
    const nowSecond = Math.floor(time / 1000);
    const startSecond = Math.floor(this.startTime / 1000);
    const entries = [...this.entries.values()]
      .sort((a, b) => a.name.localeCompare(b.name) || a.method.localeCompare(b.method))
      .map((entry) => entry.snapshot(nowSecond, startSecond));
    const aggregated = this.total.snapshot(nowSecond, startSecond);
    const sagaEntries = [...this.sagas.values()].sort((a, b) => a.name.localeCompare(b.name));
    const sagaLatency = SagaEntry.combine('saga (all)', sagaEntries).snapshot();
    return {
      time,
      startTime: this.startTime,
      entries,
      aggregated,
      failures: [...this.failures.values()].sort((a, b) => b.occurrences - a.occurrences).map((f) => ({ ...f })),
      failRatio: aggregated.requests === 0 ? 0 : aggregated.failures / aggregated.requests,
      sagas: sagaEntries.map((s) => s.snapshot()),
      sagaLatency,
      completedSagas: sagaLatency.completed,
    };
  }

  private entry(method: string, name: string): StatsEntry {
    const key = `${method} ${name}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = new StatsEntry(method, name);
      this.entries.set(key, entry);
    }
    return entry;
  }

  private saga(name: string): SagaEntry {
    let saga = this.sagas.get(name);
    if (!saga) {
      saga = new SagaEntry(name);
      this.sagas.set(name, saga);
    }
    return saga;
  }

  private logFailureGroup(method: string, name: string, message: string): void {
    let key = `${method}\u0000${name}\u0000${message}`;
    if (!this.failures.has(key) && this.failures.size >= MAX_FAILURE_GROUPS) {
      key = `${method}\u0000${name}\u0000${OVERFLOW_MESSAGE}`;
      message = OVERFLOW_MESSAGE;
    }
    const group = this.failures.get(key);
    if (group) group.occurrences += 1;
    else this.failures.set(key, { method, name, message, occurrences: 1 });
  }
}
