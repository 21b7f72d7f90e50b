import { runEntryPoint, runService } from '@corebank/kit';
import { buildMonitorApp } from './app.ts';
import { loadMonitorConfig } from './config.ts';

await runEntryPoint('monitor', async () => {
  const config = loadMonitorConfig();
  const { app } = buildMonitorApp(config);
  await runService(app, { port: config.port, host: config.host });
  app.log.info(`dashboard CoreBanking-ApplicationSignals-local on http://${config.host}:${config.port}/`);
});
