/**
 * The seed's own load client, unchanged in kind: Debian's Locust (Python, requests) runs the
 * seed's scenario through the global endpoint of a local system. It once failed there
 * (400 after a Connection: close deposit, connection errors) while it worked straight
 * against the transaction service.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { apiClient } from '../e2e/api-client.ts';

const LOCUST = '/usr/bin/locust';
const LOCUSTFILE = join(import.meta.dirname, 'locustfile.py');
const USERS = 10;
const RUN_SECONDS = 30;

/** Locust's `<prefix>_stats.csv`: one row per request name, plus the `Aggregated` row. */
function readStats(csvPath: string) {
  const [header, ...rows] = readFileSync(csvPath, 'utf8').trim().split('\n').map((line) => line.split(','));
  const column = (name: string) => header!.indexOf(name);
  return rows.map((row) => ({
    name: row[column('Name')]!,
    requests: Number(row[column('Request Count')]),
    failures: Number(row[column('Failure Count')]),
  }));
}

function runLocust(host: string, workDir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      LOCUST,
      ['-f', LOCUSTFILE, '--headless', '-u', String(USERS), '-r', String(USERS), '-t', `${RUN_SECONDS}s`, '--host', host, '--csv', join(workDir, 'locust'), '--only-summary', '--loglevel', 'WARNING'],
      { cwd: workDir, env: { ...process.env, SAGA_LOG: join(workDir, 'sagas.txt') }, timeout: (RUN_SECONDS + 60) * 1000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}

let system: Awaited<ReturnType<typeof startScratchSystem>>;
const workDir = mkdtempSync(join(tmpdir(), 'corebank-locust-'));

beforeAll(async () => {
  if (!existsSync(LOCUST)) throw new Error(`${LOCUST} is missing: apt-get install -y python3-locust (.ci/run installs it)`);
  system = await startScratchSystem({ tmpPrefix: 'corebank-interop-' });
}, 180_000);
afterAll(async () => {
  await system?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 60_000);

/** Sends `text` on a fresh socket and resolves with all the server sent once it closed the socket (or rejects after 5 s). */
function exchangeUntilClosed(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the endpoint kept the socket open after answering:\n${received}`));
    }, 5000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      clearTimeout(giveUp);
      socket.destroy();
      resolve(received);
    });
    socket.write(text);
  });
}

describe('a raw socket through the global endpoint', () => {
  it('gets connection: close and a closed socket after a Connection: close deposit, as the seed sends it', async () => {
    const body = '{"quantity": 1000}';
    const port = Number(new URL(system.globalEndpoint).port);
    const reply = await exchangeUntilClosed(
      port,
      ['POST /transaction/deposit HTTP/1.1', 'Host: api.example.com', 'X_ACCOUNT_ID: rawsocketaccount', 'Content-Type: application/json', `Content-Length: ${body.length}`, 'Connection: close', '', body].join('\r\n'),
    );
    const [head] = reply.split('\r\n\r\n');
    const lines = head!.toLowerCase().split('\r\n');
    expect(lines[0]).toMatch(/^http\/1\.1 200 /);
    expect(lines.filter((line) => line.startsWith('connection:'))).toEqual(['connection: close']);
    expect(lines.filter((line) => line.startsWith('keep-alive:'))).toEqual([]);
  });
});

describe(`Locust (${LOCUST}) through the global endpoint`, () => {
  it(`runs the seed's scenario for ${RUN_SECONDS} s at ${USERS} users with no failure, and every saga it started ends status#success`, async () => {
    const { code, output } = await runLocust(system.globalEndpoint.replace('localhost', '127.0.0.1'), workDir);

    const stats = readStats(join(workDir, 'locust_stats.csv'));
    const total = stats.find((row) => row.name === 'Aggregated');
    const failures = existsSync(join(workDir, 'locust_failures.csv')) ? readFileSync(join(workDir, 'locust_failures.csv'), 'utf8') : '';
    expect(total?.failures, `Locust failures:\n${failures}\n${output}`).toBe(0);
    expect(code, output).toBe(0);
    for (const name of ['/transaction/deposit', '/transaction/withdraw', '/transaction/[transactionId]']) {
      expect(stats.find((row) => row.name === name)?.requests, name).toBeGreaterThan(0);
    }

    const sagas = readFileSync(join(workDir, 'sagas.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]);
    // 10 users, each saga at least one 0.5 s poll: a working system starts well over 100.
    expect(sagas.length).toBeGreaterThan(100);
    const api = apiClient(system.globalEndpoint);
    const outcomes = new Map<string, number>();
    for (const [account, transactionId] of sagas) {
      const status = await api.finished(account, transactionId);
      outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
    }
    expect(Object.fromEntries(outcomes)).toEqual({ 'status#success': sagas.length });
  }, (RUN_SECONDS + 120) * 1000);
});
