import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@corebank/kit';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ServiceProcess {
  name: string;
  pid: number | undefined;
  /** Where its standard output and error go. */
  logFile: string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>;
  /** The exit code (or the signal's name) once the process has ended, else undefined. */
  exitStatus(): number | string | undefined;
  /** SIGTERM, then SIGKILL if it has not ended within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Ends the process at once, as a crash or an OOM kill would. */
  kill(): Promise<void>;
}

/**
 * Runs one service as its own Node process, from its built bundle (`script`, see
 * local/bin/build.js) as a container would, with its output appended to `logFile`.
 */
export function startServiceProcess(options: { name: string; script: string; env: Record<string, string>; logFile: string }): ServiceProcess {
  const log = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [options.script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let status: number | string | undefined;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      status = code ?? signal ?? 'unknown';
      resolve(status);
    }),
  );

  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number) => {
    if (status !== undefined) return;
    child.kill(signal);
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([exited, timer])) === 'late') {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return {
    name: options.name,
    pid: child.pid,
    logFile: options.logFile,
    exited,
    exitStatus: () => status,
    stop: (graceMs = 5000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 5000),
  };
}

class ExitedAtStartError extends Error {
  override name = 'ExitedAtStartError';
}

/**
 * Polls `check` until `service` answers as started. If the process exits first (its port in
 * use, a bad setting), fails at once with the line of its log that says why, not at the deadline.
 */
export async function waitForServiceProcess(service: ServiceProcess, what: string, check: () => Promise<unknown>, signal?: AbortSignal, timeoutMs = 30_000): Promise<void> {
  const throwIfExited = () => {
    const status = service.exitStatus();
    if (status !== undefined) throw new ExitedAtStartError(`${what} exited at start (${status}): ${lastErrorLine(service.logFile)} (see ${service.logFile})`);
  };
  await waitFor(what, async () => {
    throwIfExited();
    await check();
    // Another program on the port can answer the check for it.
    throwIfExited();
  }, timeoutMs, 100, signal, (error) => error instanceof ExitedAtStartError);
}

/**
 * The log's line that says why: the last that starts with an error's name (Node's report of an
 * uncaught error follows it with a stack, the error's fields and its version), else the last
 * that mentions an error, else the last.
 */
function lastErrorLine(logFile: string): string {
  let lines: string[];
  try {
    lines = readFileSync(logFile, 'utf8').slice(-16_384).split('\n').map((line) => line.trim()).filter(Boolean);
  } catch {
    return 'no log';
  }
  return lines.filter((line) => /^([A-Z]\w*)?Error\b/.test(line)).at(-1) ?? lines.filter((line) => /error/i.test(line)).at(-1) ?? lines.at(-1) ?? 'nothing logged';
}

/** Whether `pid` runs: not ended, and not a zombie waiting for its parent to collect it. */
export function isProcessAlive(pid: number): boolean {
  if (!existsSync('/proc')) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
