import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startGlobalDatabase, type GlobalDatabase, type GlobalDatabaseNodeSpec } from './global-database.ts';
import { freePort, waitFor } from '@corebank/kit';

const runDir = mkdtempSync(join(tmpdir(), 'corebank-global-db-'));
chmodSync(runDir, 0o755); // the servers run as the postgres user when tests run as root
const suffix = randomBytes(3).toString('hex');
let nodes: [GlobalDatabaseNodeSpec, GlobalDatabaseNodeSpec];
let database: GlobalDatabase | undefined;
const measured: Record<string, unknown> = {};

async function sql<Row extends object = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Row[];
  } finally {
    await client.end();
  }
}

const url = (node: string) => database!.url(node, 'bank');

/** Processes of the test's servers: postmasters (by data folder) and their children (titled with the cluster name). */
function serverProcesses(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (nodes.some((node) => command.includes(node.dataDir) || command.startsWith(`postgres: ${node.name}:`))) found.push(`${entry} ${command}`);
    } catch {
      // Ended while we looked.
    }
  }
  return found;
}

/** Commits numbered rows on `primary` one by one until the connection fails; returns the acknowledged numbers. */
async function writeUntilRefused(primary: string, from: number, started: () => void): Promise<number[]> {
  const client = new pg.Client({ connectionString: url(primary) });
  client.on('error', () => {});
  await client.connect();
  const acknowledged: number[] = [];
  try {
    for (let id = from; ; id += 1) {
      await client.query('INSERT INTO ledger (id) VALUES ($1)', [id]);
      acknowledged.push(id);
      if (acknowledged.length === 50) started();
    }
  } catch {
    return acknowledged;
  } finally {
    await client.end().catch(() => {});
  }
}

async function presentIds(node: string): Promise<Set<number>> {
  return new Set((await sql<{ id: number }>(url(node), 'SELECT id FROM ledger')).map((row) => row.id));
}

async function expectReplicatedWithin(primary: string, standby: string, id: number, ms: number): Promise<number> {
  const started = performance.now();
  await sql(url(primary), 'INSERT INTO ledger (id) VALUES ($1)', [id]);
  await waitFor(`row ${id} on ${standby}`, async () => {
    const rows = await sql(url(standby), 'SELECT 1 FROM ledger WHERE id = $1', [id]);
    if (rows.length !== 1) throw new Error('not yet');
  }, ms, 10);
  return Math.round(performance.now() - started);
}

async function expectWriteRefused(node: string): Promise<void> {
  await expect(sql(url(node), 'INSERT INTO ledger (id) VALUES (-1)')).rejects.toMatchObject({ code: '25006', message: expect.stringMatching(/read-only transaction/) });
}

afterAll(async () => {
  await database?.stop();
  console.log(`global database figures: ${JSON.stringify(measured, null, 1)}`);
  rmSync(runDir, { recursive: true, force: true });
});

