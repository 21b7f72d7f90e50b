import { runPostgresService } from '@corebank/kit';
import { buildBalanceApp } from './app.ts';
import { migrateBalance } from './migrate.ts';

await runPostgresService({ name: 'balance', defaultPort: 3001, migrate: migrateBalance, build: buildBalanceApp });
