import { runEntryPoint, runService } from '@corebank/kit';
import { loadWorkerConfig } from './config.ts';
import { buildWorkerApp } from './worker.ts';

await runEntryPoint('transaction-worker', async () => {
  const config = loadWorkerConfig();
  await runService(buildWorkerApp(config).app, { port: config.port, host: config.host });
});
