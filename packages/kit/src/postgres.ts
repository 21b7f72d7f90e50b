import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { databaseCallDuration, secondsSince } from './metrics.ts';
import { isTracing, tracedCall } from './telemetry.ts';

// BIGINT arrives as a string by default; money here stays within Number's exact range
// (the schema's CHECK constraints cap balances at 2^53 - 1), so parse it, and refuse
// anything that would lose precision rather than round it.
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} exceeds the exact integer range`);
  return value;
});

export type Pool = pg.Pool;

/** Where a pool reports errors: the service's pino logger (any object with pino's `error`). */
export interface PoolErrorLog {
  error(details: object, message: string): void;
}

export interface PoolSettings {
  max?: number;
  /** Give up opening a connection after this long (a server mid-failover may never answer). */
  connectionTimeoutMs?: number;
  /** Server side: PostgreSQL cancels a statement running longer (statement_timeout). */
  statementTimeoutMs?: number;
  /** Client side: the call fails after this long even if the server never answers (a dead socket). */
  queryTimeoutMs?: number;
  /** Close a connection idle this long, so that stale ones to an old primary do not linger. */
  idleTimeoutMs?: number;
  log?: PoolErrorLog;
}

export const DEFAULT_PG_CONNECTION_TIMEOUT_MS = 5000;
export const DEFAULT_PG_STATEMENT_TIMEOUT_MS = 10_000;
export const DEFAULT_PG_QUERY_TIMEOUT_MS = 15_000;
export const DEFAULT_PG_IDLE_TIMEOUT_MS = 30_000;

const consoleLog: PoolErrorLog = { error: (details, message) => console.error(message, details) };

export function createPool(databaseUrl: string, settings: PoolSettings = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: settings.max ?? 20,
    connectionTimeoutMillis: settings.connectionTimeoutMs ?? DEFAULT_PG_CONNECTION_TIMEOUT_MS,
    statement_timeout: settings.statementTimeoutMs ?? DEFAULT_PG_STATEMENT_TIMEOUT_MS,
    query_timeout: settings.queryTimeoutMs ?? DEFAULT_PG_QUERY_TIMEOUT_MS,
    idleTimeoutMillis: settings.idleTimeoutMs ?? DEFAULT_PG_IDLE_TIMEOUT_MS,
    // Detects a connection whose server vanished (failover) without waiting for the OS default.
    keepAlive: true,
  });
  // An idle client losing its connection (server restart, failover) must not crash the
  // service, but it must be seen: the pool replaces the client on the next checkout.
  const log = settings.log ?? consoleLog;
  pool.on('error', (error) => log.error({ err: error }, 'PostgreSQL pool: an idle connection failed'));
  timeQueries(pool);
  return pool;
}

const SQL_OPERATIONS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'BEGIN', 'COMMIT', 'ROLLBACK', 'WITH', 'CALL']);

/** The statement's first keyword (SELECT, INSERT...): a label of few values, never the SQL text. */
function operationOf(config: unknown): string {
  const text = typeof config === 'string' ? config : (config as { text?: unknown } | undefined)?.text;
  const keyword = typeof text === 'string' ? /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() : undefined;
  return keyword !== undefined && SQL_OPERATIONS.has(keyword) ? keyword : 'OTHER';
}

/**
 * Times every promise-returning pool.query into db_client_operation_duration_seconds. (A
 * client checked out with pool.connect() for a transaction is not timed; the services use
 * pool.query only.)
 */
function timeQueries(pool: pg.Pool): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const timed = (...args: unknown[]): unknown => {
    const start = process.hrtime.bigint();
    const result = isTracing() && typeof args.at(-1) !== 'function'
      ? tracedCall(operationOf(args[0]), { 'db.system.name': 'postgresql', 'db.operation.name': operationOf(args[0]) }, () => query(...args) as Promise<unknown>)
      : query(...args);
    if (result instanceof Promise) {
      const operation = operationOf(args[0]);
      result.then(
        () => databaseCallDuration.observe({ db_system: 'postgresql', operation, outcome: 'ok' }, secondsSince(start)),
        () => databaseCallDuration.observe({ db_system: 'postgresql', operation, outcome: 'error' }, secondsSince(start)),
      );
    }
    return result;
  };
  pool.query = timed as typeof pool.query;
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

/** Creates `database` on the server behind `adminUrl` unless it is already there. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`unsafe database name ${database}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${database}`);
  } catch (error) {
    // Two callers racing to create the same database: the loser sees a duplicate.
    if ((error as { code?: string }).code !== '42P04' && (error as { code?: string }).code !== '23505') throw error;
  } finally {
    await client.end();
  }
}
