import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuByRole, cpuSince, roleOf, rssByRole } from './process-cpu.ts';

describe('roleOf', () => {
  it.each([
    ['/usr/bin/node --import tsx services/balance/src/main.ts', 'balance'],
    ['/usr/bin/node --import tsx services/count/src/main.ts', 'count'],
    ['/usr/bin/node --import tsx services/transaction/src/api-main.ts', 'transaction'],
    ['/usr/bin/node --import tsx services/transaction/src/worker-main.ts', 'transaction-worker'],
    ['/usr/bin/node --import tsx local/src/environment/endpoints-main.ts', 'endpoints'],
    ['/usr/bin/node services/balance/dist/main.js', 'balance'],
    ['/usr/bin/node services/count/dist/main.js', 'count'],
    ['/usr/bin/node services/transaction/dist/api-main.js', 'transaction'],
    ['/usr/bin/node services/transaction/dist/worker-main.js', 'transaction-worker'],
    ['/usr/bin/node local/dist/endpoints-main.js', 'endpoints'],
    ['/usr/bin/node client/dist/main.js', 'load client'],
    ['java -Xmx1g -jar /x/DynamoDBLocal.jar -port 8000', 'dynamodb-local'],
    ['/x/native/bin/postgres -D /data -p 54320', 'postgres'],
    ['postgres: postgres balance 127.0.0.1(38412) idle', 'postgres'],
    ['/x/esbuild --service=0.25.0 --ping', 'other'],
  ])('%s → %s', (commandLine, role) => expect(roleOf(commandLine)).toBe(role));
});

describe.runIf(existsSync('/proc/self/stat'))('cpuByRole', () => {
  it('counts this process and the CPU its children burn', async () => {
    const before = cpuByRole(process.pid, 'test')!;
    expect(before.get('test')).toBeGreaterThan(0);
    // A child that spins until it has used 300 ms of CPU, and stays alive until it is read.
    const spin = 'while (process.cpuUsage().user < 300_000); console.log("done"); setInterval(() => {}, 1000)';
    const child = spawn(process.execPath, ['-e', spin], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve));
      const spent = cpuSince(before, cpuByRole(process.pid, 'test')!);
      expect(spent.find((entry) => entry.role === 'other')?.ms).toBeGreaterThanOrEqual(250);
    } finally {
      child.kill();
    }
  });
});

describe.runIf(existsSync('/proc/self/status'))('rssByRole', () => {
  it('reads the resident memory of this process and of a child that holds 64 MB more', async () => {
    const child = spawn(process.execPath, ['-e', 'const held = Buffer.alloc(64 * 1024 * 1024, 1); console.log("done"); setInterval(() => held, 1000)'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve));
      const rss = rssByRole(process.pid, 'test')!;
      expect(rss.find((entry) => entry.role === 'test')?.mb).toBeGreaterThan(20);
      expect(rss.find((entry) => entry.role === 'other')?.mb).toBeGreaterThanOrEqual(64);
    } finally {
      child.kill();
    }
  });
});
