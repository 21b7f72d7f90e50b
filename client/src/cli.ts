import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_POLL_INTERVAL_MS, DEFAULT_TIMEOUT_MS } from './engine/load-runner.ts';
import { checkRun, runHeadless } from './headless.ts';
import { parseRunTime } from './stats/run-time.ts';
import { DEFAULT_TARGET_HOST, DEFAULT_WEB_PORT, startWebUi } from './web/web-ui.ts';

export interface LoadCommandOptions {
  port: number;
  webHost: string;
  host: string;
  timeout: number;
  pollInterval: number;
  headless?: boolean;
  users: number;
  spawnRate: number;
  runTime?: number;
  csv?: string;
  check?: boolean;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function runTime(value: string): number {
  try {
    return parseRunTime(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Adds the load client's options and action to `command` (the standalone entry and `corebank load` share it). */
export function configureLoadCommand(command: Command): Command {
  return command
    .description('Locust-style load client for corebank: web UI on :8089, or --headless')
    .addOption(new Option('--port <port>', 'web UI port').env('PORT').default(DEFAULT_WEB_PORT).argParser(nonNegativeInteger))
    .addOption(new Option('--web-host <address>', 'interface the web UI binds').env('WEB_HOST').default('0.0.0.0'))
    .addOption(new Option('-H, --host <url>', 'corebank API base URL (the form\'s default Host)').env('LOAD_HOST').default(DEFAULT_TARGET_HOST))
    .addOption(new Option('--timeout <seconds>', 'per-request timeout').env('TIMEOUT_SECONDS').default(DEFAULT_TIMEOUT_MS / 1000).argParser(positiveNumber))
    .addOption(new Option('--poll-interval <ms>', 'delay between status polls').env('POLL_INTERVAL_MS').default(DEFAULT_POLL_INTERVAL_MS).argParser(nonNegativeInteger))
    .option('--headless', 'run without the web UI, printing tables to stdout')
    .addOption(new Option('-u, --users <n>', 'number of users (headless)').default(10).argParser(nonNegativeInteger))
    .addOption(new Option('-r, --spawn-rate <n>', 'users started per second (headless)').default(1).argParser(positiveNumber))
    .addOption(new Option('-t, --run-time <time>', 'stop after e.g. 60s, 2m, 1h30m (headless; default: until Ctrl-C)').argParser(runTime))
    .option('--csv <prefix>', 'write PREFIX_stats.csv, PREFIX_failures.csv, PREFIX_stats_history.csv, PREFIX_sagas.csv (headless)')
    .option('--check', 'exit 1 unless every scenario request was made and none failed (headless)')
    .action(async (options: LoadCommandOptions) => {
      process.exitCode = options.headless ? await runHeadlessCommand(options) : await runWebUiCommand(options);
    });
}

/** Mounts `load` on a commander program, e.g. the local `corebank` CLI. */
export function registerLoadCommand(program: Command): Command {
  return configureLoadCommand(program.command('load'));
}

async function runHeadlessCommand(options: LoadCommandOptions): Promise<number> {
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write('\nStopping (press Ctrl-C again to quit at once)...\n');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const stats = await runHeadless({
      host: options.host,
      users: options.users,
      spawnRate: options.spawnRate,
      timeoutMs: options.timeout * 1000,
      pollIntervalMs: options.pollInterval,
      runTimeMs: options.runTime,
      csvPrefix: options.csv,
      signal: interrupt.signal,
    });
    if (!options.check) return 0;
    const result = checkRun(stats);
    if (result.ok) {
      process.stdout.write('Check passed: every request name was exercised without failures.\n');
      return 0;
    }
    process.stderr.write(`Check failed:\n${result.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runWebUiCommand(options: LoadCommandOptions): Promise<number> {
  const ui = await startWebUi({
    port: options.port,
    host: options.webHost,
    defaultHost: options.host,
    timeoutMs: options.timeout * 1000,
    pollIntervalMs: options.pollInterval,
  });
  process.stdout.write(`corebank load client: web UI on ${ui.url} (target ${options.host})\n`);
  await new Promise<void>((resolve) => {
    const shutdown = () => {
      process.off('SIGINT', shutdown);
      process.off('SIGTERM', shutdown);
      resolve();
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
  await ui.close();
  return 0;
}