describe('global database (primary + streaming hot standby)', () => {
  it('builds a hot standby of a new primary, fed by streaming replication', async () => {
    nodes = [
      { name: `east_${suffix}`, dataDir: join(runDir, 'east'), port: await freePort() },
      { name: `west_${suffix}`, dataDir: join(runDir, 'west'), port: await freePort() },
    ];
    database = await startGlobalDatabase({ nodes });
    measured.create = database.startReport;
    expect(database.startReport).toMatchObject({ topology: 'created', primary: nodes[0].name, standby: nodes[1].name, standbyMethod: 'fresh-copy' });
    await database.ensureDatabase('bank');
    await sql(url(nodes[0].name), 'CREATE TABLE ledger (id integer PRIMARY KEY)');
    const status = await database.status();
    expect(status.map((node) => node.role)).toEqual(['primary', 'standby']);
    expect(status[1]).toMatchObject({ streaming: true, lagBytes: expect.any(Number) });
  });

  it('shows a row committed on the primary on the standby within 1 s', async () => {
    measured.replicationMs = await expectReplicatedWithin(nodes[0].name, nodes[1].name, 1, 1000);
  });

  it('has PostgreSQL refuse a write on the standby (SQLSTATE 25006)', async () => {
    await expectWriteRefused(nodes[1].name);
  });

  it('switches over without losing a committed row, and the old primary follows the new one', async () => {
    const [east, west] = [nodes[0].name, nodes[1].name];
    let switchover: ReturnType<GlobalDatabase['switchover']> | undefined;
    const writes = writeUntilRefused(east, 1000, () => (switchover = database!.switchover()));
    const acknowledged = await writes;
    const report = await switchover!;
    measured.switchover = report;
    expect(report).toMatchObject({ from: east, to: west });
    expect(acknowledged.length).toBeGreaterThanOrEqual(50);
    const present = await presentIds(west);
    expect(acknowledged.filter((id) => !present.has(id))).toEqual([]);
    expect(database!.primary()).toBe(west);
    expect((await database!.status()).map((node) => node.role)).toEqual(['standby', 'primary']);
    measured.replicationAfterSwitchoverMs = await expectReplicatedWithin(west, east, 2, 1000);
    await expectWriteRefused(east);
  });

  it('fails over allowing data loss after a SIGKILL of the primary, reporting the WAL it could not confirm', async () => {
    const [east, west] = [nodes[0].name, nodes[1].name];
    // Rows the standby is never sent: its receiver is cut off, as a broken link would, before the primary dies.
    await sql(database!.url(east, 'postgres'), "ALTER SYSTEM SET primary_conninfo = ''");
    await sql(database!.url(east, 'postgres'), 'SELECT pg_reload_conf()');
    await waitFor('east not streaming', async () => {
      const [row] = await sql<{ streaming: boolean }>(database!.url(east, 'postgres'), "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming");
      if (row!.streaming) throw new Error('still streaming');
    });
    const unsent = Array.from({ length: 20 }, (_, index) => 5000 + index);
    for (const id of unsent) await sql(url(west), 'INSERT INTO ledger (id) VALUES ($1)', [id]);
    const before = await database!.status();
    expect(before[0]).toMatchObject({ role: 'standby', streaming: false });
    expect(before[0]!.lagBytes).toBeGreaterThan(0);

    const westProcesses = () => serverProcesses().filter((line) => line.includes(west) || line.includes(nodes[1].dataDir));
    expect(westProcesses().length).toBeGreaterThan(3); // the postmaster and its children, found by the same means
    const killedAt = performance.now();
    await database!.kill(west);
    expect(westProcesses()).toEqual([]);
    const report = await database!.failoverAllowingDataLoss();
    await sql(url(east), 'INSERT INTO ledger (id) VALUES (3)');
    measured.failover = { ...report, killToFirstWriteMs: Math.round(performance.now() - killedAt) };
    await sql(database!.url(east, 'postgres'), 'ALTER SYSTEM RESET primary_conninfo');
    await sql(database!.url(east, 'postgres'), 'SELECT pg_reload_conf()');

    expect(report).toMatchObject({ from: west, to: east });
    expect(report.walBytesNotConfirmed).toBeGreaterThan(0);
    const present = await presentIds(east);
    expect(unsent.filter((id) => present.has(id))).toEqual([]);
    expect(present.has(1) && present.has(2)).toBe(true);
    expect((await database!.status()).map((node) => node.role)).toEqual(['primary', 'down']);
  });

  it('rejoins the lost primary, whose WAL diverged, as the standby of the new one', async () => {
    const [east, west] = [nodes[0].name, nodes[1].name];
    const report = await database!.rejoinAsStandby(west);
    measured.rejoin = report;
    expect(report).toMatchObject({ node: west, primary: east, method: 'fresh-copy' });
    expect(report.walBytesDiscarded).toBeGreaterThan(0);
    expect((await database!.status()).map((node) => node.role)).toEqual(['primary', 'standby']);
    measured.replicationAfterRejoinMs = await expectReplicatedWithin(east, west, 4, 1000);
    await expectWriteRefused(west);
    const present = await presentIds(west);
    expect([5000, 5019].some((id) => present.has(id))).toBe(false);
  });

  it('keeps the roles across a stop and a start', async () => {
    const [east, west] = [nodes[0].name, nodes[1].name];
    await database!.stop();
    expect(serverProcesses()).toEqual([]);
    database = await startGlobalDatabase({ nodes });
    measured.restart = database.startReport;
    expect(database.startReport).toMatchObject({ topology: 'resumed', primary: east, standby: west, standbyMethod: 'followed' });
    expect((await database.status()).map((node) => node.role)).toEqual(['primary', 'standby']);
    await expectReplicatedWithin(east, west, 5, 1000);
    await expectWriteRefused(west);
  });

  it('leaves no process behind when a start fails', async () => {
    await database!.stop();
    database = undefined;
    // The standby's port taken by someone else: the primary starts, the standby cannot.
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(nodes[1].port, '127.0.0.1', resolve));
    try {
      await expect(startGlobalDatabase({ nodes })).rejects.toThrow(/west/);
      expect(serverProcesses()).toEqual([]);
      await expect(sql(`postgres://127.0.0.1:${nodes[0].port}/postgres`, 'SELECT 1')).rejects.toThrow();
      // A server that could not start is no reason to throw its folder away.
      expect(existsSync(join(nodes[1].dataDir, 'standby.signal')) && existsSync(join(nodes[1].dataDir, 'PG_VERSION'))).toBe(true);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    database = await startGlobalDatabase({ nodes });
    expect(database.startReport).toMatchObject({ topology: 'resumed', primary: nodes[0].name, standbyMethod: 'followed' });
    try {
      expect((await presentIds(nodes[1].name)).has(5)).toBe(true);
    } finally {
      await database.stop();
      database = undefined;
    }
    expect(serverProcesses()).toEqual([]);
  });

  it('copies the standby again when the last copy was interrupted', async () => {
    // What a crash in the middle of a copy leaves: the copy's marker, and no standby.signal yet.
    rmSync(join(nodes[1].dataDir, 'standby.signal'));
    writeFileSync(join(nodes[1].dataDir, 'corebank-copy-in-progress'), '');
    database = await startGlobalDatabase({ nodes });
    expect(database.startReport).toMatchObject({ topology: 'resumed', primary: nodes[0].name, standbyMethod: 'fresh-copy' });
    expect((await presentIds(nodes[1].name)).has(5)).toBe(true);
    await expectWriteRefused(nodes[1].name);
  });
});
