import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyError, type FastifyHttpOptions, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { envInt, logSettings } from './config.ts';
import { HttpError, type ErrorBody } from './errors.ts';
import { registerMetrics } from './metrics.ts';
import { isTracing, registerTracing, startTelemetry } from './telemetry.ts';

const buildFastify = (options: FastifyHttpOptions<Server>) => Fastify(options).withTypeProvider<TypeBoxTypeProvider>();

/** A Fastify instance whose routes infer their types from TypeBox schemas. */
export type App = ReturnType<typeof buildFastify>;

/** Each app's service name: runService names the telemetry after it. */
const serviceNames = new WeakMap<App, string>();

export interface ServiceOptions {
  /** Service name: used in logs and in the health reply. */
  name: string;
  /** Extra readiness check for GET /health (a database ping, say). Throwing makes it 503. */
  health?: () => Promise<void>;
  logger?: FastifyServerOptions['logger'];
  /** GET /metrics and request timing; on unless false (a public edge that must not expose it). */
  metrics?: boolean;
  /** Node's limits on how long a client may take to send a request (a server facing clients sets them). */
  clientTimeouts?: Required<Pick<ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'>>;
}

const CLIENT_ERRORS: Record<string, [status: string, body: ErrorBody]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['408 Request Timeout', { error: 'request_timeout', message: 'the request was not received in time' }],
  HPE_HEADER_OVERFLOW: ['431 Request Header Fields Too Large', { error: 'headers_too_large', message: 'the request headers are too large' }],
  default: ['400 Bad Request', { error: 'bad_request', message: 'malformed HTTP request' }],
};

/**
 * The one HTTP bootstrap. Every service gets the same error shape, the same validation
 * rules (no type coercion: "100" is not a quantity), a JSON 404, GET /health and GET /metrics
 * (Prometheus: request durations by route and status, process and database metrics).
 */
export function createService(options: ServiceOptions): App {
  const log = logSettings();
  const app = buildFastify({
    logger: options.logger ?? { level: log.level, base: { service: options.name } },
    // Per-request log lines cost more than the request itself under load; LOG_REQUESTS=true turns them on.
    logController: new LogController({ disableRequestLogging: !log.requests }),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // On close, idle keep-alive sockets go at once; requests in flight finish (runService bounds the wait).
    forceCloseConnections: 'idle',
    ...(options.clientTimeouts ? { http: options.clientTimeouts, requestTimeout: options.clientTimeouts.requestTimeout } : {}),
    // A request Node cannot parse, or one sent too slowly, gets the same error shape as any other bad input.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, reply] = CLIENT_ERRORS[error.code ?? ''] ?? CLIENT_ERRORS.default!;
      if (socket.writable) {
        const body = JSON.stringify(reply);
        socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  });

  // A request that was in flight when the app began closing is answered with
  // `connection: close`, so that its keep-alive socket does not hold the close open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { statusCode, body } = toErrorReply(error);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ err: error }, 'request rejected');
    return reply.status(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url}` }),
  );

  serviceNames.set(app, options.name);
  if (options.metrics !== false) registerMetrics(app);
  if (isTracing()) registerTracing(app);

  app.get('/health', async (_request, reply) => {
    try {
      await options.health?.();
      return { status: 'ok', service: options.name };
    } catch (error) {
      app.log.warn({ err: error }, 'health check failed');
      return reply.status(503).send({ error: 'unhealthy', message: `${options.name} is not ready` });
    }
  });

  return app;
}

/** Maps anything thrown in a handler to a status and the `{error, message}` body. */
export function toErrorReply(error: unknown): { statusCode: number; body: ErrorBody } {
  if (error instanceof HttpError) {
    return { statusCode: error.statusCode, body: { error: error.code, message: error.message } };
  }
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown };
  if (fastifyError.validation) {
    return { statusCode: 400, body: { error: 'invalid_request', message: fastifyError.message ?? 'invalid request' } };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = fastifyError.code?.startsWith('FST_ERR_CTP') || error instanceof SyntaxError ? 'malformed_body' : 'bad_request';
    return { statusCode: status, body: { error: code, message: fastifyError.message ?? 'bad request' } };
  }
  return { statusCode: 500, body: { error: 'internal', message: 'internal server error' } };
}

export interface RunOptions {
  port: number;
  host?: string;
  /** Called after the server stops accepting requests, to release pools and workers. */
  onShutdown?: () => Promise<void>;
  /**
   * How long a stop waits for requests in flight (and the app's close hooks) before it cuts
   * the remaining connections; SHUTDOWN_DRAIN_MS, 20 s by default (inside ECS's 30 s stopTimeout,
   * and longer than the worker's own 10 s grace for its sagas).
   */
  drainTimeoutMs?: number;
}

export const DEFAULT_SHUTDOWN_DRAIN_MS = 20_000;
/** After the connections were cut, how long close may still take before the process exits. */
const FORCED_EXIT_AFTER_MS = 2000;
/** How often a stopping service looks for connections that carry no request. */
const CONNECTION_SWEEP_MS = 100;

/**
 * Listens, then closes on SIGTERM or SIGINT (as ECS and Ctrl-C send them): it stops
 * accepting connections, closes idle ones, lets requests in flight finish and be answered
 * (a POST whose saga was written gets its 200), and after `drainTimeoutMs` cuts what is left.
 */
export async function runService(app: App, options: RunOptions): Promise<void> {
  const drainTimeoutMs = options.drainTimeoutMs ?? envInt('SHUTDOWN_DRAIN_MS', DEFAULT_SHUTDOWN_DRAIN_MS);
  let stopping = false;
  // Node's close ends the keep-alive connections idle at that moment, but not those that turn
  // idle later, nor one opened that has sent nothing yet (a client pool's spare, a connect
  // racing the stop): Node counts it as a request on its way, and it would hold the stop for
  // the whole drain timeout. Neither carries a request, so both are closed, until none is left.
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const closeUnusedConnections = () => {
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
    app.server.closeIdleConnections();
  };
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal, drainTimeoutMs }, 'shutting down: draining requests in flight');
    const sweep = setInterval(closeUnusedConnections, CONNECTION_SWEEP_MS).unref();
    try {
      const closed = app.close().then(() => 'closed' as const);
      closeUnusedConnections();
      if ((await within(closed, drainTimeoutMs)) !== 'closed') {
        app.log.warn({ drainTimeoutMs }, 'requests still in flight after the drain timeout; closing their connections');
        process.exitCode = 1;
        app.server.closeAllConnections();
        if ((await within(closed, FORCED_EXIT_AFTER_MS)) !== 'closed') {
          app.log.error('shutdown did not complete; exiting');
          process.exit(1);
        }
      }
      await options.onShutdown?.();
    } catch (error) {
      app.log.error({ err: error }, 'error during shutdown');
      process.exitCode = 1;
    } finally {
      clearInterval(sweep);
    }
    // Whatever is still scheduled (a cut request's handler, say) must not keep the process up.
    setTimeout(() => process.exit(), FORCED_EXIT_AFTER_MS).unref();
  };
  // Before the first request; the spans still buffered are sent when the process stops.
  const telemetry = await startTelemetry(serviceNames.get(app) ?? 'unknown_service');
  if (telemetry) app.addHook('onClose', () => telemetry.shutdown());
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
}

/** The promise's value, or 'timeout' once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
