import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createDynamoClients, ensureTables, getStopFlag, putStopFlag } from '@corebank/transaction';
import { migrateBalance } from '@corebank/balance';
import { migrateCount } from '@corebank/count';
import { ConfigError, ensureDatabase, envOptional, externalDatabaseUrl, waitFor } from '@corebank/kit';
import { startDynamoDbLocal, type DynamoDbLocalHandle } from './dynamodb-local.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './postgres.ts';
import type { EndpointsConfig, RegionUpstreams } from './endpoints.ts';
import { startServiceProcess, type ServiceProcess } from './processes.ts';
import { builtPathOf, ensureBuilt } from '../../bin/build.js';
import {
  DYNAMODB_LOCAL_PORT,
  EMBEDDED_POSTGRES_PORT,
  GLOBAL_ENDPOINT_PORT,
  LOAD_UI_PORT,
  LOCAL_REGIONS,
  MAIN_TABLE,
  paramTableOf,
  type RegionSpec,
} from './regions.ts';

export interface LocalSystemOptions {
  dataDir: string;
  regions?: RegionSpec[];
  globalPort?: number;
  postgresPort?: number;
  dynamodbPort?: number;
  /** Keep DynamoDB Local's tables in memory (tests, benchmarks): faster, gone at stop. */
  dynamodbInMemory?: boolean;
  /** The load client's web UI; null to leave it out. */
  loadUiPort?: number | null;
  /** Extra environment for every service process (test-only knobs such as SAGA_STEP_DELAY_MS). */
  serviceEnv?: Record<string, string>;
  progress?: (line: string) => void;
  /** Aborting it (Ctrl-C) stops the start: what has started is stopped and the start rejects. */
  signal?: AbortSignal;
}

export interface RegionRuntime {
  spec: RegionSpec;
  endpoint: string;
  processes: Record<'balance' | 'count' | 'transaction' | 'worker', ServiceProcess>;
  /** Starts a stopped (killed) service of this region again, with the same settings plus `extraEnv`. */
  restart(service: 'balance' | 'count' | 'transaction' | 'worker', extraEnv?: Record<string, string>): Promise<void>;
}

export interface LocalSystem {
  globalEndpoint: string;
  loadUi?: string;
  dynamodbEndpoint: string;
  databaseUrls: { balance: string; count: string };
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
} as const;
const SERVICE_SCRIPTS = Object.fromEntries(Object.entries(SERVICE_SOURCES).map(([name, source]) => [name, builtPathOf(source)])) as Record<keyof typeof SERVICE_SOURCES, string>;

