import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@corebank/kit';
import { TOKYO, type RegionSpec } from './regions.ts';
import { startLocalSystem, type LocalSystem } from './system.ts';

/** A region's settings on free ports, so a scratch system never clashes with `npm start`. */
export async function regionOnFreePorts(spec: RegionSpec = TOKYO): Promise<RegionSpec> {
  return {
    ...spec,
    endpointPort: await freePort(),
    ports: { balance: await freePort(), count: await freePort(), transaction: await freePort(), worker: await freePort() },
  };
}

/**
 * The whole local system, as `npm start` runs it, in a temporary data folder on free ports
 * with DynamoDB in memory (end-to-end tests, the bench); `stop()` also removes the folder.
 */
export async function startScratchSystem(options: { serviceEnv?: Record<string, string>; tmpPrefix?: string; signal?: AbortSignal } = {}): Promise<LocalSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), options.tmpPrefix ?? 'corebank-scratch-'));
  chmodSync(dataDir, 0o755); // the embedded server runs as the postgres user when run as root
  const system = await startLocalSystem({
    dataDir,
    ...(options.signal ? { signal: options.signal } : {}),
    regions: [await regionOnFreePorts()],
    globalPort: await freePort(),
    postgresPort: await freePort(),
    dynamodbPort: await freePort(),
    loadUiPort: null,
    dynamodbInMemory: true,
    ...(options.serviceEnv ? { serviceEnv: options.serviceEnv } : {}),
  }).catch((error: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  });
  return {
    ...system,
    stop: async () => {
      await system.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
