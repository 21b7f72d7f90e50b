import { fileURLToPath } from 'node:url';
import { migrate } from '@corebank/kit';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** Creates or updates the count schema; safe to run any number of times. */
export const migrateCount = (databaseUrl: string, log?: (line: string) => void) => migrate(databaseUrl, MIGRATIONS, log);
