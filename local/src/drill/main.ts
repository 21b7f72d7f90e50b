/**
 * `npm run drill`: the failover drills, longer than in `npm test`, on a scratch system (free
 * ports, a temporary folder; whatever `npm start` runs is left alone). Prints each workflow's
 * steps as the command prints them, then the table. Exits 1 when a check fails.
 * Options: --users 10 --dwell 10 (seconds of load before, between and after the switches).
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { REPO_ROOT } from '../environment/processes.ts';
import { startScratchSystem } from '../environment/scratch-system.ts';
import { drillTable, plannedDrill, regionLossDrill, type DrillTarget } from './drill.ts';

const run = promisify(execFile);
const { values } = parseArgs({ options: { users: { type: 'string', default: '10' }, dwell: { type: 'string', default: '10' } } });
const users = Number(values.users);
const dwellMs = Number(values.dwell) * 1000;

console.log(`starting a scratch system (both regions) for the drill: ${users} users, ${dwellMs / 1000} s of load around each switch`);
const system = await startScratchSystem({ serviceEnv: { WORKER_POLL_MS: '200' }, tmpPrefix: 'corebank-drill-' });
let failed = false;
try {
  const target: DrillTarget = {
    globalEndpoint: system.globalEndpoint,
    regions: system.regions.map((region) => ({ name: region.spec.name, endpoint: region.endpoint })),
    corebank: async (...args) => (await run(process.execPath, ['local/bin/corebank.js', '--data-dir', system.dataDir, ...args], { cwd: REPO_ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: system.dynamodbEndpoint } })).stdout,
  };
  const log = (line: string) => console.log(line);
  console.log('\n== planned: failover, then failback, under load ==');
  const planned = await plannedDrill(target, { users, dwellMs, log });
  console.log('\n== region loss: kill Tokyo, failover --allow-data-loss, restore, failback, under load ==');
  const loss = await regionLossDrill(target, { users, dwellMs, log });
  console.log(`\n${drillTable(planned, loss)}\n`);
  const problems = [
    ...planned.switches.filter((each) => each.outageMs > 15_000).map((each) => `${each.workflow}: outage ${each.outageMs} ms > 15 s`),
    ...[planned, loss].flatMap((result, i) => [
      ...(result.money.notTerminal.length ? [`${i ? 'region loss' : 'planned'}: ${result.money.notTerminal.length} sagas not terminal`] : []),
      ...(Object.keys(result.money.unexpectedErrors).length ? [`${i ? 'region loss' : 'planned'}: unexpected errors ${JSON.stringify(result.money.unexpectedErrors)}`] : []),
    ]),
    ...(planned.money.mismatches.length ? [`planned: mismatches ${JSON.stringify(planned.money.mismatches)}`] : []),
    ...(planned.rpoDeposit.balanceAfter !== planned.rpoDeposit.quantity ? ['planned: the deposit acknowledged before the switchover is missing'] : []),
    ...(loss.money.mismatches.length && loss.walBytesNotConfirmed === 0 ? [`region loss: mismatches without reported WAL loss ${JSON.stringify(loss.money.mismatches)}`] : []),
  ];
  for (const problem of problems) console.error(`FAIL ${problem}`);
  failed = problems.length > 0;
} catch (error) {
  console.error(`drill failed: ${(error as Error).message}`);
  failed = true;
} finally {
  await system.stop();
}
process.exit(failed ? 1 : 0);
