import pg from 'pg';
import { runner } from 'node-pg-migrate';

// BIGINT arrives as a string by default; money here stays within Number's exact range
// (the schema's CHECK constraints cap balances at 2^53 - 1), so parse it, and refuse
// anything that would lose precision rather than round it.
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} exceeds the exact integer range`);
  return value;
});

export type Pool = pg.Pool;

export function createPool(databaseUrl: string, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (server restart, failover) must not crash the service.
  pool.on('error', () => {});
  return pool;
}

/** Applies the SQL migrations in `dir` (node-pg-migrate); running it again changes nothing. */
export async function migrate(databaseUrl: string, dir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    checkOrder: true,
    log,
  });
  return applied.map((migration) => migration.name);
}
