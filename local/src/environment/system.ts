import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDynamoClients, ensureTables, getStopFlag, putStopFlag } from '@corebank/transaction';
import { migrateBalance } from '@corebank/balance';
import { migrateCount } from '@corebank/count';
import { ConfigError, within, ensureDatabase, envOptional, externalDatabaseUrl, freePort, waitFor } from '@corebank/kit';
import { startDynamoDbLocal, type DynamoDbLocalHandle } from './dynamodb-local.ts';
import type { EndpointsConfig } from './endpoints.ts';
import { startServiceProcess, waitForServiceProcess } from './processes.ts';
import { buildControlPlaneApp, type DatabaseControl } from './control-plane.ts';
import { failoverSteps, regionPower } from './failover-steps.ts';
import { createWorkflowRunner, type WorkflowRunner } from './workflow-runner.ts';
import { startAutoFailover, type AutoFailover } from './auto-failover.ts';
import { createFaultController } from './faults/fault-controller.ts';
import { createFaultProxy, type FaultProxy } from './faults/fault-proxy.ts';
import { CLIENT_LINK } from './faults/faults.ts';
import { activeRegionOf, getRoutingControls } from './routing-controls.ts';
import { startGlobalDatabase } from './global-database.ts';
import { ROUTING_CONTROLS_PORT } from './routing-controls.ts';
import { createSupervisor, instancePorts, type Supervisor, type SupervisorEvent } from './supervisor.ts';
import { MAX_DESIRED_COUNT, SUPERVISOR_API_PORT } from './supervisor-api.ts';
import { addressesFileOf, type SystemAddresses } from './addresses.ts';
import { builtPathOf, ensureBuilt } from '../../bin/build.js';
import {
  DYNAMODB_LOCAL_PORT,
  EMBEDDED_POSTGRES_PORT,
  GLOBAL_ENDPOINT_PORT,
  CLIENT_LINK_PORT,
  LOAD_UI_PORT,
  LOCAL_REGIONS,
  MAIN_TABLE,
  MONITOR_PORT,
  paramTableOf,
  STANDBY_POSTGRES_PORT,
  type RegionSpec,
} from './regions.ts';

export type ServiceName = 'balance' | 'count' | 'transaction' | 'worker';
export const SERVICE_NAMES: readonly ServiceName[] = ['balance', 'count', 'transaction', 'worker'];

export interface LocalSystemOptions {
  dataDir: string;
  /** The regions, primary first (two with the embedded database: a node each). */
  regions?: RegionSpec[];
  globalPort?: number;
  /** The global database's nodes: the first region's and the second's. */
  postgresPort?: number;
  standbyPostgresPort?: number;
  dynamodbPort?: number;
  routingControlsPort?: number;
  /** The control plane's API (supervisor and database). */
  controlPlanePort?: number;
  /** Keep DynamoDB Local's tables in memory (tests, benchmarks): faster, gone at stop. */
  dynamodbInMemory?: boolean;
  /** The load client's web UI; null to leave it out. */
  loadUiPort?: number | null;
  /**
   * The load client's link to the global endpoint: a fault proxy, transparent until
   * `corebank fault packet-loss|latency|blackhole --client` (the seed's FIS experiment on the
   * bastion that runs Locust). The load client's Host defaults to it.
   */
  clientLinkPort?: number;
  /**
   * The monitor (OTLP receiver, alarms, dashboard) every service sends its traces to; null to
   * leave it out, and with it tracing and automatic failover (the canary alarms live there).
   */
  monitorPort?: number | null;
  /** The monitor's alarm period ("5m", "10s") and evaluation periods (2). */
  alarmPeriod?: string;
  alarmEvaluationPeriods?: number;
  /** Extra environment for every service process (test-only knobs such as SAGA_STEP_DELAY_MS). */
  serviceEnv?: Record<string, string>;
  progress?: (line: string) => void;
  /** What the supervisor did (an instance exited, started again …), e.g. for `corebank start` to print. */
  onSupervisorEvent?: (event: SupervisorEvent) => void;
  /** Aborting it (Ctrl-C) stops the start: what has started is stopped and the start rejects. */
  signal?: AbortSignal;
  /** The canaries' and their alarms' period (60 s; `corebank start --canary-period 5s`). */
  canaryPeriodMs?: number;
  /** Alarm notifications, initiator decisions and faults, one line each (`corebank start` prints them). */
  onControlPlaneEvent?: (line: string) => void;
}

