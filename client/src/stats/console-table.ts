import type { EntrySnapshot, StatsSnapshot } from './request-stats.ts';
import { CSV_PERCENTILES } from './request-stats.ts';

/** Locust's headless console tables, so the output reads the same as `locust --headless`. */

const NAME_WIDTH = 40;

function pad(text: string, width: number, alignRight = false): string {
  if (text.length >= width) return text.slice(0, width);
  return alignRight ? text.padStart(width) : text.padEnd(width);
}

function fixed(value: number, digits = 0): string {
  return value.toFixed(digits);
}

function requestsRow(entry: EntrySnapshot, type: string): string {
  const failPercent = entry.requests === 0 ? 0 : (entry.failures / entry.requests) * 100;
  return [
    pad(type, 8),
    pad(entry.name, NAME_WIDTH),
    pad(String(entry.requests), 7, true),
    pad(`${entry.failures}(${failPercent.toFixed(2)}%)`, 14, true),
    '|',
    pad(fixed(entry.avgMs), 7, true),
    pad(fixed(entry.minMs), 7, true),
    pad(fixed(entry.maxMs), 7, true),
    pad(fixed(entry.medianMs), 7, true),
    '|',
    pad(fixed(entry.currentRps, 2), 7, true),
    pad(fixed(entry.currentFailPerSec, 2), 11, true),
  ].join(' ');
}

export function formatRequestsTable(snapshot: StatsSnapshot): string {
  const header = [
    pad('Type', 8), pad('Name', NAME_WIDTH), pad('# reqs', 7, true), pad('# fails', 14, true), '|',
    pad('Avg', 7, true), pad('Min', 7, true), pad('Max', 7, true), pad('Med', 7, true), '|',
    pad('req/s', 7, true), pad('failures/s', 11, true),
  ].join(' ');
  const rule = '-'.repeat(header.length);
  const rows = snapshot.entries.map((entry) => requestsRow(entry, entry.method));
  return [header, rule, ...rows, rule, requestsRow(snapshot.aggregated, ''), ''].join('\n');
}

export function formatPercentilesTable(snapshot: StatsSnapshot): string {
  const labels = CSV_PERCENTILES.map((p) => `${Math.round(p * 10000) / 100}%`);
  const header = [pad('Type', 8), pad('Name', NAME_WIDTH), ...labels.map((l) => pad(l, 6, true)), pad('# reqs', 7, true)].join(' ');
  const rule = '-'.repeat(header.length);
  const row = (entry: EntrySnapshot, type: string) =>
    [pad(type, 8), pad(entry.name, NAME_WIDTH), ...CSV_PERCENTILES.map((p) => pad(entry.requests === 0 ? 'N/A' : fixed(entry.percentiles[String(p)] ?? 0), 6, true)), pad(String(entry.requests), 7, true)].join(' ');
  return ['Response time percentiles (approximated)', header, rule, ...snapshot.entries.map((e) => row(e, e.method)), rule, row(snapshot.aggregated, ''), ''].join('\n');
}

export function formatFailuresTable(snapshot: StatsSnapshot): string {
  if (snapshot.failures.length === 0) return 'Error report: no failures\n';
  const header = `${pad('# occurrences', 14, true)}  Error`;
  const rule = '-'.repeat(80);
  const rows = snapshot.failures.map((f) => `${pad(String(f.occurrences), 14, true)}  ${f.method} ${f.name}: ${f.message}`);
  return ['Error report', header, rule, ...rows, rule, ''].join('\n');
}

export function formatSagasTable(snapshot: StatsSnapshot): string {
  const header = [pad('Saga (POST to terminal status)', NAME_WIDTH), pad('done', 7, true), pad('ok', 7, true), pad('rollbk', 7, true), pad('abandon', 7, true), '|', pad('p50', 7, true), pad('p95', 7, true), pad('p99', 7, true), pad('max', 7, true)].join(' ');
  const rule = '-'.repeat(header.length);
  const row = (s: StatsSnapshot['sagaLatency']) =>
    [pad(s.name, NAME_WIDTH), pad(String(s.completed), 7, true), pad(String(s.succeeded), 7, true), pad(String(s.rolledBack), 7, true), pad(String(s.abandoned), 7, true), '|', pad(fixed(s.p50Ms), 7, true), pad(fixed(s.p95Ms), 7, true), pad(fixed(s.p99Ms), 7, true), pad(fixed(s.maxMs), 7, true)].join(' ');
  return [header, rule, ...snapshot.sagas.map(row), rule, row(snapshot.sagaLatency), ''].join('\n');
}
