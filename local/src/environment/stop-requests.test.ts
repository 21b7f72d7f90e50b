import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { isProcessAlive, REPO_ROOT } from './processes.ts';
import { startUntilStopRequest } from './stop-requests.ts';

const FIXTURE = 'local/test/fixtures/stop-requests.ts';
const shells: ChildProcess[] = [];
const pids: number[] = [];

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  for (const shell of shells.splice(0)) shell.kill('SIGKILL');
});

/** The fixture under `sh -c`, as npm runs a script (`; true` keeps any shell from exec-ing it); resolves once it is ready. */
async function startUnderShell() {
  const shell = spawn('sh', ['-c', `"${process.execPath}" --import tsx ${FIXTURE}; true`], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  shells.push(shell);
  let output = '';
  shell.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let pid = 0;
  await waitFor('the fixture', async () => {
    const ready = /ready (\d+)/.exec(output);
    if (!ready) throw new Error(`not ready: ${JSON.stringify(output)}`);
    pid = Number(ready[1]);
  }, 30_000, 50);
  pids.push(pid);
  return { shell, pid, output: () => output };
}

describe('onStopRequest', () => {
  it('stops when the shell that ran it is ended by SIGTERM, which a shell does not pass on', async () => {
    const { shell, pid, output } = await startUnderShell();
    shell.kill('SIGTERM');
    await waitFor('the fixture to stop', async () => {
      if (isProcessAlive(pid)) throw new Error('still running');
    }, 10_000, 50);
    expect(output()).toContain('stop: the process that started it ended');
  });

  it.each(['SIGHUP', 'SIGTERM', 'SIGINT'] as const)('stops on %s', async (signal) => {
    const { pid, output } = await startUnderShell();
    process.kill(pid, signal);
    await waitFor('the fixture to stop', async () => {
      if (isProcessAlive(pid)) throw new Error('still running');
    }, 10_000, 50);
    expect(output()).toContain(`stop: ${signal}`);
  });
});

describe('startUntilStopRequest', () => {
  it('stops a system whose start ended although a stop request had come while it ran', async () => {
    const stopped: string[] = [];
    const { system, stopListening } = await startUntilStopRequest(async (signal) => {
      process.kill(process.pid, 'SIGHUP');
      await waitFor('the abort', async () => expect(signal.aborted).toBe(true), 5_000, 10);
      // Past its last check of the signal, the start finishes anyway.
      return 'the system';
    }, (started, why) => stopped.push(`${started} (${why})`));
    stopListening();
    expect(system).toBe('the system');
    expect(stopped).toEqual(['the system (SIGHUP)']);
  });
});