export interface RegionRuntime {
  spec: RegionSpec;
  endpoint: string;
  /** Instance k of a service listens on instancePorts[service][k]. */
  instancePorts: Record<ServiceName, number[]>;
  /** The databases this region's balance and count services use (its own node of the global database). */
  databaseUrls: { balance: string; count: string };
  /** The process id of instance `index` of `service`, while it runs. */
  pidOf(service: ServiceName, index?: number): number | undefined;
}

export interface LocalSystem {
  dataDir: string;
  globalEndpoint: string;
  /** The global endpoint as the load client reaches it, through the client link's fault proxy. */
  clientLink: string;
  loadUi?: string;
  /** The monitor's dashboard (its JSON API under /api/), unless left out. */
  monitor?: string;
  dynamodbEndpoint: string;
  routingControls: string;
  /** The control plane's API: supervisor routes and the database's. */
  controlPlane: string;
  database: DatabaseControl;
  supervisor: Supervisor;
  /** The failover / failback executions (the Step Functions stand-in). */
  workflows: WorkflowRunner;
  /** The canaries, the auto-failover rule and the initiator; absent without the monitor, which holds their alarms. */
  autoFailover?: AutoFailover;
  regions: RegionRuntime[];
  serviceToken: string;
  stop(): Promise<void>;
}

/** Each process's entry point; the processes run its bundle, built from it by local/bin/build.js. */
const SERVICE_SOURCES = {
  balance: 'services/balance/src/main.ts',
  count: 'services/count/src/main.ts',
  transaction: 'services/transaction/src/api-main.ts',
  worker: 'services/transaction/src/worker-main.ts',
  load: 'client/src/main.ts',
  endpoints: 'local/src/environment/endpoints-main.ts',
  routingControls: 'local/src/environment/routing-controls-main.ts',
  monitor: 'monitor/src/main.ts',
} as const;
const SERVICE_SCRIPTS = Object.fromEntries(Object.entries(SERVICE_SOURCES).map(([name, source]) => [name, builtPathOf(source)])) as Record<keyof typeof SERVICE_SOURCES, string>;

/** How often the supervisor checks each instance (the ALB's interval); a starting one is checked every tick. */
const HEALTH_INTERVAL_MS = 1000;
const SUPERVISOR_TICK_MS = 200;
/** Several of the endpoints' 250 ms polls of the targets, so that a scaled-in instance gets no new request before it stops. */
const DEREGISTRATION_DELAY_MS = 1000;

