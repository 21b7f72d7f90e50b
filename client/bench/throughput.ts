/**
 * Shows that one load-client process is not the bottleneck: it must sustain at least
 * 5,000 requests/s against a server that answers instantly (a separate process on loopback).
 *   npx tsx client/bench/throughput.ts [--seconds 10] [--users 200]
 * Prints two figures: wall-clock requests/s, and the client's own capacity (requests per
 * CPU-second of this process), which is what one core would sustain if the fake server and
 * other processes were not competing for the CPU. Exits 1 when the client's own capacity
 * misses the target (a busy shared machine lowers the wall-clock figure, not the capacity).
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadavg } from 'node:os';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLoadRunner } from '../src/engine/load-runner.ts';

// As in main.ts: node's stream destroy reads error.stack, and tsx's source maps make that costly.
process.setSourceMapsEnabled(false);

const TARGET_RPS = 5_000;
const WARM_UP_MS = 1_000;

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, users: { type: 'string', default: '200' } } });
const measureMs = Number(values.seconds) * 1000;
const users = Number(values.users);

const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./instant-server.ts', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
});
try {
  const [firstLine] = (await once(child.stdout!, 'data')) as [Buffer];
  const host = firstLine.toString().trim();
  // pollIntervalMs 0: every user issues its next request as soon as the previous one answers.
  const runner = createLoadRunner({ host, pollIntervalMs: 0, timeoutMs: 3_000 });
  runner.start({ users, spawnRate: users * 100 });
  await sleep(WARM_UP_MS);
  const before = runner.stats().aggregated;
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  await sleep(measureMs);
  const after = runner.stats();
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedS = (performance.now() - startedAt) / 1000;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  await runner.close();

  const requests = after.aggregated.requests - before.requests;
  const failures = after.aggregated.failures - before.failures;
  const rps = requests / elapsedS;
  console.log(`users: ${users}, measured: ${elapsedS.toFixed(1)} s after ${WARM_UP_MS / 1000} s warm-up`);
  console.log(`requests: ${requests}, failures: ${failures}, completed sagas: ${after.completedSagas}`);
  console.log(`median ${after.aggregated.medianMs} ms, p99 ${after.aggregated.p99Ms} ms`);
  const capacity = requests / cpuS;
  console.log(`client CPU: ${cpuS.toFixed(1)} s in ${elapsedS.toFixed(1)} s (${((cpuS / elapsedS) * 100).toFixed(0)}% of a core); load average ${loadavg()[0]!.toFixed(2)}`);
  console.log(`throughput: ${rps.toFixed(0)} requests/s = ${(rps / TARGET_RPS).toFixed(2)} × the ${TARGET_RPS} requests/s target (wall clock)`);
  console.log(`client capacity: ${capacity.toFixed(0)} requests per CPU-second = ${(capacity / TARGET_RPS).toFixed(2)} × the target`);
  process.exitCode = capacity >= TARGET_RPS && failures === 0 ? 0 : 1;
} finally {
  child.kill('SIGTERM');
}
