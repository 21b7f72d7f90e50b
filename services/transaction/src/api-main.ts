import { runService } from '@corebank/kit';
import { buildTransactionApi } from './api.ts';
import { loadApiConfig } from './config.ts';

const config = loadApiConfig();
const app = buildTransactionApi(config);
await runService(app, { port: config.port, host: config.host });
