/**
 * `npm run bench`: how the local system feels to its users, judged against three targets in
 * one run on the same DynamoDB Local:
 *
 * - at the seed's pace (10 users, each polling every 0.5 s, as its Locust file does: far
 *   below saturation), p50 of POST → terminal ≤ 1.2 × the p50 of one user alone, p99 ≤ 3 ×
 *   it: no queueing at the load the seed runs. A saga ends where the server recorded its
 *   end (`updatedAt`), not at the poll that saw it;
 * - at 32 closed-loop users (each polling every 5 ms), saga throughput ≥ 0.6 × what the
 *   DynamoDB allows: its ceiling of 3-item TransactWriteItems per second at that
 *   concurrency ÷ the transact writes a saga costs;
 * - the CPU per saga of each process, printed for each load, and where the closed loop's
 *   share comes from: cores × DynamoDB Local's CPU per saga ÷ everyone's (closedLoopBound);
 * - the cost of the instrumentation: the system above runs as `npm start` does, every service
 *   tracing to the monitor; the closed loop runs again on a second fresh system without the
 *   monitor (tracing off), and the first's throughput must be ≥ 0.85 × the second's.
 *
 *   npm run bench -- [--duration 20] [--seed-users 10] [--closed-users 32] [--host URL --dynamodb URL]
 *
 * Without --host it starts a fresh local system (temporary data, free ports) and stops it.
 * It exits with 1 when a target is missed.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createLoadRunner } from '@corebank/client';
import { createDynamoClients } from '@corebank/transaction';
import { callsFor, createKeyedTable, TRANSACT_WRITES_PER_SAGA } from './support.ts';
import { cpuByRole, cpuSince, rssByRole } from './process-cpu.ts';
import { TOKYO } from '../environment/regions.ts';
import { withScratchSystem } from '../environment/scratch-system.ts';

const WARM_UP_MS = 5000;
/** The seed's Locust file waits this long between polls. */
const SEED_POLL_MS = 500;
const CLOSED_LOOP_POLL_MS = 5;
const SEED_P50_FACTOR = 1.2;
const SEED_P99_FACTOR = 3;
const TARGET_THROUGHPUT_SHARE = 0.6;
/** Throughput with tracing on (the monitor receiving every span) ÷ throughput with it off. */
const TARGET_INSTRUMENTED_RATIO = 0.85;

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    'seed-users': { type: 'string', default: '10' },
    'closed-users': { type: 'string', default: '32' },
    'ceiling-seconds': { type: 'string', default: '5' },
    host: { type: 'string' },
    dynamodb: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const seedUsers = Number(values['seed-users']);
const closedUsers = Number(values['closed-users']);
const ceilingMs = Number(values['ceiling-seconds']) * 1000;
if (![seedUsers, closedUsers].every((n) => Number.isInteger(n) && n >= 1) || !(durationMs > 0) || !(ceilingMs > 0)) {
  console.error('bench: --seed-users and --closed-users take positive integers, --duration and --ceiling-seconds positive numbers');
  process.exit(2);
}

async function withSystem<T>(work: (host: string, dynamodb: string) => Promise<T>, monitor = true): Promise<T> {
  if (values.host) {
    if (!values.dynamodb) throw new Error('--host needs --dynamodb (the endpoint that system uses) to measure the ceiling');
    return work(values.host, values.dynamodb);
  }
  console.log('starting a fresh local system ...');
  return withScratchSystem({ serviceEnv: { LOG_LEVEL: 'warn' }, tmpPrefix: 'corebank-bench-', monitor }, (system) => work(system.globalEndpoint, system.dynamodbEndpoint));
}

type Measurement = Awaited<ReturnType<typeof measureSagas>>;

async function measureSagas(host: string, users: number, pollIntervalMs: number) {
  // Users start spread over one poll interval, as independent users would be, not in lockstep
  // (all at once, they would post together every 0.5 s and queue behind each other).
  const spawnRate = (users * 1000) / Math.max(pollIntervalMs, 50);
  const runner = createLoadRunner({ host, users, spawnRate, pollIntervalMs, timeoutMs: 3000 });
  runner.start();
  await sleep(WARM_UP_MS); // connections, JIT, caches
  runner.resetStats();
  const cpuBefore = cpuByRole(process.pid, 'load client');
  await sleep(durationMs);
  const stats = runner.stats();
  const cpuAfter = cpuByRole(process.pid, 'load client');
  await runner.close();
  const seconds = (stats.time - stats.startTime) / 1000;
  const perSaga = (ms: number) => (stats.completedSagas === 0 ? 0 : ms / stats.completedSagas);
  return {
    users,
    pollIntervalMs,
    sagasPerSecond: stats.completedSagas / seconds,
    completed: stats.completedSagas,
    latency: stats.sagaLatency,
    failRatio: stats.failRatio,
    requestsPerSaga: perSaga(stats.aggregated.requests),
    cpuPerSaga: cpuBefore && cpuAfter ? cpuSince(cpuBefore, cpuAfter).map(({ role, ms }) => ({ role, ms: perSaga(ms) })) : [],
  };
}

