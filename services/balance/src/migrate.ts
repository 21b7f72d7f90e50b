import { fileURLToPath } from 'node:url';
import { migrate } from '@corebank/kit';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** Creates or updates the balance schema; safe to run any number of times. */
export const migrateBalance = (databaseUrl: string, log?: (line: string) => void) => migrate(databaseUrl, MIGRATIONS, log);
