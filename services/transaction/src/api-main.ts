import { runEntryPoint, runService } from '@corebank/kit';
import { buildTransactionApi } from './api.ts';
import { loadApiConfig } from './config.ts';

await runEntryPoint('transaction', async () => {
  const config = loadApiConfig();
  await runService(buildTransactionApi(config), { port: config.port, host: config.host });
});