/** 3-item TransactWriteItems per second that this DynamoDB sustains at `concurrency`. */
async function measureCeiling(endpoint: string, concurrency: number): Promise<number> {
  const dynamo = createDynamoClients({ region: TOKYO.name, endpoint });
  const table = `bench-ceiling-${randomUUID().slice(0, 8)}`;
  try {
    await createKeyedTable(dynamo.client, table);
    const writes = await callsFor(ceilingMs, concurrency, () => {
      const id = randomUUID();
      return dynamo.doc.send(new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: { PK: `tx#${id}`, SK: 'saga', step: 'x' }, ConditionExpression: 'attribute_not_exists(PK)' } },
          { Put: { TableName: table, Item: { PK: `account#${id}`, SK: 'lock', tx: id }, ConditionExpression: 'attribute_not_exists(PK)' } },
          { Put: { TableName: table, Item: { PK: `account#${id}`, SK: `idem#${id}`, tx: id } } },
        ],
      }));
    });
    return writes / (ceilingMs / 1000);
  } finally {
    await dynamo.client.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    dynamo.destroy();
  }
}

/**
 * Why the closed-loop share is what it is. DynamoDB Local runs transactions one at a time, so
 * its ceiling is one transact write per its CPU time for one (printed side by side, to check
 * that assumption); with every core busy, sagas/s = cores ÷ CPU per saga. The share then comes
 * to cores × DynamoDB Local's CPU per saga ÷ the whole CPU per saga, whatever the machine's
 * speed: the target holds only if the rest of the system costs at most (cores ÷ target − 1) ×
 * DynamoDB Local's CPU per saga.
 */
function closedLoopBound(run: Measurement, ceiling?: number): string | undefined {
  const dynamodb = run.cpuPerSaga.find(({ role }) => role === 'dynamodb-local')?.ms;
  const total = run.cpuPerSaga.reduce((sum, { ms }) => sum + ms, 0);
  if (!dynamodb || !total) return undefined;
  const cores = availableParallelism();
  const rest = (total - dynamodb) / dynamodb;
  const allowed = cores / TARGET_THROUGHPUT_SHARE - 1;
  const perWrite = ceiling ? `DynamoDB Local ${(1000 / ceiling).toFixed(2)} ms a transact write at its ceiling, ${(dynamodb / TRANSACT_WRITES_PER_SAGA).toFixed(2)} ms of its CPU a write here; ` : '';
  return `  ${perWrite}${cores} cores × ${dynamodb.toFixed(1)} ÷ ${total.toFixed(1)} ms a saga = ${((cores * dynamodb) / total).toFixed(2)}: the rest of the system costs ${rest.toFixed(2)} × DynamoDB Local's CPU a saga (${TARGET_THROUGHPUT_SHARE} needs ≤ ${allowed.toFixed(2)} ×)`;
}

/** Resident memory of each process the bench started, and of the bench (the load client) itself. */
function rssLine(): string | undefined {
  const rss = rssByRole(process.pid, 'load client');
  return rss?.map(({ role, mb }) => `${role} ${mb.toFixed(0)}`).join(', ');
}

