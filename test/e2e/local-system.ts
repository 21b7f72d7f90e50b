import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local/src/ports.ts';
import { TOKYO, type RegionSpec } from '../../local/src/regions.ts';
import { startLocalSystem, type LocalSystem } from '../../local/src/system.ts';

/** Tokyo's settings on free ports, so a test system never clashes with `npm start`. */
export async function regionOnFreePorts(spec: RegionSpec = TOKYO): Promise<RegionSpec> {
  return {
    ...spec,
    endpointPort: await freePort(),
    ports: { balance: await freePort(), count: await freePort(), transaction: await freePort(), worker: await freePort() },
  };
}

/** The whole local system, as `npm start` runs it, in a temporary data folder on free ports. */
export async function startTestSystem(serviceEnv: Record<string, string> = {}): Promise<LocalSystem & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'corebank-e2e-'));
  chmodSync(dataDir, 0o755); // the embedded server runs as the postgres user when tests run as root
  const system = await startLocalSystem({
    dataDir,
    regions: [await regionOnFreePorts()],
    globalPort: await freePort(),
    postgresPort: await freePort(),
    dynamodbPort: await freePort(),
    loadUiPort: null,
    dynamodbInMemory: true,
    serviceEnv,
  });
  return {
    ...system,
    dataDir,
    stop: async () => {
      await system.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
