import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { durationMs, envOptional, externalDatabaseUrl } from '@corebank/kit';
import { migrateBalance } from '@corebank/balance';
import { migrateCount } from '@corebank/count';
import { createDynamoClients, createSagaStore, ensureTables, getStopFlag, putStopFlag } from '@corebank/transaction';
import { registerLoadCommand } from '@corebank/client';
import { startLocalSystem } from '../environment/system.ts';
import { JavaMissingError } from '../environment/dynamodb-local.ts';
import { embeddedPostgresUrl, PostgresStartError, relocatedDataDirOf } from '../environment/postgres.ts';
import { DYNAMODB_LOCAL_PORT, EMBEDDED_POSTGRES_PORT, LOCAL_REGIONS, MAIN_TABLE, paramTableOf, regionNamed, TOKYO } from '../environment/regions.ts';
import { REPO_ROOT } from '../environment/processes.ts';
import { addressesFileOf, readSystemAddresses, type SystemAddresses } from '../environment/addresses.ts';
import { controlPlaneClient, getDatabaseStatus } from '../environment/control-plane.ts';
import { formatStepOutput, followExecution } from './executions.ts';
import { startUntilStopRequest } from '../environment/stop-requests.ts';
import { activeRegionOf, getRoutingControls, setRoutingControl } from '../environment/routing-controls.ts';
import { getServiceStatus, MAX_DESIRED_COUNT, scaleService } from '../environment/supervisor-api.ts';
import type { ServiceStatus } from '../environment/supervisor.ts';
import type { WorkflowName } from '@corebank/workflow';
import { SERVICE_NAMES } from '../environment/system.ts';
import type { AutoFailoverStatus } from '../environment/auto-failover.ts';
import { FaultArgumentError, formatFaultList, parseDuration, parseFaultArgs, FAULT_KINDS } from '../environment/faults/faults.ts';

/** Embedded defaults, so that the set-up commands reach what `npm start` runs. */
const localDatabaseUrl = (service: 'balance' | 'count') => externalDatabaseUrl(service) ?? embeddedPostgresUrl(EMBEDDED_POSTGRES_PORT, service);
const dynamodbEndpoint = () => envOptional('DYNAMODB_ENDPOINT') ?? `http://localhost:${DYNAMODB_LOCAL_PORT}`;

