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
export type PoolClient = pg.PoolClient;

export function createPool(databaseUrl: string, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (server restart, failover) must not crash the service.
  pool.on('error', () => {});
  return pool;
}

/** Runs `work` in one database transaction: committed if it returns, rolled back if it throws. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Serialises every operation on one transaction id (a step and its compensation arriving
 * together, or a retry racing the original) for the rest of the database transaction.
 */
export async function lockTransactionId(client: pg.PoolClient, transactionId: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [transactionId]);
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
