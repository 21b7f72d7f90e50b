import { describe, expect, it } from 'vitest';
import { failuresCsv, requestStatsCsv, sagasCsv, statsHistoryCsv } from './csv.ts';
import { StatsHistory } from './history.ts';
import { toLocustRequestsReport } from './locust-report.ts';
import { RequestStats } from './request-stats.ts';
import { parseRunTime } from './run-time.ts';

function fakeClock(startMs: number) {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('RequestStats', () => {
  it('aggregates per name and in total, with exact min/max/avg and Locust percentiles', () => {
    const clock = fakeClock(1_000_000);
    const stats = new RequestStats(clock.now);
    stats.logRequest('POST', '/transaction/deposit', 10, 50);
    stats.logRequest('POST', '/transaction/deposit', 30, 50);
    stats.logRequest('GET', '/transaction/<txId>', 5.5, 60);
    stats.logRequest('GET', '/transaction/<txId>', 7.25, 70, 'HTTP 503: region_closed');
    const snapshot = stats.snapshot();
    expect(snapshot.entries.map((e) => e.name)).toEqual(['/transaction/<txId>', '/transaction/deposit']);
    const deposit = snapshot.entries[1]!;
    expect(deposit).toMatchObject({ requests: 2, failures: 0, minMs: 10, maxMs: 30, avgMs: 20, avgContentLength: 50, medianMs: 30 });
    const poll = snapshot.entries[0]!;
    expect(poll).toMatchObject({ requests: 2, failures: 1, minMs: 5.5, maxMs: 7.25 });
    expect(snapshot.aggregated).toMatchObject({ name: 'Aggregated', requests: 4, failures: 1, minMs: 5.5, maxMs: 30, avgContentLength: 57.5 });
    expect(snapshot.failRatio).toBe(0.25);
  });

  it('never reports a median outside [min, max] for a single slow request', () => {
    const stats = new RequestStats(() => 0);
    stats.logRequest('GET', '/x', 2_449, 0); // bucket 2400
    const [entry] = stats.snapshot().entries;
    expect(entry!.medianMs).toBe(2_449);
    expect(entry!.p99Ms).toBe(2_449);
  });

  it('groups failures by method, name and message, most frequent first', () => {
    const stats = new RequestStats(() => 0);
    stats.logRequest('POST', '/transaction/deposit', 1, 0, 'HTTP 503: region_closed');
    stats.logRequest('GET', '/transaction/<txId>', 1, 0, 'Saga rolled back (status#success_rollback)');
    stats.logRequest('GET', '/transaction/<txId>', 1, 0, 'Saga rolled back (status#success_rollback)');
    stats.logRequest('POST', '/transaction/withdraw', 1, 0, 'HTTP 503: region_closed');
    expect(stats.snapshot().failures).toEqual([
      { method: 'GET', name: '/transaction/<txId>', message: 'Saga rolled back (status#success_rollback)', occurrences: 2 },
      { method: 'POST', name: '/transaction/deposit', message: 'HTTP 503: region_closed', occurrences: 1 },
      { method: 'POST', name: '/transaction/withdraw', message: 'HTTP 503: region_closed', occurrences: 1 },
    ]);
  });

  it('bounds the number of failure groups', () => {
    const stats = new RequestStats(() => 0);
    for (let i = 0; i < 600; i++) stats.logRequest('GET', '/x', 1, 0, `unique ${i}`);
    const failures = stats.snapshot().failures;
    expect(failures.length).toBe(501);
    expect(failures.reduce((sum, f) => sum + f.occurrences, 0)).toBe(600);
  });

  it('computes current RPS and failures/s from the clock', () => {
    const clock = fakeClock(50_000);
    const stats = new RequestStats(clock.now);
    for (let second = 0; second < 12; second++) {
      for (let i = 0; i < 20; i++) stats.logRequest('GET', '/x', 1, 0, i < 5 ? 'boom' : undefined);
      clock.advance(1000);
    }
    const snapshot = stats.snapshot();
    expect(snapshot.aggregated.currentRps).toBe(20);
    expect(snapshot.aggregated.currentFailPerSec).toBe(5);
    expect(snapshot.entries[0]!.currentRps).toBe(20);
  });

  it('keeps saga latency apart from requests and combines kinds', () => {
    const stats = new RequestStats(() => 0);
    stats.logSagaCompleted('saga deposit', 300, false);
    stats.logSagaCompleted('saga deposit', 500, true);
    stats.logSagaCompleted('saga withdraw', 700, false);
    stats.logSagaAbandoned('saga withdraw');
    const snapshot = stats.snapshot();
    expect(snapshot.aggregated.requests).toBe(0);
    expect(snapshot.completedSagas).toBe(3);
    expect(snapshot.sagas.map((s) => [s.name, s.completed, s.rolledBack, s.abandoned])).toEqual([
      ['saga deposit', 2, 1, 0],
      ['saga withdraw', 1, 0, 1],
    ]);
    expect(snapshot.sagaLatency).toMatchObject({ completed: 3, succeeded: 2, rolledBack: 1, abandoned: 1, p50Ms: 500, p99Ms: 700, minMs: 300, maxMs: 700, avgMs: 500 });
  });

  it('reset clears everything and restarts the clock', () => {
    const clock = fakeClock(0);
    const stats = new RequestStats(clock.now);
    stats.logRequest('GET', '/x', 1, 0, 'boom');
    stats.logSagaCompleted('saga deposit', 1, false);
    clock.advance(5000);
    stats.reset();
    const snapshot = stats.snapshot();
    expect(snapshot).toMatchObject({ entries: [], failures: [], sagas: [], completedSagas: 0, startTime: 5000 });
  });
});

describe('Locust report and CSVs', () => {
  const clock = fakeClock(1_700_000_000_000);
  const stats = new RequestStats(clock.now);
  stats.logRequest('POST', '/transaction/deposit', 12, 56);
  stats.logRequest('GET', '/transaction/<txId>', 4, 66, 'Saga rolled back, "status#success_rollback"');
  clock.advance(2_000);
  const snapshot = stats.snapshot();

  it('uses Locust field names and puts Aggregated last', () => {
    const report = toLocustRequestsReport(snapshot, { state: 'running', userCount: 3, targetUserCount: 5, host: 'http://h', timeoutMs: 3000 });
    expect(report.stats.map((s) => s.name)).toEqual(['/transaction/<txId>', '/transaction/deposit', 'Aggregated']);
    expect(report.stats[2]).toMatchObject({ num_requests: 2, num_failures: 1, min_response_time: 4, max_response_time: 12, 'response_time_percentile_0.95': 12 });
    expect(report.errors).toEqual([{ method: 'GET', name: '/transaction/<txId>', error: 'Saga rolled back, "status#success_rollback"', occurrences: 1 }]);
    expect(report).toMatchObject({ state: 'running', user_count: 3, fail_ratio: 0.5, timeout_seconds: 3 });
    expect(report.stats[0]!.safe_name).toBe('/transaction/&lt;txId&gt;');
  });

  it('writes Locust CSV columns and quotes messages', () => {
    const requests = requestStatsCsv(snapshot).trim().split('\n');
    expect(requests[0]).toBe('Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%');
    expect(requests[2]).toBe('POST,/transaction/deposit,1,0,12,12,12,12,56,0.5,0,12,12,12,12,12,12,12,12,12,12,12');
    expect(requests[3]!.startsWith(',Aggregated,2,1,')).toBe(true);
    expect(failuresCsv(snapshot)).toBe('Method,Name,Error,Occurrences\nGET,/transaction/<txId>,"Saga rolled back, ""status#success_rollback""",1\n');
    expect(sagasCsv(snapshot).split('\n')[0]).toBe('Name,Completed,Succeeded,Rolled Back,Abandoned,50%,95%,99%,Average,Min,Max');
  });

  it('writes one history row per name and point', () => {
    const history = new StatsHistory(2);
    history.record(snapshot, 1);
    history.record(snapshot, 2);
    history.record(snapshot, 3);
    const lines = statsHistoryCsv(history.all()).trim().split('\n');
    expect(lines[0]!.startsWith('Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%')).toBe(true);
    expect(lines.length).toBe(1 + 2 * 3);
    expect(lines[1]!.startsWith('1700000002,2,GET,/transaction/<txId>,')).toBe(true);
  });
});

describe('parseRunTime', () => {
  it('accepts Locust run-time syntax', () => {
    expect(parseRunTime('60')).toBe(60_000);
    expect(parseRunTime('60s')).toBe(60_000);
    expect(parseRunTime('2m')).toBe(120_000);
    expect(parseRunTime('1h30m')).toBe(5_400_000);
    expect(parseRunTime('1h 30m 10s')).toBe(5_410_000);
  });

  it('rejects nonsense', () => {
    for (const bad of ['', 'abc', '10x', 'm', '-5s']) expect(() => parseRunTime(bad)).toThrow(/invalid run time/);
  });
});
