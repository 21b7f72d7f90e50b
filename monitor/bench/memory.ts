/**
 * The monitor's memory under an hour of bench-level load, in compressed time (npm run bench:monitor).
 *
 * Starts the built monitor (monitor/dist/main.js) as its own process, with the environment the
 * local system gives it, and POSTs OTLP/JSON traces to /v1/traces as fast as it takes them:
 * - hour 1: 3 600 s × 40 sagas/s (the bench's closed-loop rate, taken as "bench-level") =
 *   144 000 sagas in ap-northeast-1, deposits and withdrawals alternating, each with the spans
 *   a real saga produces (10 for a deposit, 15 for a withdrawal), timestamped over the last hour;
 * - hour 2: the monitor's clock is moved forward one hour (a preload that offsets Date.now,
 *   signalled with SIGUSR2: the monitor's code is unchanged) and another 144 000 sagas are fed,
 *   timestamped over the new last hour, so the first hour's spans must all leave the window.
 * The monitor's RSS (/proc/<pid>/status VmRSS) and heap (GET /api/status) are sampled every 10 %
 * of each hour's feed. MONITOR_MAX_SPANS and SAGAS_PER_SECOND may be set to try other figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SAGAS_PER_SECOND = Number(process.env.SAGAS_PER_SECOND ?? 40);
const HOUR_S = 3600;
const SAGAS_PER_HOUR = HOUR_S * SAGAS_PER_SECOND;
const SAGAS_PER_REQUEST = 100;
const REQUESTS_IN_FLIGHT = 2;
const MAX_SPANS = process.env.MONITOR_MAX_SPANS ?? '100000';
const REGION = 'ap-northeast-1';
/** The whole run is bounded: past this the bench stops the monitor and fails. */
const RUN_DEADLINE_MS = 10 * 60_000;

/**
 * Loaded into the monitor (run with --expose-gc): offsets its Date.now by one hour on each
 * SIGUSR2, and collects garbage before process.memoryUsage answers, so that the heap GET
 * /api/status reports (and the RSS read after it) is what the monitor keeps, not garbage.
 */
const MONITOR_PRELOAD = `data:text/javascript,${encodeURIComponent(
  [
    'const realNow = Date.now; let offset = 0; Date.now = () => realNow() + offset; process.on("SIGUSR2", () => { offset += 3600000; });',
    'const memoryUsage = process.memoryUsage; process.memoryUsage = () => { globalThis.gc(); return memoryUsage(); };',
  ].join('\n'),
)}`;

type Value = { stringValue: string } | { intValue: number } | { boolValue: boolean };
const attr = (key: string, value: string | number | boolean): { key: string; value: Value } => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'number' ? { intValue: value } : { boolValue: value },
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Value }>;
  status: { code: number };
}

const KIND = { internal: 1, server: 2, client: 3, consumer: 5 } as const;
let idCounter = 0;
const RUN_TAG = (Date.now() % 0xffffffff).toString(16).padStart(8, '0');
const nextId = (hexLength: number) => (RUN_TAG + (idCounter++).toString(16).padStart(16, '0')).padStart(hexLength, '0').slice(-hexLength);

/**
 * One saga's spans by service, as the services emit them: transaction's POST and its DynamoDB
 * write; the worker's CONSUMER saga span, its DynamoDB claim and completion, a step span per step
 * with its HTTP call; the called service's SERVER span and its SQL.
 */
