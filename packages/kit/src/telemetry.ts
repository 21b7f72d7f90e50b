import { context, createContextKey, INVALID_SPAN_CONTEXT, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { App } from './http.ts';

/**
 * OpenTelemetry tracing, on only when the standard variables ask for it
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER=otlp;
 * OTEL_SDK_DISABLED=true wins). Off, the SDK is never imported and no hook is registered: the
 * only cost is the no-op API.
 *
 * Instrumented by hand, not by the auto-instrumentations: those patch `require`/`import` of
 * fastify, pg, undici and the AWS SDK, and the esbuild bundles import none of them (they are
 * inlined). So the kit instruments the places every service goes through: the HTTP bootstrap
 * (a SERVER span per request, continuing the caller's W3C traceparent), the service client
 * (a CLIENT span per call, traceparent sent on), the PostgreSQL pool (a CLIENT span per query)
 * and AWS SDK clients given to instrumentAwsClient. Exported as OTLP http/protobuf to
 * OTEL_EXPORTER_OTLP_ENDPOINT (the monitor locally, the CloudWatch agent on AWS).
 */

type Env = Record<string, string | undefined>;

export function telemetryEnabled(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_TRACES_EXPORTER === 'otlp');
}

/** Read once: the hooks are registered or not for the life of the process. */
let enabled = telemetryEnabled();
/** For tests, which turn tracing on in-process after setting the variables. */
export const refreshTelemetryEnabled = () => (enabled = telemetryEnabled());
export const isTracing = () => enabled;

export const tracer = () => trace.getTracer('corebank');

export interface Telemetry {
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

let started: Promise<Telemetry> | undefined;

/**
 * Starts the tracer provider once per process: service.name from OTEL_SERVICE_NAME (else
 * `service`), the region (AWS_REGION, else REGION) as cloud.region, the environment
 * (DEPLOYMENT_ENVIRONMENT, else "local") as deployment.environment.name, plus
 * OTEL_RESOURCE_ATTRIBUTES. Resolves to undefined when telemetry is off.
 */
export async function startTelemetry(service: string, env: Env = process.env): Promise<Telemetry | undefined> {
  if (!telemetryEnabled(env)) return undefined;
  started ??= (async () => {
    const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes, detectResources, envDetector }] = await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-proto'),
      import('@opentelemetry/resources'),
    ]);
    const region = env.AWS_REGION ?? env.REGION;
    const resource = resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME ?? service,
      'deployment.environment.name': env.DEPLOYMENT_ENVIRONMENT ?? 'local',
      ...(region ? { 'cloud.region': region } : {}),
    }).merge(detectResources({ detectors: [envDetector] }));
    const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
    provider.register();
    return { shutdown: () => provider.shutdown(), forceFlush: () => provider.forceFlush() };
  })();
  return started;
}

/** The current trace context as W3C headers (traceparent, tracestate), to send on or store (with a saga). */
export function traceContextCarrier(active: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  return carrier;
}

/**
 * The context a carrier (incoming headers, a stored saga's traceparent) continues, on top of
 * `base` (the active context; ROOT_CONTEXT for work that must not inherit it).
 */
export const contextFromCarrier = (carrier: Record<string, string | string[] | undefined>, base: Context = context.active()): Context => propagation.extract(base, carrier);
export { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';

/**
 * Marks work that is the platform's, not the service's (a health check's database ping, the
 * worker's poll of its queue): no spans inside it, else a root span a second per instance
 * would drown the traces of real requests.
 */
const UNTRACED = createContextKey('corebank.untraced');
export function withoutTracing<T>(work: () => T): T {
  return enabled ? context.with(context.active().setValue(UNTRACED, true), work) : work();
}
const untracedNow = () => context.active().getValue(UNTRACED) === true;

const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Runs `work` inside a new span (a saga step, say), child of `parent` (a context from
 * contextFromCarrier) or of the active span; records an error and the outcome.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
  options: { parent?: Context; kind?: SpanKind } = {},
): Promise<T> {
  if (!enabled) return work(NO_SPAN);
  const parent = options.parent ?? context.active();
  if (parent.getValue(UNTRACED) === true) return work(NO_SPAN);
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, parent);
  return endedAfter(span, () => context.with(trace.setSpan(parent, span), () => work(span)));
}

/** Awaits `work`, records on `span` the error it throws, and ends the span either way. */
async function endedAfter<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

/** Routes that are the platform's, not the service's: no spans (health checks would drown the traffic). */
const UNTRACED_ROUTES = new Set(['/health', '/metrics']);
const requestSpans = new WeakMap<object, { span: Span; context: Context }>();

/**
 * A SERVER span per request, named by method and route pattern, continuing the caller's
 * traceparent, and active while the handler runs (so the calls it makes are its children).
 */
export function registerTracing(app: Pick<App, 'addHook'>): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED_ROUTES.has(route)) return done();
    const parent = contextFromCarrier(request.headers);
    const span = tracer().startSpan(`${request.method} ${route ?? 'unmatched'}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': request.method, 'url.path': request.url.split('?')[0]!, ...(route ? { 'http.route': route } : {}) },
    }, parent);
    requestSpans.set(request, { span, context: trace.setSpan(parent, span) });
    done();
  });
  // After the body was read, so that the handler's promise chain starts inside the span's context.
  app.addHook('preHandler', (request, _reply, done) => {
    const traced = requestSpans.get(request);
    if (traced) context.with(traced.context, done);
    else if (UNTRACED_ROUTES.has(request.routeOptions.url ?? '')) withoutTracing(done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const traced = requestSpans.get(request);
    if (traced) {
      traced.span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) traced.span.setStatus({ code: SpanStatusCode.ERROR });
      traced.span.end();
      requestSpans.delete(request);
    }
    done();
  });
}

/**
 * Runs `call` inside a CLIENT span when tracing is on; `headers`, if given, receive the
 * traceparent of that span. `statusOf` reads an HTTP status from the result.
 */
export async function tracedCall<T>(
  name: string,
  attributes: Attributes,
  call: (headers: Record<string, string>) => Promise<T>,
  statusOf?: (result: T) => number,
): Promise<T> {
  if (!enabled || untracedNow()) return call({});
  const span = tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes });
  const headers = traceContextCarrier(trace.setSpan(context.active(), span));
  return endedAfter(span, async () => {
    const result = await call(headers);
    const status = statusOf?.(result);
    if (status !== undefined) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return result;
  });
}
