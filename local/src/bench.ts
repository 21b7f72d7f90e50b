/**
 * `npm run bench`: saga throughput and latency of the local system, next to the ceiling of
 * the DynamoDB it runs on (3-item TransactWriteItems per second at the same concurrency),
 * measured in the same run on the same DynamoDB Local.
 *
 *   npm run bench -- [--users 10,32] [--duration 15] [--poll-ms 5] [--host URL --dynamodb URL]
 *
 * Without --host it starts a fresh local system (temporary data, free ports) and stops it.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createLoadRunner } from '@corebank/client';
import { createDynamoClients } from '@corebank/transaction';
import { callsFor, createKeyedTable, TRANSACT_WRITES_PER_SAGA } from './bench-support.ts';
import { cpuByRole, cpuSince, rssByRole } from './process-cpu.ts';
import { TOKYO } from './regions.ts';
import { startScratchSystem } from './scratch-system.ts';

const WARM_UP_MS = 5000;
/** The latency targets hold at this many users, the throughput share at that many. */
const LATENCY_TARGET_USERS = 10;
const TARGET_P50_MS = 50;
const TARGET_P99_MS = 250;
const SHARE_TARGET_USERS = 32;
const TARGET_THROUGHPUT_SHARE = 0.3;

function targetsMet(users: number, p50Ms: number, p99Ms: number, share: number): string {
  const verdicts: string[] = [];
  if (users === LATENCY_TARGET_USERS) {
    verdicts.push(`${p50Ms <= TARGET_P50_MS ? 'ok' : 'SLOW'} p50≤${TARGET_P50_MS}`, `${p99Ms <= TARGET_P99_MS ? 'ok' : 'SLOW'} p99≤${TARGET_P99_MS}`);
  }
  if (users === SHARE_TARGET_USERS) verdicts.push(`${share >= TARGET_THROUGHPUT_SHARE ? 'ok' : 'LOW'} share≥${TARGET_THROUGHPUT_SHARE}`);
  return verdicts.join('  ') || '-';
}

/**
 * When every core is busy, latency is queueing: users ÷ throughput. So the p50 target at
 * 10 users needs a throughput, and that throughput a CPU cost per saga on this machine.
 */
function latencyBudget(cpuPerSagaMs: number): string {
  const sagasPerSecond = LATENCY_TARGET_USERS / (TARGET_P50_MS / 1000);
  const cores = availableParallelism();
  const budgetMs = (cores * 1000) / sagasPerSecond;
  return `p50 ≤ ${TARGET_P50_MS} ms at ${LATENCY_TARGET_USERS} users needs ≥ ${sagasPerSecond} sagas/s when the CPU is the limit: ` +
    `at most ${budgetMs.toFixed(1)} ms of CPU per saga on this machine's ${cores} cores; this run used ${cpuPerSagaMs.toFixed(1)} ms.`;
}

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10,32' },
    duration: { type: 'string', default: '15' },
    'poll-ms': { type: 'string', default: '5' },
    'ceiling-seconds': { type: 'string', default: '5' },
    host: { type: 'string' },
    dynamodb: { type: 'string' },
  },
});
const userCounts = values.users.split(',').map(Number);
const durationMs = Number(values.duration) * 1000;
const pollIntervalMs = Number(values['poll-ms']);
const ceilingMs = Number(values['ceiling-seconds']) * 1000;
if (userCounts.some((n) => !Number.isInteger(n) || n < 1) || !(durationMs > 0) || !(pollIntervalMs > 0)) {
  console.error('bench: --users takes positive integers (10,32), --duration and --poll-ms positive numbers');
  process.exit(2);
}

