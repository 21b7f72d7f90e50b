import proxy from '@fastify/http-proxy';
import { createService, serviceUnavailable, type App } from '@corebank/kit';

/** Path prefixes an endpoint routes, like the seed's ALB listener rules. */
export const ROUTED_PREFIXES = ['/balance', '/count', '/transaction'] as const;
export type RoutedPrefix = (typeof ROUTED_PREFIXES)[number];

/** Where each routed prefix goes in one region. */
export type RegionUpstreams = Record<RoutedPrefix, string>;

/** What the endpoints process serves: handed to it as JSON in COREBANK_ENDPOINTS. */
export interface EndpointsConfig {
  regions: Record<string, RegionUpstreams>;
  /** Each regional endpoint and its port. */
  regional: Array<{ region: string; port: number }>;
  global: { port: number; activeRegion: string | undefined };
}

const HEALTH_CHECK_INTERVAL_MS = 2000;
const HEALTH_CHECK_TIMEOUT_MS = 1500;

/**
 * The ALB target groups' health checks: GET /health of every service in every region, every
 * 2 s. A service that fails it gets no traffic until it passes again.
 */
export function startHealthChecks(regions: Record<string, RegionUpstreams>) {
  const healthy = new Map<string, boolean>();
  const key = (region: string, prefix: RoutedPrefix) => `${region} ${prefix}`;
  const checkAll = () =>
    Promise.all(
      Object.entries(regions).flatMap(([region, upstreams]) =>
        ROUTED_PREFIXES.map(async (prefix) => {
          const ok = await fetch(`${upstreams[prefix]}/health`, { signal: AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS) })
            .then((response) => response.ok)
            .catch(() => false);
          healthy.set(key(region, prefix), ok);
        }),
      ),
    );
  const timer = setInterval(() => void checkAll(), HEALTH_CHECK_INTERVAL_MS);
  timer.unref();
  return {
    /** Unknown until the first check: assumed healthy, as services are started healthy. */
    isHealthy: (region: string, prefix: RoutedPrefix) => healthy.get(key(region, prefix)) ?? true,
    stop: () => clearInterval(timer),
  };
}

export type HealthChecks = ReturnType<typeof startHealthChecks>;

/**
 * An HTTP endpoint that routes /balance*, /count*, /transaction* by path to the services of
 * the region `regionOf()` names. A regional endpoint (the region's ALB) always names its own
 * region; the global endpoint (Route 53 with ARC routing controls) names the region whose
 * routing control is On. Locally the global endpoint routes to the services directly, as DNS
 * would hand the client the active region's ALB, so a request crosses one proxy, not two.
 */
export function buildEndpoint(options: {
  name: string;
  regions: Record<string, RegionUpstreams>;
  regionOf: () => string | undefined;
  health: HealthChecks;
}): App {
  const app = createService({ name: options.name, logger: false });
  const anyRegion = Object.values(options.regions)[0];
  if (!anyRegion) throw new Error(`${options.name}: no region to route to`);

  for (const prefix of ROUTED_PREFIXES) {
    app.register(proxy, {
      upstream: anyRegion[prefix],
      prefix,
      rewritePrefix: prefix,
      preHandler: async () => {
        const region = options.regionOf();
        if (!region || !options.regions[region]) throw serviceUnavailable('no region is serving: every routing control is Off', 'no_active_region');
        if (!options.health.isHealthy(region, prefix)) {
          throw serviceUnavailable(`no healthy ${prefix.slice(1)} instance in ${region}`, 'no_healthy_upstream');
        }
      },
      replyOptions: {
        getUpstream: () => options.regions[options.regionOf() ?? '']?.[prefix] ?? anyRegion[prefix],
        onError: (reply) => void reply.status(502).send({ error: 'bad_gateway', message: `${prefix.slice(1)} did not answer` }),
      },
    });
  }
  return app;
}
