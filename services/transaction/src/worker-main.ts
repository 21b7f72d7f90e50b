import { runService } from '@corebank/kit';
import { loadWorkerConfig } from './config.ts';
import { buildWorkerApp } from './worker.ts';

const config = loadWorkerConfig();
const { app } = buildWorkerApp(config);
await runService(app, { port: config.port, host: config.host });
