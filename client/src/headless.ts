import { writeFile } from 'node:fs/promises';
import { failuresCsv, requestStatsCsv, sagasCsv, statsHistoryCsv } from './stats/csv.ts';
import { formatFailuresTable, formatPercentilesTable, formatRequestsTable, formatSagasTable } from './stats/console-table.ts';
import { createLoadRunner, type LoadRunnerOptions, type LoadStats } from './engine/load-runner.ts';
import { SCENARIO_REQUEST_NAMES } from './engine/scenario.ts';

export interface HeadlessOptions extends LoadRunnerOptions {
  users: number;
  spawnRate: number;
  /** Stop after this long; without it the run lasts until `signal` aborts. */
  runTimeMs?: number;
  /** Write `{csvPrefix}_stats.csv`, `_failures.csv`, `_stats_history.csv` and `_sagas.csv` at the end. */
  csvPrefix?: string;
  /** Print the tables every this many ms (0 = only at the end). Default 2000, as Locust. */
  printIntervalMs?: number;
  /** Where the tables go; default stdout. Pass `() => {}` to stay silent. */
  print?: (text: string) => void;
  /** Stops the run early (the CLI wires SIGINT to it); the summary is still produced. */
  signal?: AbortSignal;
}

export interface CheckResult {
  ok: boolean;
  problems: string[];
}

/** `--check`: every scenario request name was exercised and nothing failed. */
export function checkRun(stats: LoadStats): CheckResult {
  const problems: string[] = [];
  for (const name of SCENARIO_REQUEST_NAMES) {
    const entry = stats.entries.find((e) => e.name === name);
    if (!entry || entry.requests === 0) problems.push(`${name}: no request was made`);
    else if (entry.failures > 0) problems.push(`${name}: ${entry.failures} of ${entry.requests} requests failed`);
  }
  for (const entry of stats.entries) {
    if (!(SCENARIO_REQUEST_NAMES as readonly string[]).includes(entry.name) && entry.failures > 0) problems.push(`${entry.name}: ${entry.failures} failures`);
  }
  return { ok: problems.length === 0, problems };
}

export function formatSummary(stats: LoadStats): string {
  return [formatRequestsTable(stats), formatSagasTable(stats)].join('\n');
}

export function formatFinalReport(stats: LoadStats): string {
  return [formatRequestsTable(stats), formatPercentilesTable(stats), formatSagasTable(stats), formatFailuresTable(stats)].join('\n');
}

export async function writeCsvFiles(prefix: string, stats: LoadStats): Promise<string[]> {
  const files: Array<[string, string]> = [
    [`${prefix}_stats.csv`, requestStatsCsv(stats)],
    [`${prefix}_failures.csv`, failuresCsv(stats)],
    [`${prefix}_stats_history.csv`, statsHistoryCsv(stats.history)],
    [`${prefix}_sagas.csv`, sagasCsv(stats)],
  ];
  await Promise.all(files.map(([path, text]) => writeFile(path, text)));
  return files.map(([path]) => path);
}

/** Runs the scenario without UI and resolves with the final statistics (after printing and CSVs). */
export async function runHeadless(options: HeadlessOptions): Promise<LoadStats> {
  const print = options.print ?? ((text: string) => process.stdout.write(text + '\n'));
  const runner = createLoadRunner(options);
  let printTimer: NodeJS.Timeout | undefined;
  try {
    runner.start({ users: options.users, spawnRate: options.spawnRate });
    const printIntervalMs = options.printIntervalMs ?? 2_000;
    if (printIntervalMs > 0) printTimer = setInterval(() => print(formatSummary(runner.stats())), printIntervalMs);
    await new Promise<void>((resolve) => {
      const timer = options.runTimeMs === undefined ? undefined : setTimeout(finish, options.runTimeMs);
      function finish() {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', finish);
        resolve();
      }
      if (options.signal?.aborted) finish();
      else options.signal?.addEventListener('abort', finish, { once: true });
    });
    clearInterval(printTimer);
    await runner.stop();
    const stats = runner.stats();
    print(formatFinalReport(stats));
    if (options.csvPrefix) print(`CSV written: ${(await writeCsvFiles(options.csvPrefix, stats)).join(', ')}`);
    return stats;
  } finally {
    clearInterval(printTimer);
    await runner.close();
  }
}