async function withSystem<T>(work: (host: string, dynamodb: string) => Promise<T>): Promise<T> {
  if (values.host) {
    if (!values.dynamodb) throw new Error('--host needs --dynamodb (the endpoint that system uses) to measure the ceiling');
    return work(values.host, values.dynamodb);
  }
  console.log('starting a fresh local system ...');
  const system = await startScratchSystem({ serviceEnv: { LOG_LEVEL: 'warn' }, tmpPrefix: 'corebank-bench-' });
  // Interrupted mid-run, the bench still stops every process it started and removes its data.
  const interrupted = () => {
    console.log('\ninterrupted: stopping the local system ...');
    void system.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await work(system.globalEndpoint, system.dynamodbEndpoint);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await system.stop();
  }
}

async function measureSagas(host: string, users: number) {
  const runner = createLoadRunner({ host, users, spawnRate: users, pollIntervalMs, timeoutMs: 3000 });
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
    sagasPerSecond: stats.completedSagas / seconds,
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

/** Resident memory of each process the bench started, and of the bench (the load client) itself. */
function rssLine(): string | undefined {
  const rss = rssByRole(process.pid, 'load client');
  return rss?.map(({ role, mb }) => `${role} ${mb.toFixed(0)}`).join(', ');
}

await withSystem(async (host, dynamodb) => {
  const idleRss = rssLine();
  const rows: string[] = [];
  const cpuRows: string[] = [];
  let latencyTargetCpuMs: number | undefined;
  for (const users of userCounts) {
    console.log(`\n${users} users for ${durationMs / 1000} s, polling every ${pollIntervalMs} ms ...`);
    const sagas = await measureSagas(host, users);
    console.log(`measuring the DynamoDB ceiling at concurrency ${users} for ${ceilingMs / 1000} s ...`);
    const ceiling = await measureCeiling(dynamodb, users);
    const sagaCeiling = ceiling / TRANSACT_WRITES_PER_SAGA;
    const share = sagas.sagasPerSecond / sagaCeiling;
    const { p50Ms, p99Ms } = sagas.latency;
    const cpuTotal = sagas.cpuPerSaga.reduce((sum, { ms }) => sum + ms, 0);
    if (cpuTotal > 0 && users === LATENCY_TARGET_USERS) latencyTargetCpuMs = cpuTotal;
    if (cpuTotal > 0) {
      cpuRows.push(`${String(users).padStart(5)}  ${cpuTotal.toFixed(1)} ms = ${sagas.cpuPerSaga.map(({ role, ms }) => `${role} ${ms.toFixed(1)}`).join(' + ')}`);
    }
    rows.push(
      [
        String(users).padStart(5),
        sagas.sagasPerSecond.toFixed(1).padStart(8),
        String(p50Ms).padStart(7),
        String(p99Ms).padStart(7),
        (sagas.failRatio * 100).toFixed(2).padStart(7),
        sagas.requestsPerSaga.toFixed(1).padStart(7),
        ceiling.toFixed(0).padStart(9),
        sagaCeiling.toFixed(0).padStart(9),
        share.toFixed(2).padStart(6),
        targetsMet(users, p50Ms, p99Ms, share),
      ].join(' '),
    );
  }
  console.log(`\nsaga = POST → terminal status; ceiling = 3-item TransactWriteItems/s on the same DynamoDB; ${TRANSACT_WRITES_PER_SAGA} transact writes per saga`);
  console.log(`users  sagas/s p50(ms) p99(ms)  fail%  req/saga ceiling/s  sagas-max  ratio  targets (latency at ${LATENCY_TARGET_USERS} users, share at ${SHARE_TARGET_USERS})`);
  for (const row of rows) console.log(row);
  if (cpuRows.length > 0) {
    console.log('\nCPU per saga, by process (this machine\'s processes that the bench started, and the bench itself):');
    for (const row of cpuRows) console.log(row);
  }
  if (latencyTargetCpuMs !== undefined) console.log(`\n${latencyBudget(latencyTargetCpuMs)}`);
  if (idleRss) console.log(`\nRSS by process (MB; postgres sums its processes):\n  idle, before the load  ${idleRss}\n  after the load         ${rssLine()}`);
});
