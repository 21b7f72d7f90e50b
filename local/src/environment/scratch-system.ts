import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@corebank/kit';
import { LOCAL_REGIONS, type RegionSpec } from './regions.ts';
import { REPO_ROOT } from './processes.ts';
import { startUntilStopRequest } from './stop-requests.ts';
import { MAX_DESIRED_COUNT } from './supervisor-api.ts';
import { SERVICE_NAMES, startLocalSystem, type LocalSystem, type LocalSystemOptions } from './system.ts';

const run = promisify(execFile);

/** Distinct free ports: one port number is never handed out twice within a system. */
async function freePorts(count: number, taken: Set<number>): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      ports.push(port);
    }
  }
  return ports;
}

/** A region's settings on free ports (every instance's too), so a scratch system never clashes with `npm start`. */
export async function regionOnFreePorts(spec: RegionSpec, taken = new Set<number>()): Promise<RegionSpec> {
  const [endpointPort] = await freePorts(1, taken);
  const instancePorts = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (service) => [service, await freePorts(MAX_DESIRED_COUNT, taken)] as const))) as NonNullable<RegionSpec['instancePorts']>;
  return {
    ...spec,
    endpointPort: endpointPort!,
    ports: { balance: instancePorts.balance[0]!, count: instancePorts.count[0]!, transaction: instancePorts.transaction[0]!, worker: instancePorts.worker[0]! },
    instancePorts,
  };
}

/** Every port a scratch system listens on, all free when chosen. */
export async function scratchPorts(): Promise<Required<Pick<LocalSystemOptions, 'regions' | 'globalPort' | 'postgresPort' | 'standbyPostgresPort' | 'dynamodbPort' | 'routingControlsPort' | 'controlPlanePort' | 'monitorPort' | 'clientLinkPort'>>> {
  const taken = new Set<number>();
  const regions: RegionSpec[] = [];
  for (const region of LOCAL_REGIONS) regions.push(await regionOnFreePorts(region, taken));
  const [globalPort, postgresPort, standbyPostgresPort, dynamodbPort, routingControlsPort, controlPlanePort, monitorPort, clientLinkPort] = await freePorts(8, taken);
  return {
    regions,
    globalPort: globalPort!,
    postgresPort: postgresPort!,
    standbyPostgresPort: standbyPostgresPort!,
    dynamodbPort: dynamodbPort!,
    routingControlsPort: routingControlsPort!,
    controlPlanePort: controlPlanePort!,
    monitorPort: monitorPort!,
    clientLinkPort: clientLinkPort!,
  };
}

/**
 * The whole local system, as `npm start` runs it (both regions), in a temporary data folder
 * on free ports with DynamoDB in memory (end-to-end tests, the bench); `stop()` also removes
 * the folder. `restart()` stops it and starts it again on the same folder and ports, as a
 * second `npm start` would (DynamoDB's tables, kept in memory, start empty again).
 */
export type ScratchSystemOptions = { serviceEnv?: Record<string, string>; tmpPrefix?: string; signal?: AbortSignal; canaryPeriodMs?: number; onControlPlaneEvent?: (line: string) => void } & Pick<LocalSystemOptions, 'alarmPeriod' | 'alarmEvaluationPeriods'> & {
  /** false: no monitor, tracing off (the bench's uninstrumented run). */
  monitor?: boolean;
};

export async function startScratchSystem(options: ScratchSystemOptions = {}): Promise<ScratchSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), options.tmpPrefix ?? 'corebank-scratch-'));
  chmodSync(dataDir, 0o755); // the embedded server runs as the postgres user when run as root
  const settings: LocalSystemOptions = {
    dataDir,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(await scratchPorts()),
    loadUiPort: null,
    dynamodbInMemory: true,
    ...(options.serviceEnv ? { serviceEnv: options.serviceEnv } : {}),
    ...(options.monitor === false ? { monitorPort: null } : {}),
    ...(options.alarmPeriod ? { alarmPeriod: options.alarmPeriod } : {}),
    ...(options.alarmEvaluationPeriods ? { alarmEvaluationPeriods: options.alarmEvaluationPeriods } : {}),
    ...(options.canaryPeriodMs ? { canaryPeriodMs: options.canaryPeriodMs } : {}),
    ...(options.onControlPlaneEvent ? { onControlPlaneEvent: options.onControlPlaneEvent } : {}),
  };
  const removeFolder = () => rmSync(dataDir, { recursive: true, force: true });
  let system = await startLocalSystem(settings).catch((error: unknown) => {
    removeFolder();
    throw error;
  });
  const scratch: ScratchSystem = {
    ...system,
    stop: async () => {
      await system.stop();
      removeFolder();
    },
    restart: async () => {
      await system.stop();
      system = await startLocalSystem(settings);
      Object.assign(scratch, system, { stop: scratch.stop, restart: scratch.restart });
    },
    corebank: async (...args) =>
      (await run(process.execPath, ['local/bin/corebank.js', '--data-dir', scratch.dataDir, ...args], { cwd: REPO_ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: scratch.dynamodbEndpoint } })).stdout,
  };
  return scratch;
}

/**
 * For a command that runs on a scratch system of its own (the bench, the drill): starts it,
 * runs `work`, and stops it, whatever happens. A stop request at any moment (Ctrl-C, SIGTERM,
 * SIGHUP, the parent gone) stops every process started and removes the folder, then exits 130.
 */
export async function withScratchSystem<T>(options: Omit<ScratchSystemOptions, 'signal'>, work: (system: ScratchSystem) => Promise<T>): Promise<T> {
  const { system, stopListening } = await startUntilStopRequest((signal) => startScratchSystem({ ...options, signal }), (running, why) => {
    console.log(`\ninterrupted (${why}): stopping the local system ...`);
    void running.stop().finally(() => process.exit(130));
  });
  try {
    return await work(system);
  } finally {
    stopListening();
    await system.stop();
  }
}

export interface ScratchSystem extends LocalSystem {
  restart(): Promise<void>;
  /**
   * Runs the `corebank` command on this system, as a user in another terminal would; resolves
   * with what it printed, rejects (with its `code` and `stderr`) when it exits non-zero.
   */
  corebank(...args: string[]): Promise<string>;
}