/**
 * Starts the whole local system: PostgreSQL and DynamoDB Local (embedded unless
 * DATABASE_URL / DYNAMODB_ENDPOINT point elsewhere), schemas and tables, each region's four
 * services as separate processes behind its regional endpoint, the global endpoint, and the
 * load client's UI. Everything started is stopped by `stop()`, in reverse order; a start that
 * fails or is aborted stops what it had started before it rejects, leaving no process behind.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
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
    // Both settle before a failure is thrown, so that the other's server is in `cleanups` when it is stopped.
    const [databases, dynamodbEndpoint] = await allSettledOrThrow([
      preparePostgres(options, progress, cleanups),
      prepareDynamoDb(options, regions, progress, cleanups),
    ] as const);
    const serviceToken = randomBytes(24).toString('hex');

    // Routing controls: the region that starts open is On. The failover workflow will move it.
    const activeRegion = regions.find((region) => region.initialStopFlag === 'false')?.name;
    const globalPort = options.globalPort ?? GLOBAL_ENDPOINT_PORT;
    const endpointsConfig: EndpointsConfig = {
      regions: Object.fromEntries(regions.map((region) => [region.name, upstreamsOf(region)])),
      regional: regions.map((region) => ({ region: region.name, port: region.endpointPort })),
      global: { port: globalPort, activeRegion },
    };
    // The endpoints and the load UI need nothing from the services to start: start them alongside.
    const endpoints = startServiceProcess({
      name: 'endpoints',
      script: SERVICE_SCRIPTS.endpoints,
      env: { COREBANK_ENDPOINTS: JSON.stringify(endpointsConfig) },
      logFile: join(logDir, 'endpoints.log'),
    });
    cleanups.push(() => endpoints.stop());
    const loadUiPort = options.loadUiPort === undefined ? LOAD_UI_PORT : options.loadUiPort;
    const loadUi = loadUiPort === null ? undefined : `http://localhost:${loadUiPort}`;
    if (loadUiPort !== null) {
      const load = startServiceProcess({
        name: 'load',
        script: SERVICE_SCRIPTS.load,
        env: { PORT: String(loadUiPort), WEB_HOST: '127.0.0.1', LOAD_HOST: `http://localhost:${globalPort}` },
        logFile: join(logDir, 'load.log'),
      });
      cleanups.push(() => load.stop());
    }

    const runtimes: RegionRuntime[] = [];
    for (const region of regions) {
      options.signal?.throwIfAborted();
      progress(`starting ${region.label} (${region.name}) services`);
      runtimes.push(await startRegion(region, { ...options, logDir, serviceToken, databases, dynamodbEndpoint }, cleanups));
    }
    const endpointPorts = [globalPort, ...regions.map((region) => region.endpointPort)];
    await waitFor('the endpoints', () => Promise.all(endpointPorts.map((port) => fetchOk(`${url(port)}/health`))), 30_000, 100, options.signal);
    if (loadUi) await waitFor('the load client UI', () => fetchOk(`${loadUi}/`), 30_000, 100, options.signal);

    return {
      globalEndpoint: `http://localhost:${globalPort}`,
      ...(loadUi ? { loadUi } : {}),
      dynamodbEndpoint,
      databaseUrls: databases,
      regions: runtimes,
      serviceToken,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function preparePostgres(options: LocalSystemOptions, progress: (line: string) => void, cleanups: Array<() => Promise<void>>) {
  let databases: { balance: string; count: string };
  const external = { balance: externalDatabaseUrl('balance'), count: externalDatabaseUrl('count') };
  if (external.balance && external.count) {
    databases = { balance: external.balance, count: external.count };
    progress('PostgreSQL: using DATABASE_URL');
    const server = envOptional('DATABASE_URL');
    const onServer = (['balance', 'count'] as const).filter((name) => !envOptional(`${name.toUpperCase()}_DATABASE_URL`));
    if (server) await Promise.all(onServer.map((name) => ensureDatabase(server, name)));
  } else if (external.balance || external.count) {
    throw new ConfigError('set DATABASE_URL, or both BALANCE_DATABASE_URL and COUNT_DATABASE_URL: the local system runs the embedded PostgreSQL for both services or for neither');
  } else {
    const port = options.postgresPort ?? EMBEDDED_POSTGRES_PORT;
    progress(`PostgreSQL: starting the embedded server on 127.0.0.1:${port}`);
    const server: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir: join(options.dataDir, 'postgres'), port, ...(options.signal ? { signal: options.signal } : {}) });
    cleanups.push(() => server.stop());
    await Promise.all([server.ensureDatabase('balance'), server.ensureDatabase('count')]);
    databases = { balance: server.url('balance'), count: server.url('count') };
  }
  const [balance, count] = await Promise.all([migrateBalance(databases.balance), migrateCount(databases.count)]);
  progress(`PostgreSQL: databases balance and count migrated${balance.length + count.length ? ` (${[...balance, ...count].join(', ')})` : ''}`);
  return databases;
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

async function startRegion(
  region: RegionSpec,
  context: LocalSystemOptions & { logDir: string; serviceToken: string; databases: { balance: string; count: string }; dynamodbEndpoint: string },
  cleanups: Array<() => Promise<void>>,
): Promise<RegionRuntime> {
  const dynamoEnv = {
    AWS_REGION: region.name,
    DYNAMODB_ENDPOINT: context.dynamodbEndpoint,
    MAIN_TABLE,
    PARAM_TABLE: paramTableOf(region.name),
  };
  const envOf = {
    balance: { BALANCE_DATABASE_URL: context.databases.balance, PORT: String(region.ports.balance) },
    count: { COUNT_DATABASE_URL: context.databases.count, PORT: String(region.ports.count) },
    transaction: { ...dynamoEnv, PORT: String(region.ports.transaction), WORKER_URL: url(region.ports.worker) },
    worker: {
      ...dynamoEnv,
      PORT: String(region.ports.worker),
      BALANCE_URL: url(region.ports.balance),
      COUNT_URL: url(region.ports.count),
    },
  } as const;

  const launch = async (service: keyof typeof envOf, extraEnv: Record<string, string> = {}) => {
    const logFile = join(context.logDir, `${region.name}-${service}.log`);
    const child = startServiceProcess({
      name: `${region.name}/${service}`,
      script: SERVICE_SCRIPTS[service],
      env: { SERVICE_TOKEN: context.serviceToken, HOST: '127.0.0.1', ...context.serviceEnv, ...envOf[service], ...extraEnv },
      logFile,
    });
    // Stopped with the system even if it never becomes healthy, or is started again later.
    cleanups.push(() => child.stop());
    const health = `${url(region.ports[service])}/health`;
    await waitFor(`${region.label} ${service} (${health})`, async () => {
      if (await Promise.race([child.exited, Promise.resolve(undefined)]) !== undefined) {
        throw new Error(`${service} exited; see ${logFile}`);
      }
      await fetchOk(health);
    }, 60_000, 100, context.signal);
    return child;
  };

  const services = ['balance', 'count', 'transaction', 'worker'] as const;
  const started = await allSettledOrThrow(services.map((service) => launch(service)));
  const processes = Object.fromEntries(services.map((service, i) => [service, started[i]!])) as RegionRuntime['processes'];

  return {
    spec: region,
    endpoint: `http://localhost:${region.endpointPort}`,
    processes,
    restart: async (service, extraEnv) => {
      processes[service] = await launch(service, extraEnv);
    },
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

function upstreamsOf(region: RegionSpec): RegionUpstreams {
  return { '/balance': url(region.ports.balance), '/count': url(region.ports.count), '/transaction': url(region.ports.transaction) };
}

async function fetchOk(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}