/** The `corebank` command line, built without running anything (`main.ts` runs it). */
export function buildProgram(): Command {
  const program = new Command('corebank')
    .description('corebank: run the local multi-region core-banking system and its set-up tasks')
    .option('--data-dir <dir>', 'where the local system keeps its data (env COREBANK_DATA_DIR)', process.env.COREBANK_DATA_DIR ?? resolve(REPO_ROOT, '.corebank'))
    .showHelpAfterError();

  const dataDir = () => resolve(program.opts<{ dataDir: string }>().dataDir);
  const pidFile = () => resolve(dataDir(), 'corebank.pid');

  program
    .command('start')
    .description('start the whole local system (PostgreSQL, DynamoDB Local, four services per region, endpoints, load UI); Ctrl-C stops it')
    .option('--no-load-ui', 'do not start the load client UI on :8089')
    .option('--alarm-period <duration>', 'the monitor\'s alarm period, as 5m (CloudWatch\'s) or 10s for a demo (env ALARM_PERIOD)', alarmPeriod, process.env.ALARM_PERIOD ?? '5m')
    .option('--canary-period <duration>', 'the canaries\' and their alarms\' period (60s; e.g. 5s for a demo)', (value) => {
      try {
        return parseDuration(value);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    })
    .action(async (options: { loadUi: boolean; alarmPeriod: string; canaryPeriod?: number }) => {
      const running = runningPid(pidFile());
      if (running) fail(`corebank is already running (pid ${running}); stop it first`);
      const started = Date.now();
      let stopping = false;
      // Ctrl-C while starting stops whatever has started so far; once running, the whole system.
      const { system } = await startUntilStopRequest((signal) => startLocalSystem({
        dataDir: dataDir(),
        ...(options.loadUi ? {} : { loadUiPort: null }),
        alarmPeriod: options.alarmPeriod,
        ...(options.canaryPeriod ? { canaryPeriodMs: options.canaryPeriod } : {}),
        progress: (line) => console.log(`  ${line}`),
        onControlPlaneEvent: (line) => {
          if (!stopping) console.log(`${new Date().toISOString()} ${line}`);
        },
        // What ECS would put in the service's events: a crash, and the restart that follows.
        onSupervisorEvent: (event) => {
          if (stopping) return;
          const name = `${event.region}/${event.service}#${event.index}`;
          if (event.type === 'exited') console.error(`! ${name} exited (${String(event.code)})${event.restartInMs === undefined ? '' : `; starting it again in ${event.restartInMs} ms`}; see ${resolve(dataDir(), 'logs')}`);
          else if (event.type === 'started' && event.restart) console.error(`  ${name} started again (pid ${event.pid})`);
        },
        signal,
      }), async (localSystem, why) => {
        stopping = true;
        console.log(`\nstopping corebank (${why}) ...`);
        await localSystem.stop();
        rmSync(pidFile(), { force: true });
        console.log('stopped.');
        process.exit(0);
      }).catch((error: unknown) => fail(error instanceof JavaMissingError || error instanceof PostgresStartError ? error.message : `start failed: ${(error as Error).message}`));
      writeFileSync(pidFile(), String(process.pid));

      console.log(`\ncorebank is running (${((Date.now() - started) / 1000).toFixed(1)} s). Data: ${dataDir()}\n`);
      console.log(`  global endpoint      ${system.globalEndpoint}   (api.example.com, to the region whose routing control is On)`);
      for (const region of system.regions) {
        console.log(`  ${region.spec.label.padEnd(8)} endpoint    ${region.endpoint}   (api.${region.spec.name}.example.com)`);
      }
      if (system.loadUi) console.log(`  load client UI       ${system.loadUi}   (its Host, ${system.clientLink}, reaches ${system.globalEndpoint} through the client link: corebank fault … --client)`);
      if (system.monitor) console.log(`  monitor dashboard    ${system.monitor}/   (traces, service map, alarms every ${options.alarmPeriod})`);
      console.log(`  routing controls     ${system.routingControls}   (corebank routing get|set)`);
      console.log(`  control plane        ${system.controlPlane}   (corebank status, corebank scale)`);
      console.log(`  DynamoDB             ${system.dynamodbEndpoint}`);
      for (const region of system.regions) {
        console.log(`  PostgreSQL ${region.spec.label.padEnd(9)} ${region.databaseUrls.balance.replace(/:[^:@/]*@/, ':***@')}`);
      }
      console.log(`  logs                 ${resolve(dataDir(), 'logs')}\n`);
      console.log('Try:  curl -X POST localhost:8080/transaction/deposit -H "X_ACCOUNT_ID: 1231221" -H "Content-Type: application/json" -d \'{"quantity": 1000}\'');
      console.log('      npx corebank status');
      console.log('Press Ctrl-C to stop.\n');
    });

  program
    .command('reset')
    .description('wipe the local data folder (accounts, sagas, parameters, logs)')
    .action(() => {
      const running = runningPid(pidFile());
      if (running) fail(`corebank is running (pid ${running}); stop it before reset`);
      rmSync(dataDir(), { recursive: true, force: true });
      // As root in a folder the postgres user cannot reach, PostgreSQL's data lived there instead.
      const relocated = ['postgres', ...LOCAL_REGIONS.map((region) => `postgres-${region.name}`)]
        .map((folder) => relocatedDataDirOf(resolve(dataDir(), folder)))
        .filter((folder) => existsSync(folder));
      for (const folder of relocated) rmSync(folder, { recursive: true, force: true });
      console.log(`removed ${[dataDir(), ...relocated].join(' and ')}`);
    });

  program
    .command('migrate')
    .description('create or update a service database (the seed\'s balance and count migration tasks; idempotent)')
    .argument('<service>', 'balance or count', (value) => {
      if (value !== 'balance' && value !== 'count') throw new InvalidArgumentError('expected balance or count');
      return value;
    })
    .action(async (service: 'balance' | 'count') => {
      const url = localDatabaseUrl(service);
      const applied = await (service === 'balance' ? migrateBalance(url) : migrateCount(url)).catch((error: Error) =>
        fail(`could not migrate ${service}: ${error.message}. Is the local system running (npm start), or DATABASE_URL set?`),
      );
      console.log(applied.length ? `${service}: applied ${applied.join(', ')}` : `${service}: schema is up to date`);
    });

  program
    .command('init-tables')
    .description('create the DynamoDB main table and the param table of each region (idempotent)')
    .option('--region <region>', 'only this region\'s param table')
    .action(async (options: { region?: string }) => {
      const regions = options.region ? [regionNamed(options.region)] : LOCAL_REGIONS;
      for (const region of regions) {
        await withDynamo(region.name, async ({ client }) => {
          await ensureTables(client, { mainTable: MAIN_TABLE, paramTable: paramTableOf(region.name) });
          console.log(`${region.name}: tables ${MAIN_TABLE} and ${paramTableOf(region.name)} ready at ${dynamodbEndpoint()}`);
        });
      }
    });

  const param = program.command('param').description('read or write a region\'s parameters (the seed\'s aws dynamodb put-item)');
  param
    .command('put')
    .description('set a parameter, e.g. `param put stopFlag true` closes the region')
    .argument('<name>', 'parameter name (stopFlag)', parameterName)
    .argument('<value>', 'true or false', (value) => {
      if (value !== 'true' && value !== 'false') throw new InvalidArgumentError('expected true or false');
      return value;
    })
    .option('--region <region>', 'region', TOKYO.name)
    .action(async (_name: string, value: 'true' | 'false', options: { region: string }) => {
      const region = regionNamed(options.region);
      await withDynamo(region.name, async ({ doc }) => {
        await putStopFlag(doc, paramTableOf(region.name), value);
        console.log(`${region.name}: stopFlag = "${value}" (${paramTableOf(region.name)}); services see it within 10 s`);
      });
    });
  param
    .command('get')
    .description('show a parameter')
    .argument('<name>', 'parameter name (stopFlag)', parameterName)
    .option('--region <region>', 'region', TOKYO.name)
    .action(async (_name: string, options: { region: string }) => {
      const region = regionNamed(options.region);
      await withDynamo(region.name, async ({ doc }) => {
        const value = await getStopFlag(doc, paramTableOf(region.name));
        console.log(value === undefined ? `${region.name}: stopFlag is not set` : `${region.name}: stopFlag = "${value}"`);
      });
    });

  program
    .command('sagas')
    .description('list sagas an operator must look at: --stuck lists those whose compensation exhausted its budget (their account stays locked)')
    .option('--stuck', 'list stuck sagas with account, transactionId, step, last error and since when')
    .option('--json', 'print JSON instead of a table')
    .option('--resume <transactionId>', 'put a stuck saga back for the workers (once its cause is fixed): its compensation runs again')
    .action(async (options: { stuck?: boolean; json?: boolean; resume?: string }) => {
      if (!options.stuck && !options.resume) fail('say what to list: corebank sagas --stuck [--json], or --resume <transactionId>');
      // The main table is global: any region's endpoint sees every saga.
      await withDynamo(TOKYO.name, async ({ doc }) => {
        const store = createSagaStore({ doc, mainTable: envOptional('MAIN_TABLE') ?? MAIN_TABLE });
        if (options.resume) {
          const resumed = await store.resumeStuckSaga(options.resume);
          if (!resumed) fail(`saga ${options.resume} is not stuck`);
          console.log(`saga ${options.resume} resumed: a worker picks it up at its next poll`);
          return;
        }
        const stuck = (await store.listStuckSagas()).map((saga) => ({
          accountId: saga.accountId,
          transactionId: saga.transactionId,
          kind: saga.kind,
          step: saga.step,
          lastError: saga.lastError ?? '',
          stuckSince: saga.stuckSince ?? '',
        }));
        if (options.json) return console.log(JSON.stringify(stuck, null, 2));
        if (stuck.length === 0) return console.log('no stuck sagas');
        console.log(['account', 'transactionId', 'step', 'since', 'last error'].join('\t'));
        for (const saga of stuck) console.log([saga.accountId, saga.transactionId, saga.step, saga.stuckSince, saga.lastError].join('\t'));
      });
    });

  /** The running system's addresses, or a one-line failure when none runs on the data folder. */
  const runningSystem = (): SystemAddresses =>
    readSystemAddresses(dataDir()) ?? fail(`the local system is not running (nothing live wrote ${addressesFileOf(dataDir())}); start it with npm start`);

  const routing = program.command('routing').description('read or change the routing controls (the seed\'s aws route53-recovery-cluster get|update-routing-control-state)');
  routing
    .command('get')
    .description('show every region\'s routing control and the region the global endpoint sends traffic to')
    .action(async () => {
      const system = runningSystem();
      const states = await getRoutingControls(system.routingControls).catch((error: Error) => fail(`routing controls at ${system.routingControls}: ${error.message}`));
      for (const [region, state] of Object.entries(states)) console.log(`${region}\t${state}`);
      console.log(`active region: ${activeRegionOf(states, system.regions.map((region) => region.region)) ?? 'none (every control is Off: the global endpoint answers 503)'}`);
    });
  routing
    .command('set')
    .description('turn a region\'s routing control On or Off; the global endpoint follows within a second')
    .argument('<region>', 'region, e.g. ap-northeast-3')
    .argument('<state>', 'On or Off', (value) => {
      if (value !== 'On' && value !== 'Off') throw new InvalidArgumentError('expected On or Off');
      return value;
    })
    .action(async (region: string, state: 'On' | 'Off') => {
      const system = runningSystem();
      const control = await setRoutingControl(system.routingControls, region, state).catch((error: Error) => fail(error.message));
      console.log(`${control.RoutingControlName}: routing control ${control.RoutingControlState}`);
    });

  program
    .command('scale')
    .description('set the desired count of a service in a region (the seed\'s aws ecs update-service --desired-count); 0 stops it')
    .argument('<region>', 'region, e.g. ap-northeast-1')
    .argument('<service>', SERVICE_NAMES.join(', '), (value) => {
      if (!(SERVICE_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${SERVICE_NAMES.join(', ')}`);
      return value;
    })
    .argument('<count>', `desired count, 0..${MAX_DESIRED_COUNT}`, (value) => {
      const count = Number(value);
      if (!/^\d+$/.test(value) || count > MAX_DESIRED_COUNT) throw new InvalidArgumentError(`expected a whole number from 0 to ${MAX_DESIRED_COUNT}`);
      return count;
    })
    .action(async (region: string, service: string, count: number) => {
      const system = runningSystem();
      const status = await scaleService(system.controlPlane, region, service, count).catch((error: Error) => fail(error.message));
      console.log(`${status.region} ${status.service}: desired ${status.desired}, running ${status.running}, healthy ${status.healthy}`);
    });

  program
    .command('status')
    .description('per region: open or closed (stopFlag), routing control, database role and replication lag, each service\'s desired and running instances')
    .option('--json', 'print JSON: {activeRegion, regions: [{region, stopFlag, routingControl, database, replicationLagBytes, services}]}')
    .action(async (options: { json?: boolean }) => {
      const system = runningSystem();
      const status = await readSystemStatus(system).catch((error: Error) => fail(`could not read the status: ${error.message}`));
      if (options.json) return console.log(JSON.stringify(status, null, 2));
      console.log(`active region: ${status.activeRegion ?? 'none (every routing control is Off)'}   global endpoint ${system.globalEndpoint}`);
      if (status.autoFailover) console.log(autoFailoverLine(status.autoFailover));
      for (const region of status.regions) {
        const label = system.regions.find((each) => each.region === region.region)?.label ?? region.region;
        const lag = region.replicationLagBytes === null ? '' : `, replication lag ${region.replicationLagBytes} bytes`;
        console.log(`\n${label} (${region.region})  ${region.stopFlag ? 'closed' : 'open'} (stopFlag ${region.stopFlag})  routing control ${region.routingControl}  database ${region.database}${lag}`);
        console.log('  service       desired  running  healthy  instances');
        for (const [name, service] of Object.entries(region.services)) {
          const instances = service.instances.map((instance) => `#${instance.index} :${instance.port} ${instance.state}${instance.restarts ? ` (${instance.restarts} restarts)` : ''}`).join(', ');
          console.log(`  ${name.padEnd(12)}  ${String(service.desired).padEnd(7)}  ${String(service.running).padEnd(7)}  ${String(service.healthy).padEnd(7)}  ${instances || '-'}`);
        }
      }
    });

  const withControlPlane = async <T>(work: (client: ReturnType<typeof controlPlaneClient>) => Promise<T>): Promise<T> => {
    const client = controlPlaneClient(runningSystem().controlPlane);
    try {
      return await work(client).catch((error: Error) => fail(error.message));
    } finally {
      await client.close();
    }
  };
  const runWorkflow = (workflow: WorkflowName) =>
    withControlPlane(async (client) => {
      const started = await client.startExecution(workflow);
      const resumed = started.resumedAt.length > 0;
      console.log(`${resumed ? 'continuing' : 'started'} ${workflow} ${started.source} → ${started.destination} (execution ${started.id})`);
      const ended = await followExecution(client, started.id, (line) => console.log(line));
      if (ended.status === 'failed') fail(`${workflow} failed at step ${ended.error?.step ?? '?'}: ${ended.error?.message ?? ''}; run the same command again to continue from that step`);
      const total = Date.parse(ended.endedAt ?? ended.startedAt) - Date.parse(ended.resumedAt.at(-1) ?? ended.startedAt);
      console.log(`${workflow} succeeded in ${(total / 1000).toFixed(1)} s: ${ended.destination} is active`);
    });
  program
    .command('failover')
    .description('move the system from Tokyo to Osaka with the failover workflow (planned, no data loss); --allow-data-loss when Tokyo is lost')
    .option('--allow-data-loss', 'Tokyo is lost: promote Osaka\'s database without it (Aurora FailoverGlobalCluster AllowDataLoss) and print what could not be confirmed')
    .action((options: { allowDataLoss?: boolean }) => runWorkflow(options.allowDataLoss ? 'failover-allow-data-loss' : 'failover'));
  program
    .command('failback')
    .description('move the system back from Osaka to Tokyo (planned, no data loss)')
    .action(() => runWorkflow('failback'));
  program
    .command('executions')
    .description('the failover and failback executions, newest last: step timings, outcome, the error of a failed step')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withControlPlane(async (client) => {
        const executions = await client.executions();
        if (options.json) return console.log(JSON.stringify(executions, null, 2));
        if (executions.length === 0) return console.log('no executions yet');
        for (const execution of executions) {
          console.log(`${execution.id}  ${execution.workflow}  ${execution.source} → ${execution.destination}  ${execution.status}  started ${execution.startedAt}${execution.endedAt ? `  ended ${execution.endedAt}` : ''}${execution.resumedAt.length ? `  resumed ${execution.resumedAt.length}×` : ''}`);
          for (const step of execution.steps) {
            const duration = step.durationMs === undefined ? '' : `${(step.durationMs / 1000).toFixed(2)} s`;
            console.log(`  ${step.status.padEnd(9)} ${step.name.padEnd(34)} ${duration.padStart(9)}  ${step.error ?? formatStepOutput(step.output)}`);
          }
        }
      }),
    );
  const region = program.command('region').description('the region-loss drill: cut a region\'s power, bring it back as the standby');
  region
    .command('kill')
    .description('SIGKILL the region\'s database node and every service instance, as a power cut would (desired counts 0)')
    .argument('<region>', 'region, e.g. ap-northeast-1')
    .action((name: string) =>
      withControlPlane(async (client) => {
        const report = await client.killRegion(name);
        console.log(`${name}: killed ${(report.killedPids as number[]).length} service instances and its database node (${String(report.database)}); next: corebank failover --allow-data-loss`);
      }),
    );
  region
    .command('restore')
    .description('bring a killed region back as the standby: stopFlag true, its node a standby of the primary (a fresh copy if it diverged), one instance of each service')
    .argument('<region>', 'region, e.g. ap-northeast-1')
    .action((name: string) =>
      withControlPlane(async (client) => {
        const report = await client.restoreRegion(name);
        const database = report.database as { method?: string; walBytesDiscarded?: number | null; primary?: string } | undefined;
        console.log(`${name}: back as the standby region (closed)${database ? `; its database follows ${database.primary} (${database.method}, ${String(database.walBytesDiscarded)} WAL bytes of the old timeline discarded)` : ''}`);
      }),
    );

  const autofailover = program.command('autofailover').description('the automatic-failover rule (the seed\'s EventBridge rule; disabled as shipped): when both canary alarms are in ALARM, the failover starts');
  for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
    autofailover
      .command(name)
      .description(`${name} the rule (kept in <data-dir>/auto-failover.json)`)
      .action(() =>
        withControlPlane(async (client) => {
          const status = await client.setAutoFailover(enabled);
          console.log(autoFailoverLine(status));
        }),
      );
  }

  program
    .command('fault')
    .description(`inject a fault: ${FAULT_KINDS.join(', ')} [--region | --client] [--duration 30s]; \`fault list\`, \`fault clear\``)
    .argument('<kind>', `${FAULT_KINDS.join(', ')}, list or clear`)
    .argument('[options...]', '--region <region> --duration <30s|2m> --service <service> (scale-to-zero, kill) --instance <n> (kill) --percent <n> --ms <n> --database --client (packet-loss, latency, blackhole on the load client\'s link instead of a region)')
    .allowUnknownOption()
    .helpOption(false)
    .action((kind: string, rest: string[]) =>
      withControlPlane(async (client) => {
        if (kind === 'list') return console.log(formatFaultList(await client.faults(), Date.now()));
        if (kind === 'clear') {
          const cleared = await client.clearFaults();
          return console.log(cleared.length ? cleared.map((fault) => `cleared ${fault.id}: ${fault.description}`).join('\n') : 'no fault was active');
        }
        let spec;
        try {
          spec = parseFaultArgs([kind, ...rest]);
        } catch (error) {
          if (error instanceof FaultArgumentError) fail(error.message);
          throw error;
        }
        const fault = await client.applyFault(spec);
        console.log(`fault ${fault.id}: ${fault.description}`);
      }),
    );

  registerLoadCommand(program);
  return program;
}

