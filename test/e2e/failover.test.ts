import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '@corebank/workflow';
import { waitFor } from '@corebank/kit';
import { controlPlaneClient } from '../../local/src/environment/control-plane.ts';
import { startScratchSystem, type ScratchSystem } from '../../local/src/environment/scratch-system.ts';
import type { SystemStatus } from '../../local/src/cli/program.ts';
import { EXPECTED_ERROR_KINDS } from '../../local/src/drill/load.ts';
import { plannedDrill, regionLossDrill, type DrillTarget } from '../../local/src/drill/drill.ts';

let system: ScratchSystem;
let target: DrillTarget;
const USERS = 6;
const DWELL_MS = 2500;

beforeAll(async () => {
  // The default 10 s stopFlag cache: the workflow confirms the drain instead of sleeping it out.
  system = await startScratchSystem({ serviceEnv: { WORKER_POLL_MS: '200', WORKER_LEASE_MS: '9000' }, tmpPrefix: 'corebank-failover-' });
  target = {
    globalEndpoint: system.globalEndpoint,
    regions: system.regions.map((region) => ({ name: region.spec.name, endpoint: region.endpoint })),
    corebank: (...args: string[]) => system.corebank(...args),
  };
}, 120_000);
afterAll(() => system?.stop(), 60_000);

const status = async () => JSON.parse(await target.corebank('status', '--json')) as SystemStatus;
const deposit = (endpoint: string) => fetch(`${endpoint}/transaction/deposit`, { method: 'POST', headers: { X_ACCOUNT_ID: 'probe', 'content-type': 'application/json' }, body: '{"quantity": 1}' });

describe('failover and failback under load', () => {
  it('moves to Osaka and back, losing nothing: every saga terminal, every balance as its sagas imply, only 503/429/refused errors', async () => {
    const [tokyo, osaka] = system.regions.map((region) => region.endpoint) as [string, string];
    const result = await plannedDrill(target, {
      users: USERS,
      dwellMs: DWELL_MS,
      log: (line) => console.log(line),
      between: async () => {
        expect((await deposit(tokyo)).status).toBe(503);
        expect((await deposit(osaka)).status).toBe(200);
        const now = await status();
        expect(now.activeRegion).toBe('ap-northeast-3');
        expect(now.regions.map((region) => [region.region, region.database, region.stopFlag, region.routingControl])).toEqual([
          ['ap-northeast-1', 'standby', true, 'Off'],
          ['ap-northeast-3', 'primary', false, 'On'],
        ]);
      },
      afterFailback: async () => {
        expect((await deposit(osaka)).status).toBe(503);
        expect((await deposit(tokyo)).status).toBe(200);
        const now = await status();
        expect(now.activeRegion).toBe('ap-northeast-1');
        expect(now.regions.map((region) => [region.region, region.database, region.stopFlag, region.routingControl])).toEqual([
          ['ap-northeast-1', 'primary', false, 'On'],
          ['ap-northeast-3', 'standby', true, 'Off'],
        ]);
      },
    });
    console.log(`outage: failover ${result.switches[0]!.outageMs} ms, failback ${result.switches[1]!.outageMs} ms; sagas ${result.money.sagas}; errors ${JSON.stringify(result.load.errors)}`);
    expect(result.rpoDeposit.balanceAfter).toBe(777);
    expect(result.money.sagas).toBeGreaterThan(USERS * 3);
    expect(result.money.notTerminal).toEqual([]);
    expect(result.money.mismatches).toEqual([]);
    expect(result.money.unexpectedErrors).toEqual({});
    for (const each of result.switches) {
      expect(each.output).toMatch(/CloseSourceRegion[\s\S]*WaitForStopFlagToPropagate[\s\S]*confirmed drained[\s\S]*SwitchOverDatabase[\s\S]*no data loss[\s\S]*OpenDestinationRegion/);
      expect(each.outageMs).toBeLessThan(15_000);
    }
    expect(Object.keys(result.load.errors).every((kind) => EXPECTED_ERROR_KINDS.includes(kind as never))).toBe(true);

    const executions = JSON.parse(await target.corebank('executions', '--json')) as ExecutionRecord[];
    expect(executions.map((execution) => [execution.workflow, execution.status])).toEqual([['failover', 'succeeded'], ['failback', 'succeeded']]);
    expect(executions[0]!.steps.every((step) => step.status === 'succeeded' && typeof step.durationMs === 'number')).toBe(true);
  }, 120_000);

  it('refuses a second workflow while one runs, with a clear message', async () => {
    const client = controlPlaneClient(system.controlPlane);
    // A failover takes well under a second, less than the CLI takes to start: Tokyo's worker,
    // frozen, holds it in its drain (it cannot confirm the closed region) until it thaws.
    const worker = system.regions[0]!.pidOf('worker')!;
    process.kill(worker, 'SIGSTOP');
    const thaw = () => {
      try {
        process.kill(worker, 'SIGCONT');
      } catch {
        // already gone
      }
    };
    try {
      const first = await client.startExecution('failover');
      const second = await target.corebank('failback').then(() => undefined, (error: { stderr: string; code: number }) => error);
      expect(second?.code).toBe(1);
      expect(second?.stderr).toMatch(/is running; wait for it to end/);
      expect((await client.execution(first.id)).status).toBe('running');
      thaw();
      await waitFor('the failover to end', async () => expect((await client.execution(first.id)).status).toBe('succeeded'), 60_000, 100);
      await target.corebank('failback');
    } finally {
      thaw();
      await client.close();
    }
  }, 90_000);

  it('survives the loss of Tokyo: kill, failover --allow-data-loss, load goes on in Osaka, restore, failback', async () => {
    const result = await regionLossDrill(target, { users: USERS, dwellMs: DWELL_MS, log: (line) => console.log(line) });
    console.log(`region loss: failover ${result.switches[0]!.outageMs} ms, failback ${result.switches[1]!.outageMs} ms; WAL not confirmed ${result.walBytesNotConfirmed}; errors ${JSON.stringify(result.load.errors)}`);
    expect(Number.isFinite(result.walBytesNotConfirmed)).toBe(true);
    expect(result.acceptedAfterFailover).toBeGreaterThan(0);
    expect(result.money.notTerminal).toEqual([]);
    // What was acknowledged keeps its effect, unless the failover reported WAL it could not confirm.
    if (result.walBytesNotConfirmed === 0) expect(result.money.mismatches).toEqual([]);
    expect(result.money.unexpectedErrors).toEqual({});
    const now = await status();
    expect(now.activeRegion).toBe('ap-northeast-1');
    expect(now.regions.map((region) => region.database)).toEqual(['primary', 'standby']);
  }, 150_000);
});