const instrumented = await withSystem(async (host, dynamodb) => {
  const idleRss = rssLine();
  const phases: Array<{ label: string; run: Measurement }> = [];
  const measure = async (label: string, users: number, pollMs: number) => {
    console.log(`\n${label}: ${users} user${users === 1 ? '' : 's'} for ${durationMs / 1000} s, polling every ${pollMs} ms ...`);
    const run = await measureSagas(host, users, pollMs);
    phases.push({ label, run });
    return run;
  };
  const alone = await measure('seed pace, alone', 1, SEED_POLL_MS);
  const seedPace = await measure('seed pace', seedUsers, SEED_POLL_MS);
  const closedLoop = await measure('closed loop', closedUsers, CLOSED_LOOP_POLL_MS);
  console.log(`measuring the DynamoDB ceiling at concurrency ${closedUsers} for ${ceilingMs / 1000} s ...`);
  const ceiling = await measureCeiling(dynamodb, closedUsers);
  const sagaCeiling = ceiling / TRANSACT_WRITES_PER_SAGA;
  const share = closedLoop.sagasPerSecond / sagaCeiling;

  console.log('\nsaga = POST → the terminal status the server recorded (updatedAt)');
  console.log('load               users  poll(ms)  sagas/s  p50(ms)  p99(ms)  fail%  req/saga');
  for (const { label, run } of phases) {
    console.log([
      label.padEnd(18),
      String(run.users).padStart(5),
      String(run.pollIntervalMs).padStart(9),
      run.sagasPerSecond.toFixed(1).padStart(8),
      String(run.latency.p50Ms).padStart(8),
      String(run.latency.p99Ms).padStart(8),
      (run.failRatio * 100).toFixed(2).padStart(6),
      run.requestsPerSaga.toFixed(1).padStart(9),
    ].join(' '));
  }
  console.log(`DynamoDB ceiling at concurrency ${closedUsers}: ${ceiling.toFixed(0)} 3-item transact writes/s = ${sagaCeiling.toFixed(0)} sagas/s at ${TRANSACT_WRITES_PER_SAGA} per saga`);

  const base = alone.latency.p50Ms;
  const targets = [
    { what: `seed pace p50 (${seedUsers} users)`, figure: `${seedPace.latency.p50Ms} ms`, target: `≤ ${SEED_P50_FACTOR} × ${base} ms alone = ${(SEED_P50_FACTOR * base).toFixed(1)} ms`, met: seedPace.latency.p50Ms <= SEED_P50_FACTOR * base },
    { what: `seed pace p99 (${seedUsers} users)`, figure: `${seedPace.latency.p99Ms} ms`, target: `≤ ${SEED_P99_FACTOR} × ${base} ms alone = ${(SEED_P99_FACTOR * base).toFixed(1)} ms`, met: seedPace.latency.p99Ms <= SEED_P99_FACTOR * base },
    { what: `closed loop (${closedUsers} users) sagas/s ÷ (ceiling ÷ ${TRANSACT_WRITES_PER_SAGA})`, figure: share.toFixed(2), target: `≥ ${TARGET_THROUGHPUT_SHARE}`, met: share >= TARGET_THROUGHPUT_SHARE },
  ];
  const nothingMeasured = phases.some(({ run }) => run.completed === 0);
  console.log('\ntargets');
  for (const { what, figure, target, met } of targets) console.log(`  ${met && !nothingMeasured ? 'ok    ' : 'MISSED'}  ${what.padEnd(52)} ${figure.padStart(8)}   target ${target}`);

  console.log('\nCPU per saga, by process (the processes the bench started, and the bench itself):');
  for (const { label, run } of phases) {
    const total = run.cpuPerSaga.reduce((sum, { ms }) => sum + ms, 0);
    console.log(`  ${label.padEnd(18)} ${total.toFixed(1)} ms = ${run.cpuPerSaga.map(({ role, ms }) => `${role} ${ms.toFixed(1)}`).join(' + ') || '(no /proc)'}`);
  }
  const bound = closedLoopBound(closedLoop, ceiling);
  if (bound) console.log(`\nclosed loop, where its share comes from:\n${bound}`);
  if (nothingMeasured || targets.some(({ met }) => !met)) process.exitCode = 1;
  if (idleRss) console.log(`\nRSS by process (MB; postgres sums its processes):\n  idle, before the load  ${idleRss}\n  after the load         ${rssLine()}`);
  return closedLoop;
});

// Only on systems the bench starts itself: a system given by --host has whatever instrumentation it has.
if (!values.host) {
  console.log(`\nclosed loop again, tracing off (no monitor): ${closedUsers} users for ${durationMs / 1000} s on a second fresh system ...`);
  const uninstrumented = await withSystem((host) => measureSagas(host, closedUsers, CLOSED_LOOP_POLL_MS), false);
  const ratio = uninstrumented.sagasPerSecond === 0 ? 0 : instrumented.sagasPerSecond / uninstrumented.sagasPerSecond;
  const met = ratio >= TARGET_INSTRUMENTED_RATIO;
  console.log(`  tracing on ${instrumented.sagasPerSecond.toFixed(1)} sagas/s (p50 ${instrumented.latency.p50Ms} ms), off ${uninstrumented.sagasPerSecond.toFixed(1)} sagas/s (p50 ${uninstrumented.latency.p50Ms} ms)`);
  console.log(`  ${met ? 'ok    ' : 'MISSED'}  ${'instrumented ÷ uninstrumented closed-loop sagas/s'.padEnd(52)} ${ratio.toFixed(2).padStart(8)}   target ≥ ${TARGET_INSTRUMENTED_RATIO}`);
  // The two systems' throughputs swing with the machine; their CPU next to DynamoDB Local's does not.
  const bound = closedLoopBound(uninstrumented);
  if (bound) console.log(`  tracing off, where its share would come from:\n${bound}`);
  if (!met) process.exitCode = 1;
}