/** `corebank status --json`: one entry per region, in the routing controls' region order. */
export interface SystemStatus {
  activeRegion: string | null;
  regions: Array<{
    region: string;
    stopFlag: boolean;
    routingControl: 'On' | 'Off';
    database: 'primary' | 'standby' | 'down';
    replicationLagBytes: number | null;
    services: Record<string, Omit<ServiceStatus, 'region' | 'service'>>;
  }>;
  /** The rule, the canary alarms and the initiator's last decision (GET /auto-failover). */
  autoFailover?: Pick<AutoFailoverStatus, 'enabled' | 'periodSeconds' | 'watching' | 'alarms' | 'lastDecision' | 'monitorError'>;
}

/** `auto-failover: enabled; canary-ap-northeast-3 OK, canary-us-west-2 OK; last decision …`. */
export function autoFailoverLine(status: NonNullable<SystemStatus['autoFailover']>): string {
  // The alarms live in the monitor: without it they are unknown, which never starts a failover.
  const alarms = status.monitorError ? `alarms unknown (${status.monitorError})` : status.alarms.map((alarm) => `${alarm.name} ${alarm.state}`).join(', ');
  const last = status.lastDecision ? `last decision ${status.lastDecision.decision} at ${status.lastDecision.at}: ${status.lastDecision.reason}${status.lastDecision.executionId ? ` (execution ${status.lastDecision.executionId})` : ''}` : 'no decision yet';
  return `auto-failover: ${status.enabled ? 'enabled' : 'disabled'}; canaries every ${status.periodSeconds} s on ${status.watching ?? '-'}: ${alarms}; ${last}`;
}

