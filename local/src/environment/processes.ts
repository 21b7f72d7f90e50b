import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ServiceProcess {
  name: string;
  pid: number | undefined;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>;
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
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let ended = false;
  void exited.then(() => (ended = true));

  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number) => {
    if (ended) return;
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
    exited,
    stop: (graceMs = 5000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 5000),
  };
}
