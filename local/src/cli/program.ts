import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { envOptional, externalDatabaseUrl } from '@corebank/kit';
import { migrateBalance } from '@corebank/balance';
import { migrateCount } from '@corebank/count';
import { createDynamoClients, createSagaStore, ensureTables, getStopFlag, putStopFlag } from '@corebank/transaction';
import { registerLoadCommand } from '@corebank/client';
import { startLocalSystem } from '../environment/system.ts';
import { JavaMissingError } from '../environment/dynamodb-local.ts';
import { embeddedPostgresUrl, PostgresStartError, relocatedDataDirOf } from '../environment/postgres.ts';
import { DYNAMODB_LOCAL_PORT, EMBEDDED_POSTGRES_PORT, LOCAL_REGIONS, MAIN_TABLE, paramTableOf, regionNamed, TOKYO } from '../environment/regions.ts';
import { REPO_ROOT } from '../environment/processes.ts';

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
    .action(async (options: { loadUi: boolean }) => {
      const running = runningPid(pidFile());
      if (running) fail(`corebank is already running (pid ${running}); stop it first`);
      const started = Date.now();
      // Ctrl-C while starting aborts the start, which stops whatever has started so far.
      const starting = new AbortController();
      const abortStart = () => {
        console.log('\ninterrupted: stopping what has started ...');
        starting.abort(new Error('interrupted'));
      };
      process.once('SIGINT', abortStart);
      process.once('SIGTERM', abortStart);
      const system = await startLocalSystem({
        dataDir: dataDir(),
        ...(options.loadUi ? {} : { loadUiPort: null }),
        progress: (line) => console.log(`  ${line}`),
        signal: starting.signal,
      }).catch((error: unknown) => {
        if (starting.signal.aborted) {
          console.log('stopped.');
          process.exit(130);
        }
        return fail(error instanceof JavaMissingError || error instanceof PostgresStartError ? error.message : `start failed: ${(error as Error).message}`);
      });
      process.off('SIGINT', abortStart);
      process.off('SIGTERM', abortStart);
      writeFileSync(pidFile(), String(process.pid));

      console.log(`\ncorebank is running (${((Date.now() - started) / 1000).toFixed(1)} s). Data: ${dataDir()}\n`);
      console.log(`  global endpoint      ${system.globalEndpoint}   (api.example.com)`);
      for (const region of system.regions) {
        console.log(`  ${region.spec.label.padEnd(8)} endpoint    ${region.endpoint}   (api.${region.spec.name}.example.com)`);
      }
      if (system.loadUi) console.log(`  load client UI       ${system.loadUi}`);
      console.log(`  DynamoDB            ${system.dynamodbEndpoint}`);
      console.log(`  PostgreSQL          ${system.databaseUrls.balance.replace(/:[^:@/]*@/, ':***@')}`);
      console.log(`  logs                ${resolve(dataDir(), 'logs')}\n`);
      console.log('Try:  curl -X POST localhost:8080/transaction/deposit -H "X_ACCOUNT_ID: 1231221" -H "Content-Type: application/json" -d \'{"quantity": 1000}\'');
      console.log('Press Ctrl-C to stop.\n');

      for (const region of system.regions) {
        for (const child of Object.values(region.processes)) {
          void child.exited.then((code) => {
            if (!stopping) console.error(`! ${child.name} exited (${code}); see ${resolve(dataDir(), 'logs')}`);
          });
        }
      }
      let stopping = false;
      const shutdown = async () => {
        if (stopping) return;
        stopping = true;
        console.log('\nstopping corebank ...');
        await system.stop();
        rmSync(pidFile(), { force: true });
        console.log('stopped.');
        process.exit(0);
      };
      process.on('SIGINT', () => void shutdown());
      process.on('SIGTERM', () => void shutdown());
    });

  program
    .command('reset')
    .description('wipe the local data folder (accounts, sagas, parameters, logs)')
    .action(() => {
      const running = runningPid(pidFile());
      if (running) fail(`corebank is running (pid ${running}); stop it before reset`);
      rmSync(dataDir(), { recursive: true, force: true });
      // As root in a folder the postgres user cannot reach, PostgreSQL's data lived there instead.
      const relocated = relocatedDataDirOf(resolve(dataDir(), 'postgres'));
      const hadRelocated = existsSync(relocated);
      rmSync(relocated, { recursive: true, force: true });
      console.log(`removed ${dataDir()}${hadRelocated ? ` and ${relocated}` : ''}`);
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

  registerLoadCommand(program);
  return program;
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
