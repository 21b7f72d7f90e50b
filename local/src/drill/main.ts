/**
 * `npm run drill`: the failover drills, longer than in `npm test`, on a scratch system (free
 * ports, a temporary folder; whatever `npm start` runs is left alone). Prints each workflow's
 * steps as the command prints them, then the table. Exits 1 when a check fails.
 * Options: --users 10 --dwell 10 (seconds of load before, between and after the switches).
 * `--auto [--canary-period 5s] [--fault scale-to-zero|packet-loss|database-blackhole]`: instead, the automatic
 * failover drill (the seed's rehearsal), which prints a timeline and its figures.
 * `--client-loss 30`: instead, packet loss on the load client's link (the seed's FIS
 * experiment on the bastion), with the load client's statistics before, during and after.
 */
import { parseArgs } from 'node:util';
import { durationMs } from '@corebank/kit';
import { controlPlaneClient } from '../environment/control-plane.ts';
import { withScratchSystem } from '../environment/scratch-system.ts';
import { clientLossTable, clientPacketLossDrill } from './client-loss.ts';
import { moneyProblems } from './load.ts';
import { autoDrillTable, autoFailoverDrill, drillTable, plannedDrill, regionLossDrill, type DrillTarget } from './drill.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10' },
    dwell: { type: 'string', default: '10' },
    auto: { type: 'boolean', default: false },
    'canary-period': { type: 'string', default: '5s' },
    fault: { type: 'string', default: 'scale-to-zero' },
    'client-loss': { type: 'string' },
  },
});
const users = Number(values.users);
const dwellMs = Number(values.dwell) * 1000;
const canaryPeriodMs = durationMs(values['canary-period']);
/** The faults the automatic drill puts on Tokyo, as `corebank fault` takes them. */
const AUTO_FAULTS: Record<string, string[]> = {
  'scale-to-zero': ['scale-to-zero', '--service', 'transaction'],
  'packet-loss': ['packet-loss', '--percent', '100'],
  'database-blackhole': ['blackhole', '--database'],
};
const autoFault = AUTO_FAULTS[values.fault];
if (canaryPeriodMs === undefined || canaryPeriodMs < 1000) throw new Error(`--canary-period must be a duration of at least 1s, such as 5s, not ${values['canary-period']}`);
if (!autoFault) throw new Error(`--fault must be one of ${Object.keys(AUTO_FAULTS).join(', ')}, not ${values.fault}`);
const clientLossPercent = values['client-loss'] === undefined ? undefined : Number(values['client-loss']);
if (clientLossPercent !== undefined && !(Number.isInteger(clientLossPercent) && clientLossPercent >= 1 && clientLossPercent <= 99)) throw new Error(`--client-loss must be a whole percent from 1 to 99, not ${values['client-loss']}`);

console.log(`starting a scratch system (both regions) for the drill: ${users} users, ${dwellMs / 1000} s of load around each switch${values.auto ? `, canaries every ${canaryPeriodMs / 1000} s` : ''}`);
const failed = await withScratchSystem({ serviceEnv: { WORKER_POLL_MS: '200' }, tmpPrefix: 'corebank-drill-', ...(values.auto ? { canaryPeriodMs } : {}) }, async (system) => {
  let failed = false;
  try {
    const target: DrillTarget = {
      globalEndpoint: system.globalEndpoint,
      regions: system.regions.map((region) => ({ name: region.spec.name, endpoint: region.endpoint })),
      corebank: (...args: string[]) => system.corebank(...args),
    };
    const log = (line: string) => console.log(line);
    if (clientLossPercent !== undefined) {
      console.log(`\n== packet loss ${clientLossPercent} % on the load client's link: ${dwellMs / 1000} s before, during and after, the load client's statistics for each ==`);
      const result = await clientPacketLossDrill({ ...target, clientLink: system.clientLink }, { users, dwellMs, log, percent: clientLossPercent });
      console.log(`\n${clientLossTable(result)}\n`);
      const problems = moneyProblems(result.money);
      for (const problem of problems) console.error(`FAIL ${problem}`);
      failed = problems.length > 0;
    } else if (values.auto) {
      console.log(`\n== automatic failover: enable, fault on Tokyo (${autoFault.join(' ')}), canaries → alarms → initiator → failover, clear, disable, failback, under load ==`);
      const client = controlPlaneClient(system.controlPlane);
      try {
        const result = await autoFailoverDrill(target, client, { users, dwellMs, log, fault: autoFault });
        console.log(`\n${autoDrillTable(result)}\n`);
        const problems = moneyProblems(result.money);
        for (const problem of problems) console.error(`FAIL ${problem}`);
        failed = problems.length > 0;
      } finally {
        await client.close();
      }
    } else {
      console.log('\n== planned: failover, then failback, under load ==');
      const planned = await plannedDrill(target, { users, dwellMs, log });
      console.log('\n== region loss: kill Tokyo, failover --allow-data-loss, restore, failback, under load ==');
      const loss = await regionLossDrill(target, { users, dwellMs, log });
      console.log(`\n${drillTable(planned, loss)}\n`);
      const problems = [
        ...planned.switches.filter((each) => each.outageMs > 15_000).map((each) => `${each.workflow}: outage ${each.outageMs} ms > 15 s`),
        ...moneyProblems(planned.money, 'planned'),
        // After a power cut, a mismatch is data loss, which the failover must have reported.
        ...moneyProblems({ ...loss.money, mismatches: loss.walBytesNotConfirmed === 0 ? loss.money.mismatches : [] }, 'region loss'),
        ...(planned.rpoDeposit.balanceAfter !== planned.rpoDeposit.quantity ? ['planned: the deposit acknowledged before the switchover is missing'] : []),
      ];
      for (const problem of problems) console.error(`FAIL ${problem}`);
      failed = problems.length > 0;
    }
  } catch (error) {
    console.error(`drill failed: ${(error as Error).message}`);
    failed = true;
  }
  return failed;
});
process.exit(failed ? 1 : 0);
