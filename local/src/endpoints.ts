import proxy from '@fastify/http-proxy';
import { createService, serviceUnavailable, type App } from '@corebank/kit';

/** Path prefixes a regional endpoint routes, like the seed's ALB listener rules. */
export const ROUTED_PREFIXES = ['/balance', '/count', '/transaction'] as const;
export type RoutedPrefix = (typeof ROUTED_PREFIXES)[number];

const HEALTH_CHECK_INTERVAL_MS = 2000;

/**
 * A region's load balancer: routes by path prefix to the service that owns it, and, like an
 * ALB target group, stops sending to a service whose GET /health fails.
 */
export function buildRegionalEndpoint(options: { region: string; upstreams: Record<RoutedPrefix, string> }): App {
  const app = createService({ name: `endpoint-${options.region}`, logger: false });
  const healthy = new Map<RoutedPrefix, boolean>(ROUTED_PREFIXES.map((prefix) => [prefix, true]));

  const checkAll = () =>
    Promise.all(
      ROUTED_PREFIXES.map(async (prefix) => {
        const ok = await fetch(`${options.upstreams[prefix]}/health`, { signal: AbortSignal.timeout(1500) })
          .then((response) => response.ok)
          .catch(() => false);
        healthy.set(prefix, ok);
      }),
    );
  const timer = setInterval(() => void checkAll(), HEALTH_CHECK_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  for (const prefix of ROUTED_PREFIXES) {
    app.register(proxy, {
      upstream: options.upstreams[prefix],
      prefix,
      rewritePrefix: prefix,
      preHandler: async () => {
        if (!healthy.get(prefix)) throw serviceUnavailable(`no healthy ${prefix.slice(1)} instance in ${options.region}`, 'no_healthy_upstream');
      },
      replyOptions: { onError: (reply) => void reply.status(502).send({ error: 'bad_gateway', message: `${prefix.slice(1)} did not answer` }) },
    });
  }
  return app;
}

/**
 * The global endpoint (Route 53 with ARC routing controls): forwards every request to the
 * regional endpoint of the region whose routing control is On.
 */
export function buildGlobalEndpoint(options: { regionalEndpoints: Record<string, string>; activeRegion: () => string | undefined }): App {
  const app = createService({ name: 'endpoint-global', logger: false });
  app.register(proxy, {
    upstream: Object.values(options.regionalEndpoints)[0] ?? 'http://127.0.0.1:1',
    preHandler: async () => {
      const active = options.activeRegion();
      if (!active || !options.regionalEndpoints[active]) throw serviceUnavailable('no region is serving: every routing control is Off', 'no_active_region');
    },
    replyOptions: {
      getUpstream: () => options.regionalEndpoints[options.activeRegion() ?? ''] ?? '',
      onError: (reply) => void reply.status(502).send({ error: 'bad_gateway', message: 'the active region did not answer' }),
    },
  });
  return app;
}
