import { AGGREGATED_NAME, CSV_PERCENTILES, type EntrySnapshot, type HistoryPoint, type StatsSnapshot } from './request-stats.ts';

/** Column headers follow Locust's CSV files so scripts written for Locust read ours. */
const PERCENTILE_HEADERS = CSV_PERCENTILES.map((p) => `${formatPercentileLabel(p)}%`);

function formatPercentileLabel(fraction: number): string {
  return String(Math.round(fraction * 100 * 100) / 100);
}

function csvField(value: string | number): string {
  const text = typeof value === 'number' ? formatNumber(value) : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Math.round(value * 1e6) / 1e6);
}

function csvLine(fields: Array<string | number>): string {
  return fields.map(csvField).join(',') + '\n';
}

function entryType(entry: EntrySnapshot): string {
  return entry.name === AGGREGATED_NAME ? '' : entry.method;
}

function percentileFields(percentiles: Record<string, number>, requests: number): Array<string | number> {
  // Locust writes N/A for percentiles of an entry without requests.
  return CSV_PERCENTILES.map((p) => (requests === 0 ? 'N/A' : (percentiles[String(p)] ?? 0)));
}

/** `{prefix}_stats.csv`: one row per name and the Aggregated row. Requests/s is over the whole run. */
export function requestStatsCsv(snapshot: StatsSnapshot): string {
  const seconds = Math.max((snapshot.time - snapshot.startTime) / 1000, 1e-9);
  let out = csvLine([
    'Type', 'Name', 'Request Count', 'Failure Count', 'Median Response Time', 'Average Response Time',
    'Min Response Time', 'Max Response Time', 'Average Content Size', 'Requests/s', 'Failures/s', ...PERCENTILE_HEADERS,
  ]);
  for (const entry of [...snapshot.entries, snapshot.aggregated]) {
    out += csvLine([
      entryType(entry), entry.name, entry.requests, entry.failures, entry.medianMs, entry.avgMs,
      entry.minMs, entry.maxMs, entry.avgContentLength, entry.requests / seconds, entry.failures / seconds,
      ...percentileFields(entry.percentiles, entry.requests),
    ]);
  }
  return out;
}

/** `{prefix}_failures.csv`: failures grouped by method, name and message. */
export function failuresCsv(snapshot: StatsSnapshot): string {
  let out = csvLine(['Method', 'Name', 'Error', 'Occurrences']);
  for (const failure of snapshot.failures) out += csvLine([failure.method, failure.name, failure.message, failure.occurrences]);
  return out;
}

/** `{prefix}_stats_history.csv`: every recorded point, one row per name; percentiles are of the last ten seconds. */
export function statsHistoryCsv(history: HistoryPoint[]): string {
  let out = csvLine([
    'Timestamp', 'User Count', 'Type', 'Name', 'Requests/s', 'Failures/s', ...PERCENTILE_HEADERS,
    'Total Request Count', 'Total Failure Count', 'Total Median Response Time', 'Total Average Response Time',
    'Total Min Response Time', 'Total Max Response Time', 'Total Average Content Size',
  ]);
  for (const point of history) {
    for (const entry of point.entries) {
      out += csvLine([
        Math.floor(point.time / 1000), point.userCount, entryType(entry), entry.name, entry.currentRps, entry.currentFailPerSec,
        ...percentileFields(entry.currentPercentiles, entry.requests),
        entry.requests, entry.failures, entry.medianMs, entry.avgMs, entry.minMs, entry.maxMs, entry.avgContentLength,
      ]);
    }
  }
  return out;
}

/** `{prefix}_sagas.csv` (not in Locust): time from POST to terminal status per saga kind. */
export function sagasCsv(snapshot: StatsSnapshot): string {
  let out = csvLine(['Name', 'Completed', 'Succeeded', 'Rolled Back', 'Abandoned', '50%', '95%', '99%', 'Average', 'Min', 'Max']);
  for (const saga of [...snapshot.sagas, snapshot.sagaLatency]) {
    out += csvLine([saga.name, saga.completed, saga.succeeded, saga.rolledBack, saga.abandoned, saga.p50Ms, saga.p95Ms, saga.p99Ms, saga.avgMs, saga.minMs, saga.maxMs]);
  }
  return out;
}
