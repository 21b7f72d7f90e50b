import { readFileSync } from 'node:fs';
import { Type } from '@fastify/type-provider-typebox';
import { badRequest, createServiceClient, createService, failureReason, type App, type ServiceOptions } from '@corebank/kit';
import { seedAlarms, type AlarmNotification } from './alarms/evaluate.ts';
import { alarmStateChangeEvent } from './alarms/events.ts';
import { AlarmRunner, spanStatsDatapoints } from './alarms/runner.ts';
import { CANARY_ORIGINS, canaryAlarms, canaryName } from './canaries/alarms.ts';
import { CanaryRuns } from './canaries/runs.ts';
import type { MonitorConfig } from './config.ts';
import { deliver as deliverWithRetries } from './delivery.ts';
import { decodeTraces, OtlpDecodeError } from './otlp/decode.ts';
import { SpanStore } from './store.ts';

export interface MonitorOptions extends Omit<MonitorConfig, 'port' | 'host' | 'canaryPeriodMs'> {
  logger?: ServiceOptions['logger'];
  /** The canaries' period (60 s by default). */
  canaryPeriodMs?: number;
}

/** How far back the services table and the service map look. */
const RECENT_MS = 5 * 60_000;
const OTLP_BODY_LIMIT = 16 * 1024 * 1024;
/** The most runs kept per canary (besides the window): an hour of 2 s periods. */
const CANARY_RUNS_KEPT = 1800;