async function readSystemStatus(system: SystemAddresses): Promise<SystemStatus> {
  const regionNames = system.regions.map((region) => region.region);
  const client = controlPlaneClient(system.controlPlane);
  const [states, services, database, stopFlags, autoFailover] = await Promise.all([
    getRoutingControls(system.routingControls),
    getServiceStatus(system.controlPlane),
    getDatabaseStatus(system.controlPlane).catch(() => undefined),
    Promise.all(
      regionNames.map(async (region) => {
        const { doc, destroy } = createDynamoClients({ region, endpoint: system.dynamodbEndpoint });
        try {
          return await getStopFlag(doc, paramTableOf(region));
        } finally {
          destroy();
        }
      }),
    ),
    client
      .autoFailover()
      .then(({ enabled, periodSeconds, watching, alarms, lastDecision, monitorError }) => ({ enabled, periodSeconds, watching, alarms, lastDecision, ...(monitorError ? { monitorError } : {}) }))
      .catch(() => undefined)
      .finally(() => client.close()),
  ]);
  return {
    activeRegion: activeRegionOf(states, regionNames) ?? null,
    regions: regionNames.map((region, i) => {
      const node = database?.nodes.find((each) => each.name === region);
      return {
        region,
        stopFlag: stopFlags[i] === 'true',
        routingControl: states[region] ?? 'Off',
        database: node?.role ?? 'down',
        replicationLagBytes: node?.lagBytes ?? null,
        services: Object.fromEntries(
          services.filter((service) => service.region === region).map(({ region: _region, service, ...counts }) => [service, counts]),
        ),
      };
    }),
    ...(autoFailover ? { autoFailover } : {}),
  };
}

function parameterName(value: string): string {
  if (value !== 'stopFlag') throw new InvalidArgumentError('the only parameter is stopFlag');
  return value;
}

async function withDynamo(region: string, work: (clients: ReturnType<typeof createDynamoClients>) => Promise<void>) {
  const clients = createDynamoClients({ region, endpoint: dynamodbEndpoint() });
  try {
    await work(clients);
  } catch (error) {
    fail(`DynamoDB at ${dynamodbEndpoint()}: ${(error as Error).message}. Is the local system running (npm start), or DYNAMODB_ENDPOINT set?`);
  } finally {
    clients.destroy();
  }
}

/** The pid of the `corebank start` that wrote `pidFile`, if that process still runs. */
function runningPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function fail(message: string): never {
  console.error(`corebank: ${message}`);
  process.exit(1);
}

/** The monitor's alarm period: a whole number of ms, s, m or h (seconds without a unit), at least 1 s. */
function alarmPeriod(value: string): string {
  const ms = durationMs(value);
  if (ms === undefined || ms < 1000) throw new InvalidArgumentError('expected a duration of at least 1s, such as 10s, 5m or 1h');
  return value.trim();
}
