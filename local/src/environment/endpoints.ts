import type { IncomingHttpHeaders } from 'node:http';
import replyFrom from '@fastify/reply-from';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createService, SERVICE_TOKEN_HEADER, serviceUnavailable, type App } from '@corebank/kit';

/** The response header naming the region whose services answered. */
export const REGION_HEADER = 'x-corebank-region';

/** Path prefixes an endpoint routes, like the seed's ALB listener rules. */
export const ROUTED_PREFIXES = ['/balance', '/count', '/transaction'] as const;
export type RoutedPrefix = (typeof ROUTED_PREFIXES)[number];

/**
 * The public API, the only requests an endpoint passes on. The services' internal routes
 * (PUT /balance/*, PUT /count/*, the worker's /worker/*) are for the worker alone: the edge
 * answers them itself.
 */
export const PUBLIC_ROUTES = [
  { method: 'GET', url: '/balance', service: '/balance' },
  { method: 'GET', url: '/count/:accountId/:period', service: '/count' },
  { method: 'POST', url: '/transaction/deposit', service: '/transaction' },
  { method: 'POST', url: '/transaction/withdraw', service: '/transaction' },
  { method: 'GET', url: '/transaction/:transactionId', service: '/transaction' },
] as const satisfies ReadonlyArray<{ method: string; url: string; service: RoutedPrefix }>;

/** The service behind a routed prefix, as the supervisor names it. */
export const serviceOfPrefix = (prefix: RoutedPrefix) => prefix.slice(1) as 'balance' | 'count' | 'transaction';

/**
 * What the endpoints process serves: handed to it as JSON in COREBANK_ENDPOINTS. The
 * upstreams come from the supervisor's healthy targets (the ALB's target groups), the
 * global endpoint's region from the routing controls (Route 53 + ARC).
 */
export interface EndpointsConfig {
  /** The control plane's API: the supervisor's GET /targets, and GET /faults. */
  supervisorUrl: string;
  /** The routing controls service. */
  routingControlsUrl: string;
  /** Regions, primary first: the order that breaks a tie when several controls are On. */
  regionOrder: string[];
  /**
   * Each regional endpoint and the port it listens on. With `publicUrl` (the region's fault
   * proxy, in front of that port), the global endpoint reaches the region through it while a
   * network fault is set on the region, as a client handed the region's ALB by DNS would
   * cross the region's network; otherwise straight to the region's services.
   */
  regional: Array<{ region: string; port: number; publicUrl?: string }>;
  global: { port: number };
}

/**
 * How long a service may take to answer. The slowest public call is a status poll held up to
 * STATUS_HOLD_MS (500 ms by default); anything far beyond that is a stuck service.
 */
export const UPSTREAM_TIMEOUT_MS = 10_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 2000;

/** How long a client may take to send a request: a slow-loris client loses its socket. */
export const CLIENT_TIMEOUTS = { headersTimeout: 5000, requestTimeout: 10_000, connectionsCheckingInterval: 1000 } as const;

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1): a proxy never
 * forwards them, nor the headers the Connection header names. Forwarding the services'
 * `connection: keep-alive` once made Node keep open a socket the client had asked to close.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** A copy of `headers` without hop-by-hop headers, and without `also`. (Twice per request: a plain loop, no intermediate arrays.) */
export function withoutHopByHop<T extends IncomingHttpHeaders>(headers: T, also: readonly string[] = []): T {
  const named = headers.connection === undefined ? undefined : new Set(String(headers.connection).split(',').map((name) => name.trim().toLowerCase()));
  const copy: IncomingHttpHeaders = {};
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && !named?.has(lower) && !also.includes(lower)) copy[name] = headers[name];
  }
  return copy as T;
}

/**
 * An HTTP endpoint that passes the public API to the services of the region `regionOf()`
 * names. A regional endpoint (the region's ALB) always names its own region; the global
 * endpoint (Route 53 with ARC routing controls) names the region whose routing control is
 * On. Locally the global endpoint routes to the active region's services directly; while a
 * network fault is set on the region it forwards to the region's public address instead (its
 * fault proxy, then its regional endpoint), as DNS hands the client the region's ALB across
 * the region's network, so the fault is felt through the global endpoint too (endpoints-main.ts).
 *
 * It is an edge, not a pipe: any other path is its own 404, another method on a public path
 * its own 405; it strips hop-by-hop headers both ways and never forwards a client's service
 * token; it bounds how long a client may take to send and a service to answer.
 */
