import { runEntryPoint, runPostgresService } from '@corebank/kit';
import { buildBalanceApp } from './app.ts';
import { migrateBalance } from './migrate.ts';

await runEntryPoint('balance', () => runPostgresService({ name: 'balance', defaultPort: 3001, migrate: migrateBalance, build: buildBalanceApp }));
