/**
 * The local stand-ins for the seed's two AWS regions. A region is a value: its ports, its
 * param table, its database role. The environment starts every region in this list.
 */
export interface RegionSpec {
  /** AWS region name, also the local region name. */
  name: string;
  label: string;
  /** Regional endpoint (the region's ALB): routes /balance*, /count*, /transaction* by path. */
  endpointPort: number;
  /** Service ports in this region: instance 0 of each service (more instances every 10 ports above, see instancePortsOf). */
  ports: { balance: number; count: number; transaction: number; worker: number };
  /** Every instance's port of each service, when not the base port every 10 above (scratch systems take free ports). */
  instancePorts?: { balance: number[]; count: number[]; transaction: number[]; worker: number[] };
  /** Database role: the active region writes to the primary; the standby holds a read-only replica. */
  databaseRole: 'primary' | 'replica';
  /** stopFlag written when the param table is first created: open for the primary, closed for the standby. */
  initialStopFlag: 'true' | 'false';
}

export const TOKYO: RegionSpec = {
  name: 'ap-northeast-1',
  label: 'Tokyo',
  endpointPort: 8081,
  ports: { balance: 3101, count: 3102, transaction: 3103, worker: 3104 },
  databaseRole: 'primary',
  initialStopFlag: 'false',
};

export const OSAKA: RegionSpec = {
  name: 'ap-northeast-3',
  label: 'Osaka',
  endpointPort: 8082,
  ports: { balance: 3201, count: 3202, transaction: 3203, worker: 3204 },
  databaseRole: 'replica',
  initialStopFlag: 'true',
};

/** Regions the local system runs, the primary first: Tokyo active, Osaka the live standby. */
export const LOCAL_REGIONS: RegionSpec[] = [TOKYO, OSAKA];

export const GLOBAL_ENDPOINT_PORT = 8080;
export const LOAD_UI_PORT = 8089;
/** The load client's link to the global endpoint (a fault proxy: `corebank fault … --client`). */
export const CLIENT_LINK_PORT = 8088;
/** The local monitor (Application Signals' stand-in): OTLP receiver, alarms, dashboard. */
export const MONITOR_PORT = 8090;
export const DYNAMODB_LOCAL_PORT = 8000;
export const EMBEDDED_POSTGRES_PORT = 54320;
/** The global database's second node (Osaka's, the hot standby at first). */
export const STANDBY_POSTGRES_PORT = 54321;

export { DEFAULT_MAIN_TABLE as MAIN_TABLE, defaultParamTable as paramTableOf } from '@corebank/transaction';

export function regionNamed(name: string): RegionSpec {
  const region = [TOKYO, OSAKA].find((candidate) => candidate.name === name);
  if (!region) throw new Error(`unknown region ${name}: expected ${TOKYO.name} or ${OSAKA.name}`);
  return region;
}
