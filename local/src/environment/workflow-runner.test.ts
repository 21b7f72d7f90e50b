import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKFLOWS } from '@corebank/workflow';
import { createWorkflowRunner, ExecutionConflictError, type StepExecutors } from './workflow-runner.ts';

const regions = { primary: 'ap-northeast-1', secondary: 'ap-northeast-3' };
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'corebank-runner-'));
  folders.push(dir);
  return dir;
};

/** Executors that record what they were asked, and fail the database switch while `failSwitch` is set. */
function recorder(state: { failSwitch: boolean; gate?: Promise<void> }) {
  const calls: string[] = [];
  const executors: StepExecutors = {
    setStopFlag: async (region, value) => void calls.push(`stopFlag ${region} ${value}`),
    waitUntilDrained: async (region, deadlineMs) => void calls.push(`drain ${region} ${deadlineMs}`),
    wait: async (ms) => void calls.push(`wait ${ms}`),
    setRoutingControls: async (off, on) => {
      await state.gate;
      calls.push(`routing off ${off} on ${on}`);
    },
    switchDatabase: async (target, allowDataLoss) => {
      calls.push(`switch ${target} ${allowDataLoss}`);
      if (state.failSwitch) throw new Error('standby not caught up');
      return { to: target };
    },
    waitDatabaseAvailable: async (target, { otherMayBeDown }) => void calls.push(`available ${target} ${otherMayBeDown}`),
    releaseLeases: async (lostRegion, via) => void calls.push(`release leases of ${lostRegion} via ${via}`),
  };
  return { calls, executors };
}

describe('the workflow runner (control plane)', () => {
  it('runs the failover definition\'s steps for the right regions, keeps the record on disk, and a new runner lists it', async () => {
    const dataDir = folder();
    const { calls, executors } = recorder({ failSwitch: false });
    const runner = createWorkflowRunner({ dataDir, regions, executors });
    const started = runner.start('failover');
    await runner.idle();
    expect(calls).toEqual([
      'stopFlag ap-northeast-1 true',
      'drain ap-northeast-1 15000',
      'routing off ap-northeast-1 on ap-northeast-3',
      'switch ap-northeast-3 false',
      'available ap-northeast-3 false',
      'stopFlag ap-northeast-3 false',
    ]);
    const done = runner.get(started.id)!;
    expect(done.status).toBe('succeeded');
    expect(done.steps.map((step) => step.name)).toEqual(WORKFLOWS.failover.steps.map((step) => step.name));
    expect(done.steps[3]!.output).toEqual({ to: 'ap-northeast-3' });
    const again = createWorkflowRunner({ dataDir, regions, executors });
    expect(again.list()).toEqual([done]);
  });

  it('refuses a second execution while one runs', async () => {
    let open!: () => void;
    const { executors } = recorder({ failSwitch: false, gate: new Promise<void>((resolve) => (open = resolve)) });
    const runner = createWorkflowRunner({ dataDir: folder(), regions, executors });
    const first = runner.start('failover');
    expect(() => runner.start('failback')).toThrow(ExecutionConflictError);
    expect(() => runner.start('failover')).toThrow(/is running/);
    open();
    await runner.idle();
    expect(runner.get(first.id)!.status).toBe('succeeded');
    expect(runner.list()).toHaveLength(1);
  });

  it('stops at a failed step naming it; running the workflow again continues from that step, not from the start', async () => {
    const state = { failSwitch: true };
    const { calls, executors } = recorder(state);
    const runner = createWorkflowRunner({ dataDir: folder(), regions, executors });
    const first = runner.start('failback');
    await runner.idle();
    const failed = runner.get(first.id)!;
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ step: 'SwitchOverDatabase', message: 'standby not caught up' });
    calls.length = 0;
    state.failSwitch = false;
    const resumed = runner.start('failback');
    expect(resumed.id).toBe(first.id);
    await runner.idle();
    expect(calls).toEqual(['switch ap-northeast-1 false', 'available ap-northeast-1 false', 'stopFlag ap-northeast-1 false']);
    expect(runner.get(first.id)).toMatchObject({ status: 'succeeded', resumedAt: [expect.any(String)] });
    expect(runner.get(first.id)!.steps[3]!.attempts).toBe(2);
    // A finished execution is not resumed: the next run is a new one.
    expect(runner.start('failback').id).not.toBe(first.id);
    await runner.idle();
  });

  it('after a restart, an execution that was running is failed at its step and the same command continues it', async () => {
    const dataDir = folder();
    let open!: () => void;
    const first = recorder({ failSwitch: false, gate: new Promise<void>((resolve) => (open = resolve)) });
    const before = createWorkflowRunner({ dataDir, regions, executors: first.executors });
    const started = before.start('failover');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A new runner on the same folder, as after a restart of the control plane.
    const second = recorder({ failSwitch: false });
    const after = createWorkflowRunner({ dataDir, regions, executors: second.executors });
    expect(after.get(started.id)).toMatchObject({ status: 'failed', error: { step: 'SwitchRoutingControls', message: expect.stringMatching(/interrupted/) } });
    expect(after.start('failover').id).toBe(started.id);
    await after.idle();
    expect(second.calls).toEqual(['routing off ap-northeast-1 on ap-northeast-3', 'switch ap-northeast-3 false', 'available ap-northeast-3 false', 'stopFlag ap-northeast-3 false']);
    expect(after.get(started.id)!.status).toBe('succeeded');
    open();
    await before.idle();
  });

  it('the region-loss workflow waits only for the new primary and releases the lost region\'s leases before opening the destination', async () => {
    const { calls, executors } = recorder({ failSwitch: false });
    const runner = createWorkflowRunner({ dataDir: folder(), regions, executors });
    runner.start('failover-allow-data-loss');
    await runner.idle();
    expect(calls).toEqual(['routing off ap-northeast-1 on ap-northeast-3', 'switch ap-northeast-3 true', 'available ap-northeast-3 true', 'release leases of ap-northeast-1 via ap-northeast-3', 'stopFlag ap-northeast-3 false']);
  });
});