/** A canary run as the control plane's canaries publish it (the PutMetricData stand-in). */
const CanaryRunBody = Type.Object(
  {
    canary: Type.String({ minLength: 1, maxLength: 100 }),
    origin: Type.String({ minLength: 1, maxLength: 64 }),
    success: Type.Boolean(),
    latencyMs: Type.Number({ minimum: 0 }),
    startedAt: Type.String({ minLength: 1, maxLength: 40 }),
    endedAt: Type.String({ minLength: 1, maxLength: 40 }),
    endpoint: Type.String({ minLength: 1, maxLength: 300 }),
    failure: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

const DASHBOARD = new URL('../ui/', import.meta.url);
const page = (name: string) => readFileSync(new URL(name, DASHBOARD), 'utf8');

/**
 * The local stand-in for CloudWatch Application Signals (and, for the canaries, CloudWatch's
 * metrics and alarms): OTLP/HTTP receiver, a bounded in-memory window of spans, per-service
 * statistics, the canaries' runs, the eight service alarms and the two canary alarms, the
 * dashboard. A canary alarm's change of state is POSTed to ALARM_EVENTS_URL (EventBridge).
 */
export function buildMonitorApp(options: MonitorOptions): { app: App; store: SpanStore; alarms: AlarmRunner; canaryRuns: CanaryRuns } {
  const app = createService({ name: 'monitor', ...(options.logger !== undefined ? { logger: options.logger } : {}) });
  const periodSeconds = options.alarmPeriodMs / 1000;
  const store = new SpanStore({ windowMs: options.windowMs, maxSpans: options.maxSpans, bucketMs: Math.min(10_000, options.alarmPeriodMs) });
  const closing = new AbortController();
  /** POSTs `message` to `url` (SNS's and EventBridge's stand-ins), retried as they retry; every failed attempt is logged, nothing is thrown. */
  const deliver = (url: string, message: unknown, what: string) =>
    void deliverWithRetries(url, message, {
      signal: closing.signal,
      onFailure: (reason, attempt, willRetry) => app.log.error(`${what}: attempt ${attempt} ${reason}${willRetry ? '; retrying' : '; giving up'}`),
    });
  const notify = (notification: AlarmNotification) => {
    app.log.warn({ notification }, `alarm ${notification.alarm}: ${notification.from} -> ${notification.to}`);
    if (options.webhookUrl) deliver(options.webhookUrl, notification, `the notification of ${notification.alarm} to the webhook`);
  };
  const canaryRuns = new CanaryRuns({ windowMs: options.windowMs, maxRunsPerCanary: CANARY_RUNS_KEPT });
  const canaryPeriodMs = options.canaryPeriodMs ?? 60_000;
  const canaryDefinitions = canaryAlarms({ periodSeconds: canaryPeriodMs / 1000 });
  const isCanaryAlarm = (name: string) => canaryDefinitions.some((definition) => definition.name === name);
  const serviceDatapoints = spanStatsDatapoints(store);
  const alarms = new AlarmRunner({
    definitions: [...seedAlarms({ periodSeconds, evaluationPeriods: options.evaluationPeriods }), ...canaryDefinitions],
    datapoints: (definition, now, since) => (definition.metric === 'SuccessPercent' ? canaryRuns.datapoints(definition, now, since) : serviceDatapoints(definition, now, since)),
    notify,
    onChange: (change) => {
      if (options.alarmEventsUrl && isCanaryAlarm(change.definition.name)) deliver(options.alarmEventsUrl, alarmStateChangeEvent(change), `the state change event of ${change.definition.name}`);
    },
  });
  const controlPlane = options.controlPlaneUrl ? createServiceClient({ baseUrl: options.controlPlaneUrl, timeoutMs: 2000, connections: 2 }) : undefined;
  app.addHook('onReady', async () => alarms.start());
  app.addHook('onClose', async () => {
    closing.abort();
    alarms.stop();
    await controlPlane?.close();
  });

  // OTLP bodies: protobuf as raw bytes, JSON parsed as usual (with a larger limit: a batch is big).
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer', bodyLimit: OTLP_BODY_LIMIT }, (_request, body, done) => done(null, body));
  app.post('/v1/traces', { bodyLimit: OTLP_BODY_LIMIT }, async (req, reply) => {
    try {
      store.add(decodeTraces(req.body, req.headers['content-type'] ?? ''));
    } catch (error) {
      if (error instanceof OtlpDecodeError) return reply.status(400).send({ error: 'invalid_otlp', message: error.message });
      throw error;
    }
    return otlpSuccess(reply, req.headers['content-type']);
  });
  // Metrics are accepted so that an SDK exporting them does not log failures; the monitor's
  // statistics come from the server spans, as Application Signals derives its own.
  app.post('/v1/metrics', { bodyLimit: OTLP_BODY_LIMIT }, async (req, reply) => otlpSuccess(reply, req.headers['content-type']));

  app.post('/api/canaries/runs', { schema: { body: CanaryRunBody } }, async (req, reply) => {
    const run = req.body;
    if (!(CANARY_ORIGINS as readonly string[]).includes(run.origin) || run.canary !== canaryName(run.origin)) {
      throw badRequest(`no canary ${run.canary} from ${run.origin}: the canaries are ${CANARY_ORIGINS.map((origin) => canaryName(origin)).join(' and ')}`, 'unknown_canary');
    }
    const startedAt = Date.parse(run.startedAt);
    const endedAt = Date.parse(run.endedAt);
    if (Number.isNaN(startedAt) || Number.isNaN(endedAt) || endedAt < startedAt) throw badRequest('startedAt and endedAt must be ISO 8601 times, endedAt not before startedAt', 'invalid_request');
    canaryRuns.add({ ...run, startedAt, endedAt });
    return reply.status(204).send();
  });
  app.get('/api/canaries', async () => ({
    ...canaryRuns.series(Date.now(), canaryPeriodMs),
    latest: canaryRuns.latest(10).map((run) => ({ ...run, startedAt: new Date(run.startedAt).toISOString(), endedAt: new Date(run.endedAt).toISOString() })),
  }));
  // The control plane's active faults, for the dashboard; the monitor keeps none of its own.
  app.get('/api/faults', async () => {
    if (!controlPlane) return { faults: [], error: 'CONTROL_PLANE_URL is not set: the monitor does not know where faults are injected' };
    try {
      const reply = await controlPlane.get<{ faults: unknown[] }>('/faults');
      if (reply.status !== 200) return { faults: [], error: `the control plane answered ${reply.status}` };
      return { faults: reply.body.faults };
    } catch (error) {
      return { faults: [], error: `the control plane did not answer: ${failureReason(error)}` };
    }
  });
  app.get('/api/alarms', async () => alarms.alarms());
  app.get('/api/notifications', async () => alarms.notifications);
  app.get('/api/services', async () => store.services(Date.now(), RECENT_MS));
  app.get('/api/series', async () => store.series(Date.now(), options.windowMs));
  app.get('/api/service-map', async () => store.serviceMap(Date.now(), RECENT_MS));
  app.get<{ Querystring: { limit?: string } }>('/api/traces', async (req) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 1000);
    return store.traceSummaries(limit);
  });
  app.get<{ Params: { traceId: string } }>('/api/traces/:traceId', async (req, reply) => {
    const trace = store.trace(req.params.traceId.toLowerCase());
    return trace ?? reply.status(404).send({ error: 'not_found', message: `no trace ${req.params.traceId} in the window` });
  });
  app.get('/api/status', async () => ({ spans: store.size, received: store.received, dropped: store.dropped, memory: process.memoryUsage() }));

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page('index.html')));
  app.get('/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(page('app.js')));
  app.get('/uplot.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(readFileSync(new URL(import.meta.resolve('uplot/dist/uPlot.iife.min.js')))));
  app.get('/uplot.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(readFileSync(new URL(import.meta.resolve('uplot/dist/uPlot.min.css')))));
  return { app, store, alarms, canaryRuns };
}

/** OTLP/HTTP's success reply, in the request's encoding (an empty message either way). */
function otlpSuccess(reply: { type: (contentType: string) => unknown; send: (body: unknown) => unknown }, contentType: string | undefined) {
  if (contentType?.startsWith('application/x-protobuf')) {
    reply.type('application/x-protobuf');
    return reply.send(Buffer.alloc(0));
  }
  return reply.send({});
}
