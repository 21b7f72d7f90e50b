import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@corebank/kit';
import { freshDatabase } from '@corebank/testing';
import { builtPathOf, ensureBuilt } from '../../local/bin/build.js';
import { buildMonitorApp } from '../src/app.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BALANCE = `${ROOT}${builtPathOf('services/balance/src/main.ts')}`;

interface TraceReply {
  services: string[];
  spans: Array<{ spanId: string; parentSpanId?: string; name: string; kind: string; service: string; region: string; httpStatus?: number; attributes: Record<string, unknown> }>;
}

// The balance service as `npm start` runs it (its esbuild bundle, in its own process), with
// the standard OTEL_* variables pointing at a monitor: its spans arrive there.
describe('a service with telemetry on', () => {
  let monitor: ReturnType<typeof buildMonitorApp>;
  let monitorUrl: string;
  let balance: ChildProcess;
  let balanceUrl: string;
  let output = '';

  beforeAll(async () => {
    await ensureBuilt({ workspaces: ['services/balance'] });
    const databaseUrl = await freshDatabase('monitor_otel');
    await promisify(execFile)(process.execPath, [BALANCE, 'migrate'], { env: { ...process.env, BALANCE_DATABASE_URL: databaseUrl } });
    monitor = buildMonitorApp({ logger: false, alarmPeriodMs: 60_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 10_000 });
    monitorUrl = await monitor.app.listen({ port: 0, host: '127.0.0.1' });
    const port = await freePort();
    balanceUrl = `http://127.0.0.1:${port}`;
    balance = spawn(process.execPath, [BALANCE], {
      env: {
        ...process.env,
        PORT: String(port),
        BALANCE_DATABASE_URL: databaseUrl,
        SERVICE_TOKEN: 'otel-test-token',
        REGION: 'tokyo',
        OTEL_EXPORTER_OTLP_ENDPOINT: monitorUrl,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    balance.stdout!.on('data', (chunk) => (output += chunk));
    balance.stderr!.on('data', (chunk) => (output += chunk));
    await waitFor('balance to answer', async () => {
      const response = await fetch(`${balanceUrl}/health`);
      if (!response.ok) throw new Error(`health ${response.status}`);
    }, 30_000);
  });

  afterAll(async () => {
    if (balance && balance.exitCode === null) {
      balance.kill('SIGTERM');
      await once(balance, 'exit');
    }
    await monitor?.app.close();
  });

  it('sends the request\'s server span, continuing the caller\'s traceparent, and its SQL spans, to the monitor', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const response = await fetch(`${balanceUrl}/balance/deposit`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', x_account_id: 'otel-1', 'x-service-token': 'otel-test-token', traceparent: `00-${traceId}-${callerSpanId}-01` },
      body: JSON.stringify({ transactionId: randomUUID(), quantity: 100 }),
    });
    expect(response.status, output).toBe(200);

    let trace: TraceReply | undefined;
    await waitFor('the trace at the monitor', async () => {
      const reply = await monitor.app.inject({ url: `/api/traces/${traceId}` });
      if (reply.statusCode !== 200) throw new Error('not yet');
      trace = reply.json();
      if (!trace!.spans.some((span) => span.kind === 'client')) throw new Error('no SQL span yet');
    }, 15_000);
    const server = trace!.spans.find((span) => span.kind === 'server')!;
    expect(server).toMatchObject({ name: 'PUT /balance/deposit', service: 'balance', region: 'tokyo', parentSpanId: callerSpanId, httpStatus: 200 });
    expect(server.attributes['http.route']).toBe('/balance/deposit');
    const sql = trace!.spans.filter((span) => span.kind === 'client');
    expect(sql.length).toBeGreaterThanOrEqual(1);
    for (const span of sql) expect(span).toMatchObject({ service: 'balance', parentSpanId: server.spanId, attributes: { 'db.system.name': 'postgresql' } });

    const map = (await monitor.app.inject({ url: '/api/service-map' })).json();
    expect(map.edges).toContainEqual(expect.objectContaining({ from: 'balance', to: 'PostgreSQL' }));
    // Health checks are not traced: they would drown the service's own traffic.
    const summaries = (await monitor.app.inject({ url: '/api/traces?limit=100' })).json();
    expect(summaries.every((summary: { root: string }) => !summary.root.includes('/health'))).toBe(true);
  });
});