/**
 * Starts the whole local system, both regions as the AWS deployment stands before any
 * failover: PostgreSQL as a global database (a primary serving the first region and a hot
 * standby serving the second) and DynamoDB Local (unless DATABASE_URL / DYNAMODB_ENDPOINT
 * point elsewhere), schemas and tables, the routing controls, each region's four services
 * under the supervisor behind its regional endpoint, the global endpoint, the control
 * plane's API and the load client's UI. Everything started is stopped by `stop()`, in
 * reverse order; a start that fails or is aborted stops what it had started before it
 * rejects, leaving no process behind.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  if (options.monitorPort === null && options.canaryPeriodMs !== undefined) {
    throw new ConfigError('automatic failover needs the monitor, which evaluates the canary alarms: a canary period was given to a system without the monitor');
  }
  const progress = options.progress ?? (() => {});
  const regions = options.regions ?? LOCAL_REGIONS;
  const logDir = join(options.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    cleanups.length = 0;
  };

  try {
    // Quick when nothing changed; `npm start` has built already, tests and benches may not have.
    await ensureBuilt({ log: progress });
    const globalPort = options.globalPort ?? GLOBAL_ENDPOINT_PORT;
    const routingControlsUrl = url(options.routingControlsPort ?? ROUTING_CONTROLS_PORT);
    const controlPlaneUrl = url(options.controlPlanePort ?? SUPERVISOR_API_PORT);
    const canaryPeriodMs = options.canaryPeriodMs ?? 60_000;

    // The routing controls, the endpoints and the load UI need nothing from the rest to start: start them alongside.
    const routingControls = startServiceProcess({
      name: 'routing-controls',
      script: SERVICE_SCRIPTS.routingControls,
      env: {
        PORT: String(options.routingControlsPort ?? ROUTING_CONTROLS_PORT),
        HOST: '127.0.0.1',
        ROUTING_CONTROLS_FILE: join(options.dataDir, 'routing-controls.json'),
        // First start only: the region that starts open is On. Later starts keep what was set.
        ROUTING_CONTROLS_INITIAL: regions.map((region) => `${region.name}=${region.initialStopFlag === 'false' ? 'On' : 'Off'}`).join(','),
      },
      logFile: join(logDir, 'routing-controls.log'),
    });
    cleanups.push(() => routingControls.stop());
    // Each region's fault proxy listens on its public endpoint port, in front of the regional
    // endpoint on an internal port: transparent until `corebank fault packet-loss|latency|blackhole`.
    const proxies = new Map<string, FaultProxy>();
    for (const region of regions) {
      const proxy = await createFaultProxy({ targetPort: await freePort(), port: region.endpointPort });
      proxies.set(region.name, proxy);
      cleanups.push(() => proxy.close());
    }
    const clientLinkProxy = await createFaultProxy({ targetPort: globalPort, port: options.clientLinkPort ?? CLIENT_LINK_PORT });
    proxies.set(CLIENT_LINK, clientLinkProxy);
    cleanups.push(() => clientLinkProxy.close());
    const clientLink = `http://localhost:${clientLinkProxy.port}`;
    const endpointsConfig: EndpointsConfig = {
      supervisorUrl: controlPlaneUrl,
      routingControlsUrl,
      regionOrder: regions.map((region) => region.name),
      regional: regions.map((region) => ({ region: region.name, port: proxies.get(region.name)!.targetPort, publicUrl: url(region.endpointPort) })),
      global: { port: globalPort },
    };
    const endpoints = startServiceProcess({
      name: 'endpoints',
      script: SERVICE_SCRIPTS.endpoints,
      env: { COREBANK_ENDPOINTS: JSON.stringify(endpointsConfig) },
      logFile: join(logDir, 'endpoints.log'),
    });
    cleanups.push(() => endpoints.stop());
    const loadUiPort = options.loadUiPort === undefined ? LOAD_UI_PORT : options.loadUiPort;
    const loadUi = loadUiPort === null ? undefined : `http://localhost:${loadUiPort}`;
    const load = loadUiPort === null ? undefined : startServiceProcess({
      name: 'load',
      script: SERVICE_SCRIPTS.load,
      env: { PORT: String(loadUiPort), WEB_HOST: '127.0.0.1', LOAD_HOST: clientLink },
      logFile: join(logDir, 'load.log'),
    });
    if (load) cleanups.push(() => load.stop());
    const monitorPort = options.monitorPort === undefined ? MONITOR_PORT : options.monitorPort;
    const monitor = monitorPort === null ? undefined : url(monitorPort);
    const monitorProcess = monitorPort === null ? undefined : startServiceProcess({
      name: 'monitor',
      script: SERVICE_SCRIPTS.monitor,
      env: {
        PORT: String(monitorPort),
        HOST: '127.0.0.1',
        ...(options.alarmPeriod ? { ALARM_PERIOD: options.alarmPeriod } : {}),
        ...(options.alarmEvaluationPeriods ? { ALARM_EVALUATION_PERIODS: String(options.alarmEvaluationPeriods) } : {}),
        // The canaries run in the control plane at this period; their alarms are evaluated here at the same.
        CANARY_PERIOD: `${canaryPeriodMs}ms`,
        // The EventBridge stand-in: each canary alarm's state change goes to the control plane's rule.
        ALARM_EVENTS_URL: `${controlPlaneUrl}/events/alarm-state-change`,
        // The dashboard's active faults.
        CONTROL_PLANE_URL: controlPlaneUrl,
      },
      logFile: join(logDir, 'monitor.log'),
    });
    if (monitorProcess) cleanups.push(() => monitorProcess.stop());

    // Both settle before a failure is thrown, so that the other's server is in `cleanups` when it is stopped.
    const [databases, dynamodbEndpoint] = await allSettledOrThrow([
      preparePostgres(options, regions, logDir, progress, cleanups),
      prepareDynamoDb(options, regions, progress, cleanups),
    ] as const);
    options.signal?.throwIfAborted();
    const serviceToken = randomBytes(24).toString('hex');

    const portsOf = (region: RegionSpec) =>
      Object.fromEntries(SERVICE_NAMES.map((service) => [service, region.instancePorts?.[service] ?? instancePorts(region.ports[service], MAX_DESIRED_COUNT)])) as Record<ServiceName, number[]>;
    const databaseProxies = await databaseFaultProxies(databases, regions, cleanups);
    const serviceDatabasesOf = (region: string) => {
      const proxy = databaseProxies.get(region);
      const urls = databases.urlsOf(region);
      return proxy ? { balance: throughProxy(urls.balance, proxy), count: throughProxy(urls.count, proxy) } : urls;
    };
    const launchers = new Map(regions.map((region) => [region.name, regionLauncher(region, portsOf(region), { ...options, logDir, serviceToken, databases: serviceDatabasesOf(region.name), dynamodbEndpoint, ...(monitor ? { otlpEndpoint: monitor } : {}) })]));
    progress(`starting ${regions.map((region) => `${region.label} (${region.name})`).join(' and ')} services under the supervisor`);
    const supervisor = createSupervisor({
      services: regions.flatMap((region) => SERVICE_NAMES.map((service) => ({ region: region.name, service, ports: portsOf(region)[service], desired: 1 }))),
      launch: (region, service, port) => launchers.get(region)!(service as ServiceName, port),
      healthIntervalMs: HEALTH_INTERVAL_MS,
      tickMs: SUPERVISOR_TICK_MS,
      deregistrationDelayMs: DEREGISTRATION_DELAY_MS,
      ...(options.onSupervisorEvent ? { onEvent: options.onSupervisorEvent } : {}),
    });
    cleanups.push(() => supervisor.stop());
    // Quiet: it runs in the `corebank start` process, whose console is the operator's.
    const failoverContext = { supervisor, database: databases.control, dynamodbEndpoint, routingControlsUrl, serviceToken, services: SERVICE_NAMES };
    const workflows = createWorkflowRunner({
      dataDir: options.dataDir,
      regions: { primary: regions[0]!.name, secondary: regions[1]?.name ?? regions[0]!.name },
      executors: failoverSteps(failoverContext),
    });
    const controlPlaneLog = options.onControlPlaneEvent ?? (() => {});
    // Automatic failover needs the monitor: it evaluates the canary alarms and sends their changes to the rule.
    const autoFailover = monitor
      ? startAutoFailover({
          dataDir: options.dataDir,
          periodMs: canaryPeriodMs,
          monitorUrl: monitor,
          primaryRegion: async () => activeRegionOf(await getRoutingControls(routingControlsUrl), regions.map((region) => region.name)),
          endpointOf: (name) => url((regions.find((region) => region.name === name) ?? regions[0]!).endpointPort),
          executionRunning: () => workflows.list().some((execution) => execution.status === 'running'),
          startFailover: () => workflows.start('failover').id,
          log: controlPlaneLog,
        })
      : undefined;
    if (autoFailover) cleanups.push(() => autoFailover.stop());
    const faults = createFaultController({ supervisor, proxies, databaseProxies, log: controlPlaneLog });
    cleanups.push(async () => faults.stop());
    const controlPlane = buildControlPlaneApp({ supervisor, database: databases.control, workflows, regionPower: regionPower(failoverContext), ...(autoFailover ? { autoFailover } : {}), faults, logger: false });
    await controlPlane.listen({ port: options.controlPlanePort ?? SUPERVISOR_API_PORT, host: '127.0.0.1' });
    cleanups.push(async () => {
      await controlPlane.close();
      // A database switch half done is worse than a late stop; a step stuck waiting is cut (the run resumes later).
      await within(workflows.idle(), 60_000);
    });

    await waitFor('every service healthy', async () => {
      const notReady = supervisor.snapshot().filter((status) => status.healthy < status.desired);
      const crashing = notReady.find((status) => status.instances.some((instance) => instance.restarts >= 3));
      if (crashing) throw new Error(`${crashing.region} ${crashing.service} keeps exiting; see ${join(logDir, `${crashing.region}-${crashing.service}.log`)}`);
      if (notReady.length > 0) throw new Error(`not healthy yet: ${notReady.map((status) => `${status.region} ${status.service}`).join(', ')}`);
    }, 60_000, 100, options.signal, (error) => (error as Error).message.includes('keeps exiting'));
    const endpointPorts = [globalPort, ...regions.map((region) => region.endpointPort)];
    await waitForServiceProcess(routingControls, 'the routing controls', () => getRoutingControls(routingControlsUrl), options.signal);
    await waitForServiceProcess(endpoints, 'the endpoints', () => Promise.all(endpointPorts.map((port) => fetchOk(`${url(port)}/health`))), options.signal);
    if (load) await waitForServiceProcess(load, 'the load client UI', () => fetchOk(`${loadUi}/`), options.signal);
    if (monitorProcess) await waitForServiceProcess(monitorProcess, 'the monitor', () => fetchOk(`${monitor}/health`), options.signal);
    // Once every region answers, so that the canaries' first runs say something about it.
    await autoFailover?.start();

    const runtimes: RegionRuntime[] = regions.map((region) => ({
      spec: region,
      endpoint: `http://localhost:${region.endpointPort}`,
      instancePorts: portsOf(region),
      databaseUrls: databases.urlsOf(region.name),
      pidOf: (service, index = 0) =>
        supervisor.snapshot().find((status) => status.region === region.name && status.service === service)?.instances.find((instance) => instance.index === index)?.pid ?? undefined,
    }));
    const addresses: SystemAddresses = {
      pid: process.pid,
      globalEndpoint: `http://localhost:${globalPort}`,
      clientLink,
      regions: runtimes.map((runtime) => ({ region: runtime.spec.name, label: runtime.spec.label, endpoint: runtime.endpoint })),
      routingControls: routingControlsUrl,
      controlPlane: controlPlaneUrl,
      dynamodbEndpoint,
      ...(loadUi ? { loadUi } : {}),
      ...(monitor ? { monitor } : {}),
    };
    // `corebank status|routing|scale` read it to find this system, also on free ports.
    const addressesFile = addressesFileOf(options.dataDir);
    writeFileSync(addressesFile, `${JSON.stringify(addresses, null, 2)}\n`);
    cleanups.push(async () => rmSync(addressesFile, { force: true }));

    return {
      dataDir: options.dataDir,
      globalEndpoint: addresses.globalEndpoint,
      clientLink,
      ...(loadUi ? { loadUi } : {}),
      ...(monitor ? { monitor } : {}),
      dynamodbEndpoint,
      routingControls: routingControlsUrl,
      controlPlane: controlPlaneUrl,
      database: databases.control,
      supervisor,
      workflows,
      ...(autoFailover ? { autoFailover } : {}),
      regions: runtimes,
      serviceToken,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The databases: with DATABASE_URL (or both per-service URLs) one external server every
 * region uses, no standby; otherwise the global database, a node per region (the first
 * region's the primary on a first start; later starts resume the roles in the data folders),
 * each region's services connected to its own node.
 */