function sagaSpans(index: number, startMs: number): Map<string, OtlpSpan[]> {
  const withdraw = index % 2 === 1;
  const operation = withdraw ? 'withdraw' : 'deposit';
  const traceId = nextId(32);
  const transactionId = `bench-${RUN_TAG}-${index}`;
  const bySvc = new Map<string, OtlpSpan[]>();
  const span = (service: string, name: string, kind: keyof typeof KIND, fromMs: number, toMs: number, parent: OtlpSpan | undefined, attributes: Array<{ key: string; value: Value }>): OtlpSpan => {
    const made: OtlpSpan = {
      traceId,
      spanId: nextId(16),
      ...(parent ? { parentSpanId: parent.spanId } : {}),
      name,
      kind: KIND[kind],
      startTimeUnixNano: `${Math.round((startMs + fromMs) * 1000)}000`,
      endTimeUnixNano: `${Math.round((startMs + toMs) * 1000)}000`,
      attributes,
      status: { code: 0 },
    };
    const list = bySvc.get(service);
    if (list) list.push(made);
    else bySvc.set(service, [made]);
    return made;
  };
  const dynamo = (service: string, operationName: string, from: number, parent: OtlpSpan) =>
    span(service, `DynamoDB.${operationName}`, 'client', from, from + 3, parent, [attr('rpc.system', 'aws-api'), attr('rpc.service', 'DynamoDB'), attr('rpc.method', operationName), attr('db.system.name', 'dynamodb')]);
  const api = span('transaction', `POST /transaction/${operation}`, 'server', 0, 6, undefined, [attr('http.request.method', 'POST'), attr('http.route', `/transaction/${operation}`), attr('http.response.status_code', 200), attr('transaction.id', transactionId)]);
  dynamo('transaction', 'TransactWriteItems', 1, api);
  const saga = span('transaction-worker', `saga ${operation}`, 'consumer', 8, 40, api, [attr('transaction.id', transactionId), attr('saga.outcome', 'success')]);
  dynamo('transaction-worker', 'UpdateItem', 9, saga);
  let at = 13;
  const steps: Array<[string, string, string, number]> = withdraw
    ? [['withdraw_count', 'count', '/count/withdraw', 3102], ['withdraw_balance', 'balance', '/accounts/:id/balance', 3101]]
    : [['deposit_balance', 'balance', '/accounts/:id/balance', 3101]];
  for (const [step, service, route, port] of steps) {
    const stepSpan = span('transaction-worker', `step ${step}`, 'internal', at, at + 10, saga, [attr('saga.step', step), attr('transaction.id', transactionId), attr('saga.outcome', 'succeeded')]);
    const call = span('transaction-worker', 'PUT', 'client', at + 1, at + 9, stepSpan, [attr('http.request.method', 'PUT'), attr('server.address', '127.0.0.1'), attr('server.port', port), attr('http.response.status_code', 200)]);
    const served = span(service, `PUT ${route}`, 'server', at + 2, at + 8, call, [attr('http.request.method', 'PUT'), attr('http.route', route), attr('http.response.status_code', 200)]);
    span(service, 'UPDATE', 'client', at + 3, at + 5, served, [attr('db.system.name', 'postgresql'), attr('db.operation.name', 'UPDATE')]);
    span(service, 'INSERT', 'client', at + 5, at + 7, served, [attr('db.system.name', 'postgresql'), attr('db.operation.name', 'INSERT')]);
    at += 11;
  }
  dynamo('transaction-worker', 'UpdateItem', at, saga);
  return bySvc;
}

/** One request: `count` sagas from `first`, the i-th starting at `hourStartMs` + i / rate. */
function batch(first: number, count: number, hourStartMs: number): { body: string; spans: number } {
  const byService = new Map<string, OtlpSpan[]>();
  for (let i = first; i < first + count; i++) {
    for (const [service, spans] of sagaSpans(i, hourStartMs + (i * 1000) / SAGAS_PER_SECOND)) {
      const list = byService.get(service);
      if (list) list.push(...spans);
      else byService.set(service, spans);
    }
  }
  let spans = 0;
  const resourceSpans = [...byService].map(([service, list]) => {
    spans += list.length;
    return {
      resource: { attributes: [attr('service.name', service), attr('cloud.region', REGION), attr('deployment.environment.name', 'bench')] },
      scopeSpans: [{ scope: { name: 'bench' }, spans: list }],
    };
  });
  return { body: JSON.stringify({ resourceSpans }), spans };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** VmRSS (now) or VmHWM (the peak so far) of a process, in MB. */
const procStatusMb = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) / 1024;
};

interface Status {
  spans: number;
  received: number;
  dropped: number;
  memory: { heapUsed: number; heapTotal: number };
}

