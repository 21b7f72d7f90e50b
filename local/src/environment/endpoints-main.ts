/**
 * The endpoints process: every regional endpoint (ALB) and the global endpoint (Route 53)
 * in one process of their own, apart from the services and from whoever generates load.
 * Configured by COREBANK_ENDPOINTS (JSON, see EndpointsConfig), written by the local system.
 * Its upstreams are the supervisor's healthy targets and the global endpoint's region is the
 * one whose routing control is On, both polled, so a change reaches it within half a second.
 */
import { envString, runEntryPoint } from '@corebank/kit';
import { buildEndpoint, type EndpointsConfig } from './endpoints.ts';
import { watchRoutingControls } from './routing-controls.ts';
import { watchTargets } from './supervisor-api.ts';

const POLL_INTERVAL_MS = 250;

await runEntryPoint('endpoints', async () => {
  const config = JSON.parse(envString('COREBANK_ENDPOINTS')) as EndpointsConfig;
  const targets = watchTargets({ url: config.supervisorUrl, intervalMs: POLL_INTERVAL_MS });
  const routing = watchRoutingControls({ url: config.routingControlsUrl, regionOrder: config.regionOrder, intervalMs: POLL_INTERVAL_MS });
  const { pick, inRotation } = targets;
  const publicUrls = new Map(config.regional.flatMap(({ region, publicUrl }) => (publicUrl ? [[region, publicUrl] as const] : [])));
  // Through the region's public address when it has one (its fault proxy), so that a fault on the region is seen here too.
  const pickForGlobal: typeof pick = (region, service) => (publicUrls.has(region) && inRotation(region, service) ? publicUrls.get(region) : pick(region, service));
  const informed = () => Object.keys(targets.current()).length > 0 && Object.keys(routing.states()).length > 0;
  const apps = [
    ...config.regional.map(({ region, port }) => ({ port, app: buildEndpoint({ name: `endpoint-${region}`, regionOf: () => region, pick, inRotation, informed }) })),
    { port: config.global.port, app: buildEndpoint({ name: 'endpoint-global', regionOf: routing.activeRegion, pick: pickForGlobal, inRotation, informed }) },
  ];
  await Promise.all(apps.map(({ app, port }) => app.listen({ port, host: envString('HOST', '127.0.0.1') })));

  const stop = async () => {
    targets.stop();
    routing.stop();
    await Promise.all(apps.map(({ app }) => app.close()));
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
});
