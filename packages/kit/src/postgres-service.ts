import { databaseUrlFor, envString, listenSettings, postgresPoolTimeouts } from './config.ts';
import { createService, runService, type App } from './http.ts';
import { createPool, type Pool } from './postgres.ts';

/**
 * A service that owns one PostgreSQL database: its pool (timeouts from the environment,
 * errors logged through the service's logger), a GET /health that pings the database, and
 * the pool closed with the app.
 */
export function createPostgresService(options: { name: string; databaseUrl: string; logger?: boolean }): { app: App; pool: Pool } {
  const app = createService({
    name: options.name,
    health: async () => void (await pool.query('SELECT 1')),
    ...(options.logger === false ? { logger: false } : {}),
  });
  const pool = createPool(options.databaseUrl, { ...postgresPoolTimeouts(), log: app.log });
  app.addHook('onClose', () => pool.end());
  return { app, pool };
}

export interface PostgresServiceEntry {
  name: 'balance' | 'count';
  defaultPort: number;
  migrate: (databaseUrl: string) => Promise<string[]>;
  build: (options: { databaseUrl: string; serviceToken: string }) => App;
}

/**
 * The entry point shared by the PostgreSQL-backed services: `main.ts migrate` is the seed's
 * migration task (run once, then exit); plain `main.ts` runs the service.
 */
export async function runPostgresService(entry: PostgresServiceEntry, argv = process.argv.slice(2)): Promise<void> {
  const databaseUrl = databaseUrlFor(entry.name);
  if (argv[0] === 'migrate') {
    const applied = await entry.migrate(databaseUrl);
    console.log(applied.length ? `${entry.name}: applied ${applied.join(', ')}` : `${entry.name}: schema is up to date`);
    return;
  }
  const app = entry.build({ databaseUrl, serviceToken: envString('SERVICE_TOKEN') });
  await runService(app, listenSettings(entry.defaultPort));
}