async function main() {
  execFileSync(process.execPath, [`${ROOT}local/bin/build.js`, 'monitor'], { stdio: 'inherit' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const monitor = spawn(process.execPath, ['--expose-gc', '--import', MONITOR_PRELOAD, `${ROOT}monitor/dist/main.js`], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MONITOR_WINDOW: '1h', MONITOR_MAX_SPANS: MAX_SPANS, ALARM_PERIOD: '5m', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = setTimeout(() => {
    console.error(`the run exceeded ${RUN_DEADLINE_MS / 60_000} minutes`);
    monitor.kill('SIGKILL');
    process.exit(1);
  }, RUN_DEADLINE_MS);
  const started = Date.now();
  try {
    await waitFor('the monitor', async () => {
      const response = await fetch(`${base}/health`);
      if (!response.ok) throw new Error(`health ${response.status}`);
    }, 30_000);
    const pid = monitor.pid!;
    const status = async () => (await (await fetch(`${base}/api/status`)).json()) as Status;
    const rows: string[][] = [];
    let spansFed = 0;
    let sagasFed = 0;
    const sample = async (label: string) => {
      const now = await status();
      rows.push([label, String(sagasFed), String(spansFed), String(now.spans), procStatusMb(pid, 'VmRSS').toFixed(1), procStatusMb(pid, 'VmHWM').toFixed(1), (now.memory.heapUsed / 2 ** 20).toFixed(1), ((Date.now() - started) / 1000).toFixed(0)]);
      console.log(rows.at(-1)!.join('\t'));
    };
    await sample('idle');

    const feedHour = async (hour: number, hourStartMs: number) => {
      let next = 0;
      let nextSample = SAGAS_PER_HOUR / 10;
      let fedThisHour = 0;
      const worker = async () => {
        while (next < SAGAS_PER_HOUR) {
          const first = next;
          const count = Math.min(SAGAS_PER_REQUEST, SAGAS_PER_HOUR - first);
          next += count;
          const { body, spans } = batch(first, count, hourStartMs);
          const response = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          if (!response.ok) throw new Error(`POST /v1/traces answered ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
          sagasFed += count;
          fedThisHour += count;
          spansFed += spans;
          if (fedThisHour >= nextSample) {
            nextSample += SAGAS_PER_HOUR / 10;
            await sample(`hour ${hour} ${Math.round((fedThisHour / SAGAS_PER_HOUR) * 100)} %`);
          }
        }
      };
      await Promise.all(Array.from({ length: REQUESTS_IN_FLIGHT }, worker));
    };

    console.log(['point', 'sagas fed', 'spans fed', 'spans kept', 'RSS MB', 'peak RSS MB', 'heap MB', 's'].join('\t'));
    // Hour 1: the hour just past on the monitor's clock.
    await feedHour(1, Date.now() - HOUR_S * 1000);
    const afterHour1 = await status();
    // Hour 2: the monitor's clock one hour on; the spans cover its new last hour.
    const hour2Start = Date.now();
    monitor.kill('SIGUSR2');
    await feedHour(2, hour2Start);
    const afterHour2 = await status();

    console.log(`\nMonitor memory at ${SAGAS_PER_SECOND} sagas/s (bench-level), MONITOR_WINDOW=1h, MONITOR_MAX_SPANS=${MAX_SPANS}, ${SAGAS_PER_REQUEST} sagas per POST, ${((Date.now() - started) / 1000).toFixed(0)} s in all:\n`);
    const header = ['point', 'sagas fed', 'spans fed', 'spans kept', 'RSS MB', 'peak RSS MB', 'heap used MB (after GC)'];
    const table = [header, ...rows.map((row) => row.slice(0, 7))];
    const widths = header.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
    for (const row of table) console.log(`| ${row.map((cell, column) => cell.padStart(widths[column]!)).join(' | ')} |`);
    console.log(`\nreceived ${afterHour2.received} spans, dropped ${afterHour2.dropped}; after hour 1 ${afterHour1.spans} kept, after hour 2 ${afterHour2.spans} kept.`);
    for (const [hour, kept] of [[1, afterHour1.spans], [2, afterHour2.spans]] as const) {
      if (kept > Number(MAX_SPANS)) throw new Error(`after hour ${hour} the monitor keeps ${kept} spans, more than MONITOR_MAX_SPANS=${MAX_SPANS}`);
    }
  } finally {
    clearTimeout(deadline);
    monitor.kill('SIGTERM');
    await new Promise((resolve) => (monitor.exitCode !== null ? resolve(undefined) : monitor.once('exit', resolve)));
  }
}

await main();
