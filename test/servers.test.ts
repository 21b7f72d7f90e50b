import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { descendantsOf } from '../local/src/bench/process-cpu.ts';
import { isProcessAlive } from '../local/src/environment/processes.ts';
import { freePort } from '@corebank/kit';
import { startTestServers } from './servers.ts';

/** A port something else already listens on: a server told to use it cannot start. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, server };
}

describe.runIf(existsSync('/proc/self/stat'))('the test run\'s set-up', () => {
  let blocker: Server | undefined;
  afterEach(() => blocker?.close());

  it.each([
    ['PostgreSQL', 'dynamodb-local'],
    ['DynamoDB Local', 'postgres'],
  ] as const)('when %s cannot start, stops the %s it started and rejects', async (failing, survivorRole) => {
    const busy = await busyPort();
    blocker = busy.server;
    // Every server process seen while the set-up runs, by pid, to check each is gone after.
    const seen = new Map<number, string>();
    const watch = setInterval(() => {
      for (const { pid, role } of descendantsOf(process.pid) ?? []) if (role !== 'other') seen.set(pid, role);
    }, 20);
    try {
      await expect(startTestServers(failing === 'PostgreSQL' ? { postgres: busy.port } : { dynamodb: busy.port })).rejects.toThrow();
    } finally {
      clearInterval(watch);
    }
    expect([...seen.values()]).toContain(survivorRole);
    const remaining = [...seen.keys()].filter(isProcessAlive);
    expect(remaining).toEqual([]);
    expect(descendantsOf(process.pid)!.filter(({ role }) => role !== 'other')).toEqual([]);
  });
});
