import { runEntryPoint, runPostgresService } from '@corebank/kit';
import { buildCountApp } from './app.ts';
import { migrateCount } from './migrate.ts';

await runEntryPoint('count', () => runPostgresService({ name: 'count', defaultPort: 3002, migrate: migrateCount, build: buildCountApp }));
