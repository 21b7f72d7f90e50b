import type { EntrySnapshot, FailureGroup, SagaSnapshot, StatsSnapshot } from './request-stats.ts';

export type RunnerState = 'ready' | 'spawning' | 'running' | 'stopped';

/** One entry of `stats[]` in Locust's `GET /stats/requests`. */
export interface LocustStatsEntry {
  method: string;
  name: string;
  safe_name: string;
  num_requests: number;
  num_failures: number;
  median_response_time: number;
  avg_response_time: number;
  min_response_time: number;
  max_response_time: number;
  avg_content_length: number;
  current_rps: number;
  current_fail_per_sec: number;
  ninetieth_response_time: number;
  ninety_ninth_response_time: number;
  'response_time_percentile_0.95': number;
  'response_time_percentile_0.99': number;
}

export interface LocustError {
  method: string;
  name: string;
  error: string;
  occurrences: number;
}

/**
 * The body of `GET /stats/requests`: Locust's fields, plus `sagas` and `saga_latency`
 * (time from POST to terminal status), which Locust has no notion of. They live outside
 * `stats[]` so that tools summing `stats[]` never count a saga as a request.
 */
export interface LocustRequestsReport {
  stats: LocustStatsEntry[];
  errors: LocustError[];
  total_rps: number;
  total_fail_per_sec: number;
  fail_ratio: number;
  current_response_time_percentiles: Record<string, number>;
  state: RunnerState;
  user_count: number;
  target_user_count: number;
  host: string;
  timeout_seconds: number;
  sagas: SagaSnapshot[];
  saga_latency: SagaSnapshot;
  completed_sagas: number;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function toLocustEntry(entry: EntrySnapshot): LocustStatsEntry {
  return {
    method: entry.method,
    name: entry.name,
    safe_name: escapeHtml(entry.name),
    num_requests: entry.requests,
    num_failures: entry.failures,
    median_response_time: entry.medianMs,
    avg_response_time: entry.avgMs,
    min_response_time: Math.round(entry.minMs),
    max_response_time: Math.round(entry.maxMs),
    avg_content_length: entry.avgContentLength,
    current_rps: entry.currentRps,
    current_fail_per_sec: entry.currentFailPerSec,
    ninetieth_response_time: entry.percentiles['0.9'] ?? 0,
    ninety_ninth_response_time: entry.p99Ms,
    'response_time_percentile_0.95': entry.p95Ms,
    'response_time_percentile_0.99': entry.p99Ms,
  };
}

export function toLocustError(failure: FailureGroup): LocustError {
  return { method: failure.method, name: failure.name, error: failure.message, occurrences: failure.occurrences };
}

export interface RunnerView {
  state: RunnerState;
  userCount: number;
  targetUserCount: number;
  host: string;
  timeoutMs: number;
}

export function toLocustRequestsReport(snapshot: StatsSnapshot, runner: RunnerView): LocustRequestsReport {
  const aggregated = snapshot.aggregated;
  return {
    stats: [...snapshot.entries, aggregated].map(toLocustEntry),
    errors: snapshot.failures.map(toLocustError),
    total_rps: aggregated.currentRps,
    total_fail_per_sec: aggregated.currentFailPerSec,
    fail_ratio: snapshot.failRatio,
    current_response_time_percentiles: {
      'response_time_percentile_0.5': aggregated.currentMedianMs,
      'response_time_percentile_0.95': aggregated.currentP95Ms,
    },
    state: runner.state,
    user_count: runner.userCount,
    target_user_count: runner.targetUserCount,
    host: runner.host,
    timeout_seconds: runner.timeoutMs / 1000,
    sagas: snapshot.sagas,
    saga_latency: snapshot.sagaLatency,
    completed_sagas: snapshot.completedSagas,
  };
}