async function preparePostgres(
  options: LocalSystemOptions,
  regions: RegionSpec[],
  logDir: string,
  progress: (line: string) => void,
  cleanups: Array<() => Promise<void>>,
): Promise<{ control: DatabaseControl; urlsOf(region: string): { balance: string; count: string } }> {
  const external = { balance: externalDatabaseUrl('balance'), count: externalDatabaseUrl('count') };
  if (external.balance && external.count) {
    const databases = { balance: external.balance, count: external.count };
    progress('PostgreSQL: using DATABASE_URL (one server for every region, no standby)');
    const server = envOptional('DATABASE_URL');
    const onServer = (['balance', 'count'] as const).filter((name) => !envOptional(`${name.toUpperCase()}_DATABASE_URL`));
    if (server) await Promise.all(onServer.map((name) => ensureDatabase(server, name)));
    await migrate(databases, progress);
    return { control: { kind: 'external', regions: regions.map((region) => region.name) }, urlsOf: () => databases };
  }
  if (external.balance || external.count) {
    throw new ConfigError('set DATABASE_URL, or both BALANCE_DATABASE_URL and COUNT_DATABASE_URL: the local system runs the embedded PostgreSQL for both services or for neither');
  }
  const [first, second] = regions;
  if (!first || !second || regions.length !== 2) throw new ConfigError('the embedded global database has one node per region: run exactly two regions, or set DATABASE_URL');
  const ports = [options.postgresPort ?? EMBEDDED_POSTGRES_PORT, options.standbyPostgresPort ?? STANDBY_POSTGRES_PORT] as const;
  progress(`PostgreSQL: starting the global database (${first.name} on 127.0.0.1:${ports[0]}, ${second.name} on 127.0.0.1:${ports[1]})`);
  const logs = new Map([first, second].map((region) => [region.name, createWriteStream(join(logDir, `postgres-${region.name}.log`), { flags: 'a' })]));
  const closeLogs = async () => {
    await Promise.all([...logs.values()].map((stream) => new Promise((resolve) => stream.end(resolve))));
  };
  const database = await startGlobalDatabase({
    nodes: [
      { name: first.name, dataDir: join(options.dataDir, `postgres-${first.name}`), port: ports[0] },
      { name: second.name, dataDir: join(options.dataDir, `postgres-${second.name}`), port: ports[1] },
    ],
    log: (node, line) => logs.get(node)?.write(`${line}\n`),
  }).catch(async (error: unknown) => {
    await closeLogs();
    throw error;
  });
  cleanups.push(async () => {
    await database.stop();
    await closeLogs();
  });
  const report = database.startReport;
  progress(`PostgreSQL: ${report.topology === 'created' ? 'created' : 'resumed'}: primary ${report.primary}, hot standby ${report.standby} (${report.standbyMethod})`);
  await Promise.all([database.ensureDatabase('balance'), database.ensureDatabase('count')]);
  await migrate({ balance: database.url(database.primary(), 'balance'), count: database.url(database.primary(), 'count') }, progress);
  return {
    control: { kind: 'global', database },
    urlsOf: (region) => ({ balance: database.url(region, 'balance'), count: database.url(region, 'count') }),
  };
}

