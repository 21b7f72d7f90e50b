import client from 'prom-client';
import type { App } from './http.ts';
import { tracedCall } from './telemetry.ts';

/**
 * Prometheus metrics (prom-client). The process-wide registry holds Node's default process
 * metrics, the PostgreSQL and DynamoDB call durations and whatever domain metrics a process
 * registers (the saga worker's); each HTTP app adds its own request-duration histogram, so
 * two apps in one process (tests, the local environment) never mix their requests.
 * GET /metrics answers both, in Prometheus' text format.
 */
export const processRegistry = new client.Registry();
/** Node's process metrics start with the first HTTP app, not in every process that imports the kit (the CLI). */
let defaultMetricsStarted = false;

/** Buckets in seconds: from a 1 ms cache hit to the 10 s a saga call may take. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const HTTP_DURATION_METRIC = 'http_server_request_duration_seconds';

/**
 * How often the event-loop lag is sampled (prom-client's default is every 10 ms). Waking
 * every process 100 times a second cost about 5 ms of CPU a second each, idle or not; ten
 * samples a second still give each scrape's lag percentiles hundreds of samples.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** Registered once per process, even if this module is evaluated twice (a bundle and a test). */
function singleton<T extends client.Metric>(name: string, create: () => T): T {
  return (processRegistry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Database calls (pool.query of kit's createPool; AWS clients given to instrumentAwsClient), by outcome. */
export const databaseCallDuration = singleton(
  'db_client_operation_duration_seconds',
  () =>
    new client.Histogram({
      name: 'db_client_operation_duration_seconds',
      help: 'Duration of database calls in seconds, by system (postgresql, dynamodb), operation and outcome',
      labelNames: ['db_system', 'operation', 'outcome'] as const,
      buckets: DURATION_BUCKETS,
      registers: [processRegistry],
    }),
);

/**
 * A gauge read at scrape time: `collect` returns its value now (a number), or one value per
 * label set. The saga worker registers its backlog and stuck sagas this way.
 */
export function registerGauge(
  name: string,
  help: string,
  collect: () => number | Promise<number> | Array<{ labels: Record<string, string>; value: number }> | Promise<Array<{ labels: Record<string, string>; value: number }>>,
  labelNames: readonly string[] = [],
): client.Gauge<string> {
  const existing = processRegistry.getSingleMetric(name);
  if (existing) processRegistry.removeSingleMetric(name);
  return new client.Gauge({
    name,
    help,
    labelNames,
    registers: [processRegistry],
    async collect() {
      const value = await collect();
      this.reset();
      if (typeof value === 'number') this.set(value);
      else for (const entry of value) this.set(entry.labels, entry.value);
    },
  });
}

/** A counter in the process registry (the same one if already registered): sagas by outcome, say. */
export function registerCounter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): client.Counter<L> {
  return singleton(name, () => new client.Counter({ name, help, labelNames, registers: [processRegistry] })) as client.Counter<L>;
}

/** A histogram in seconds in the process registry (the same one if already registered). */
export function registerHistogram<L extends string>(name: string, help: string, labelNames: readonly L[] = []): client.Histogram<L> {
  return singleton(name, () => new client.Histogram({ name, help, labelNames, buckets: DURATION_BUCKETS, registers: [processRegistry] })) as client.Histogram<L>;
}

/** Seconds since `start` (a process.hrtime.bigint() reading). */
export const secondsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * Times every call an AWS SDK v3 client sends (DynamoDB's, say) into
 * db_client_operation_duration_seconds, labelled with the command's name, and traces it as a
 * CLIENT span when tracing is on (the service map's DynamoDB edge). Structural types: the kit
 * does not depend on the AWS SDK.
 */
export function instrumentAwsClient(
  awsClient: { middlewareStack: { add: (middleware: never, options: { step: 'initialize'; name: string }) => void } },
  system = 'dynamodb',
): void {
  type Next = (args: unknown) => Promise<unknown>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const start = process.hrtime.bigint();
    const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
    try {
      const result = await tracedCall(operation, { 'db.system.name': system, 'rpc.system': 'aws-api', 'rpc.method': operation }, () => next(args));
      databaseCallDuration.observe({ db_system: system, operation, outcome: 'ok' }, secondsSince(start));
      return result;
    } catch (error) {
      databaseCallDuration.observe({ db_system: system, operation, outcome: 'error' }, secondsSince(start));
      throw error;
    }
  };
  awsClient.middlewareStack.add(middleware as never, { step: 'initialize', name: 'corebankCallDuration' });
}

/**
 * GET /metrics and the request-duration histogram, by method, route pattern (not the raw
 * URL: /accounts/:id stays one series) and status code. Requests no route matched count under
 * route "unmatched". Scrapes of /metrics itself are not counted.
 */
export function registerMetrics(app: App): client.Registry {
  if (!defaultMetricsStarted) {
    defaultMetricsStarted = true;
    client.collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
  const appRegistry = new client.Registry();
  const requestDuration = new client.Histogram({
    name: HTTP_DURATION_METRIC,
    help: 'Duration of HTTP server requests in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [appRegistry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    requestDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => {
    const merged = client.Registry.merge([processRegistry, appRegistry]);
    reply.header('content-type', merged.contentType);
    return merged.metrics();
  });
  return appRegistry;
}
