import { readFileSync } from 'node:fs';
import { createService, type App, type ServiceOptions } from '@corebank/kit';
import { request } from 'undici';
import { seedAlarms, type AlarmNotification } from './alarms/evaluate.ts';
import { AlarmRunner } from './alarms/runner.ts';
import type { MonitorConfig } from './config.ts';
import { decodeTraces, OtlpDecodeError } from './otlp/decode.ts';
import { SpanStore } from './store.ts';

export interface MonitorOptions extends Omit<MonitorConfig, 'port' | 'host'> {
  logger?: ServiceOptions['logger'];
}

/** How far back the services table and the service map look. */
const RECENT_MS = 5 * 60_000;
const OTLP_BODY_LIMIT = 16 * 1024 * 1024;

const DASHBOARD = new URL('../ui/', import.meta.url);
const page = (name: string) => readFileSync(new URL(name, DASHBOARD), 'utf8');

/**
 * The local stand-in for CloudWatch Application Signals: OTLP/HTTP receiver, a bounded
 * in-memory window of spans, per-service statistics, the eight alarms, the dashboard.
 */
export function buildMonitorApp(options: MonitorOptions): { app: App; store: SpanStore; alarms: AlarmRunner } {
  const app = createService({ name: 'monitor', ...(options.logger !== undefined ? { logger: options.logger } : {}) });
  const periodSeconds = options.alarmPeriodMs / 1000;
  const store = new SpanStore({ windowMs: options.windowMs, maxSpans: options.maxSpans, bucketMs: Math.min(10_000, options.alarmPeriodMs) });
  const notify = (notification: AlarmNotification) => {
    app.log.warn({ notification }, `alarm ${notification.alarm}: ${notification.from} -> ${notification.to}`);
    if (options.webhookUrl) {
      request(options.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(notification) })
        .then(({ statusCode, body }) => {
          void body.dump();
          if (statusCode >= 300) app.log.error({ statusCode }, 'the notification webhook refused a notification');
        })
        .catch((error: unknown) => app.log.error({ err: error }, 'the notification webhook could not be reached'));
    }
  };
  const alarms = new AlarmRunner({ definitions: seedAlarms({ periodSeconds, evaluationPeriods: options.evaluationPeriods }), store, notify });
  app.addHook('onReady', async () => alarms.start());
  app.addHook('onClose', async () => alarms.stop());

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
  return { app, store, alarms };
}

/** OTLP/HTTP's success reply, in the request's encoding (an empty message either way). */
function otlpSuccess(reply: { type: (contentType: string) => unknown; send: (body: unknown) => unknown }, contentType: string | undefined) {
  if (contentType?.startsWith('application/x-protobuf')) {
    reply.type('application/x-protobuf');
    return reply.send(Buffer.alloc(0));
  }
  return reply.send({});
}
