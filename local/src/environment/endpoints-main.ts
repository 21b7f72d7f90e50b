/**
 * The endpoints process: every regional endpoint (ALB) and the global endpoint (Route 53)
 * in one process of their own, apart from the services and from whoever generates load.
 * Configured by COREBANK_ENDPOINTS (JSON, see EndpointsConfig), written by the local system.
 */
import { envString, runEntryPoint } from '@corebank/kit';
import { buildEndpoint, startHealthChecks, type EndpointsConfig } from './endpoints.ts';

await runEntryPoint('endpoints', async () => {
  const config = JSON.parse(envString('COREBANK_ENDPOINTS')) as EndpointsConfig;
  const health = startHealthChecks(config.regions);
  const apps = [
    ...config.regional.map(({ region, port }) => ({ port, app: buildEndpoint({ name: `endpoint-${region}`, regions: config.regions, regionOf: () => region, health }) })),
    { port: config.global.port, app: buildEndpoint({ name: 'endpoint-global', regions: config.regions, regionOf: () => config.global.activeRegion, health }) },
  ];
  await Promise.all(apps.map(({ app, port }) => app.listen({ port, host: envString('HOST', '127.0.0.1') })));

  const stop = async () => {
    health.stop();
    await Promise.all(apps.map(({ app }) => app.close()));
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
});
