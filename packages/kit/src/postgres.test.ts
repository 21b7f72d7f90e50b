import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '@corebank/testing';
import { waitFor } from './waiting.ts';
import { createPool, DEFAULT_PG_CONNECTION_TIMEOUT_MS, DEFAULT_PG_IDLE_TIMEOUT_MS, DEFAULT_PG_QUERY_TIMEOUT_MS, type Pool } from './postgres.ts';
import { createPostgresService } from './postgres-service.ts';
import { postgresPoolTimeouts } from './config.ts';

let databaseUrl: string;
const pools: Pool[] = [];
beforeAll(async () => {
  databaseUrl = await freshDatabase('kit_pool');
});
afterAll(async () => {
  for (const pool of pools) await pool.end().catch(() => {});
});

function pool(settings: Parameters<typeof createPool>[1]): Pool {
  const created = createPool(databaseUrl, settings);
  pools.push(created);
  return created;
}

describe('createPool', () => {
  it('sets connection, statement, query and idle timeouts', async () => {
    const defaults = pool({});
    expect(defaults.options).toMatchObject({
      connectionTimeoutMillis: DEFAULT_PG_CONNECTION_TIMEOUT_MS,
      idleTimeoutMillis: DEFAULT_PG_IDLE_TIMEOUT_MS,
      query_timeout: DEFAULT_PG_QUERY_TIMEOUT_MS,
    });
    expect((await defaults.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('10s');

    const short = pool({ statementTimeoutMs: 200, queryTimeoutMs: 5000 });
    const started = Date.now();
    await expect(short.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' }); // query_canceled
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('gives up connecting to a server that never answers within the connection timeout', async () => {
    // A listening socket that accepts and says nothing, as a server mid-failover may do.
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const stalled = createPool(`postgres://u:p@127.0.0.1:${port}/db`, { connectionTimeoutMs: 300 });
    const started = Date.now();
    try {
      await expect(stalled.query('SELECT 1')).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await stalled.end().catch(() => {});
      silent.close();
    }
  });

  it('logs an idle connection that failed, and keeps serving', async () => {
    const logged: Array<{ details: object; message: string }> = [];
    const watched = pool({ max: 2, log: { error: (details, message) => logged.push({ details, message }) } });
    const client = await watched.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    client.release(); // idle in the pool now
    const admin = pool({ max: 1 });
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await waitFor('the pool error to be logged', async () => {
      if (logged.length === 0) throw new Error('nothing logged');
    }, 5000, 20);
    expect(logged[0]!.message).toMatch(/PostgreSQL pool/);
    expect((logged[0]!.details as { err: Error }).err).toBeInstanceOf(Error);
    expect((await watched.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });
});

describe('createPostgresService', () => {
  it('reads the pool timeouts from the environment', () => {
    expect(postgresPoolTimeouts({ PG_STATEMENT_TIMEOUT_MS: '2500', PG_CONNECTION_TIMEOUT_MS: '700' })).toEqual({ statementTimeoutMs: 2500, connectionTimeoutMs: 700 });
    expect(() => postgresPoolTimeouts({ PG_QUERY_TIMEOUT_MS: '0' })).toThrow(/PG_QUERY_TIMEOUT_MS/);
    const { app, pool: servicePool } = createPostgresService({ name: 'kit-pool', databaseUrl, logger: false });
    pools.push(servicePool);
    expect(servicePool.options.connectionTimeoutMillis).toBe(DEFAULT_PG_CONNECTION_TIMEOUT_MS);
    return app.close();
  });
});