/**
 * With the global database, each region's services reach their node through a fault proxy
 * (`corebank fault blackhole --database`), transparent until then; replication and the
 * workflow's role changes address the nodes directly, as Aurora's own traffic does not cross
 * the application's network. An external server (DATABASE_URL) gets none.
 */
async function databaseFaultProxies(databases: { control: DatabaseControl; urlsOf(region: string): { balance: string } }, regions: RegionSpec[], cleanups: Array<() => Promise<void>>): Promise<Map<string, FaultProxy>> {
  const proxies = new Map<string, FaultProxy>();
  if (databases.control.kind !== 'global') return proxies;
  for (const region of regions) {
    const proxy = await createFaultProxy({ targetPort: Number(new URL(databases.urlsOf(region.name).balance).port) });
    proxies.set(region.name, proxy);
    cleanups.push(() => proxy.close());
  }
  return proxies;
}

/** `url` with its port replaced by the proxy's. */
function throughProxy(url: string, proxy: FaultProxy): string {
  const through = new URL(url);
  through.port = String(proxy.port);
  return through.toString();
}

async function migrate(databases: { balance: string; count: string }, progress: (line: string) => void): Promise<void> {
  const [balance, count] = await Promise.all([migrateBalance(databases.balance), migrateCount(databases.count)]);
  progress(`PostgreSQL: databases balance and count migrated${balance.length + count.length ? ` (${[...balance, ...count].join(', ')})` : ''}`);
}