export function buildEndpoint(options: {
  name: string;
  regionOf: () => string | undefined;
  /** A healthy instance of the service in the region (round robin), or undefined if none is in rotation. */
  pick: (region: string, service: 'balance' | 'count' | 'transaction') => string | undefined;
  /** Whether the service has a healthy instance in the region; unlike `pick`, it takes no turn. */
  inRotation: (region: string, service: 'balance' | 'count' | 'transaction') => boolean;
  /** Whether it has heard from the routing controls and the supervisor yet: GET /health fails until then. */
  informed?: () => boolean;
  upstreamTimeoutMs?: number;
}): App {
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
  // GET /health passes once the region's services have passed a check, so whoever starts
  // the system and waits for it never meets a 503 from a check that ran before they were up.
  const app = createService({
    name: options.name,
    logger: false,
    // A public edge: it must not serve /metrics, and its proxying is not a service the monitor should show.
    metrics: false,
    clientTimeouts: CLIENT_TIMEOUTS,
    health: async () => {
      if (options.informed && !options.informed()) throw new Error('no answer from the routing controls or the supervisor yet');
      const region = options.regionOf();
      if (region === undefined) return;
      const missing = ROUTED_PREFIXES.map(serviceOfPrefix).filter((service) => !options.inRotation(region, service));
      if (missing.length > 0) throw new Error(`${region}: no healthy instance of ${missing.join(', ')} yet`);
    },
  });

  app.register(replyFrom, {
    // Transaction ids make every poll's URL new: a cache of parsed URLs would only churn.
    disableCache: true,
    // A 503 is the region's answer (closed, unhealthy) and goes to the client as it is.
    retryMethods: [],
    undici: {
      connections: 128,
      pipelining: 1,
      connect: { timeout: UPSTREAM_CONNECT_TIMEOUT_MS },
      headersTimeout: upstreamTimeoutMs,
      bodyTimeout: upstreamTimeoutMs,
    },
  });

  // Bodies pass through unparsed (the service validates them), but read whole within the
  // body limit and the request timeout, so a slow client never holds a service's socket.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const forward = (service: RoutedPrefix) => (request: FastifyRequest, reply: FastifyReply) => {
    const region = options.regionOf();
    if (region === undefined) throw serviceUnavailable('no region is serving: every routing control is Off', 'no_active_region');
    const upstream = options.pick(region, serviceOfPrefix(service));
    if (upstream === undefined) throw serviceUnavailable(`no healthy ${service.slice(1)} instance in ${region}`, 'no_healthy_upstream');
    const body = Buffer.isBuffer(request.body) ? { body: request.body, contentType: request.headers['content-type'] ?? 'application/octet-stream' } : {};
    return reply.from(undefined, {
      ...body,
      getUpstream: () => upstream,
      rewriteRequestHeaders: (_request, headers) => withoutHopByHop(headers, [SERVICE_TOKEN_HEADER]),
      // Which region answered (a local aid, as a CDN names its edge): the drills tell Tokyo's answers from Osaka's by it.
      rewriteHeaders: (headers) => ({ ...withoutHopByHop(headers), [REGION_HEADER]: region }),
      onError: (errorReply, { error }) => {
        const timedOut = (error as { statusCode?: number }).statusCode === 504;
        void errorReply
          .status(timedOut ? 504 : 502)
          .send(
            timedOut
              ? { error: 'gateway_timeout', message: `${service.slice(1)} did not answer within ${upstreamTimeoutMs} ms` }
              : { error: 'bad_gateway', message: `${service.slice(1)} did not answer` },
          );
      },
    });
  };

  const allowedByUrl = new Map<string, string[]>([['/health', ['GET', 'HEAD']]]);
  for (const route of PUBLIC_ROUTES) {
    app.route({ method: route.method, url: route.url, handler: forward(route.service) });
    allowedByUrl.set(route.url, [...(allowedByUrl.get(route.url) ?? []), route.method, ...(route.method === 'GET' ? ['HEAD'] : [])]);
  }
  for (const [url, allowed] of allowedByUrl) {
    const others = app.supportedMethods.filter((method) => !allowed.includes(method));
    app.route({
      method: others,
      url,
      handler: (request, reply) =>
        reply
          .status(405)
          .header('allow', allowed.join(', '))
          .send({ error: 'method_not_allowed', message: `${request.method} is not allowed on ${url}; allowed: ${allowed.join(', ')}` }),
    });
  }
  return app;
}
