/**
 * Where a running local system answers: written by startLocalSystem to
 * `<dataDir>/endpoints.json` once it is ready and removed when it stops, so that the
 * `corebank` commands find it, whether `npm start` runs it on the default ports or a test
 * runs a scratch system on free ones (`--data-dir`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SystemAddresses {
  /** The process that runs the system (its control plane). */
  pid: number;
  globalEndpoint: string;
  /** The global endpoint through the load client's link (`corebank fault … --client`). */
  clientLink?: string;
  regions: Array<{ region: string; label: string; endpoint: string }>;
  routingControls: string;
  controlPlane: string;
  dynamodbEndpoint: string;
  loadUi?: string;
  monitor?: string;
}

export const addressesFileOf = (dataDir: string) => join(dataDir, 'endpoints.json');

/** The addresses of the system running on `dataDir`, or undefined if none runs there. */
export function readSystemAddresses(dataDir: string): SystemAddresses | undefined {
  const file = addressesFileOf(dataDir);
  if (!existsSync(file)) return undefined;
  let addresses: SystemAddresses;
  try {
    addresses = JSON.parse(readFileSync(file, 'utf8')) as SystemAddresses;
  } catch {
    return undefined;
  }
  try {
    process.kill(addresses.pid, 0);
  } catch {
    return undefined; // left behind by a system that was killed
  }
  return addresses;
}