async function prepareDynamoDb(options: LocalSystemOptions, regions: RegionSpec[], progress: (line: string) => void, cleanups: Array<() => Promise<void>>) {
  let endpoint = envOptional('DYNAMODB_ENDPOINT');
  if (endpoint) {
    progress(`DynamoDB: using ${endpoint}`);
  } else {
    const port = options.dynamodbPort ?? DYNAMODB_LOCAL_PORT;
    progress(`DynamoDB: starting DynamoDB Local on 127.0.0.1:${port}`);
    const local: DynamoDbLocalHandle = await startDynamoDbLocal({
      port,
      ...(options.dynamodbInMemory ? {} : { dataDir: join(options.dataDir, 'dynamodb') }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    cleanups.push(() => local.stop());
    endpoint = local.endpoint;
  }
  for (const region of regions) {
    const dynamo = createDynamoClients({ region: region.name, endpoint });
    try {
      await ensureTables(dynamo.client, { mainTable: MAIN_TABLE, paramTable: paramTableOf(region.name) });
      // First start only: later starts keep whatever the operator (or a failover) set.
      if ((await getStopFlag(dynamo.doc, paramTableOf(region.name))) === undefined) {
        await putStopFlag(dynamo.doc, paramTableOf(region.name), region.initialStopFlag);
      }
    } finally {
      dynamo.destroy();
    }
  }
  progress(`DynamoDB: tables ${MAIN_TABLE} and ${regions.map((region) => paramTableOf(region.name)).join(', ')} ready`);
  return endpoint;
}

/**
 * Starts one instance of a service of `region` on `port`, as the supervisor asks. The worker
 * and the API talk to instance 0 of their region's services (its base port): with more
 * instances the worker still uses instance 0, and a dead instance 0 is started again by the
 * supervisor within seconds, well inside the worker's forward-step retry budget.
 */
function regionLauncher(
  region: RegionSpec,
  ports: Record<ServiceName, number[]>,
  context: LocalSystemOptions & { logDir: string; serviceToken: string; databases: { balance: string; count: string }; dynamodbEndpoint: string; otlpEndpoint?: string },
) {
  const dynamoEnv = {
    AWS_REGION: region.name,
    DYNAMODB_ENDPOINT: context.dynamodbEndpoint,
    MAIN_TABLE,
    PARAM_TABLE: paramTableOf(region.name),
  };
  const base = (service: ServiceName) => url(ports[service][0]!);
  const envOf: Record<ServiceName, Record<string, string>> = {
    balance: { AWS_REGION: region.name, BALANCE_DATABASE_URL: context.databases.balance },
    count: { AWS_REGION: region.name, COUNT_DATABASE_URL: context.databases.count },
    transaction: { ...dynamoEnv, WORKER_URL: base('worker') },
    worker: { ...dynamoEnv, BALANCE_URL: base('balance'), COUNT_URL: base('count') },
  };
  // Traces to the monitor, under the names Application Signals shows (the worker is a service of its own there).
  const telemetryOf = (service: ServiceName): Record<string, string> =>
    context.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: context.otlpEndpoint, OTEL_SERVICE_NAME: service === 'worker' ? 'transaction-worker' : service } : {};
  return (service: ServiceName, port: number) => {
    const index = ports[service].indexOf(port);
    return startServiceProcess({
      name: `${region.name}/${service}#${index}`,
      script: SERVICE_SCRIPTS[service],
      env: { SERVICE_TOKEN: context.serviceToken, HOST: '127.0.0.1', ...context.serviceEnv, ...envOf[service], ...telemetryOf(service), PORT: String(port) },
      logFile: join(context.logDir, `${region.name}-${service}${index > 0 ? `-${index}` : ''}.log`),
    });
  };
}

/** Like Promise.all, but waits for every promise to settle before it throws the first failure. */
async function allSettledOrThrow<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

const url = (port: number) => `http://127.0.0.1:${port}`;

async function fetchOk(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}
