import { describe, expect, it } from 'vitest';
import { WORKFLOWS, type WorkflowName } from './failover-definition.ts';
import { canResume, interrupted, newExecution, nextAction, resume, stepFailed, stepStarted, stepSucceeded, type ExecutionRecord } from './execution.ts';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const regions = { source: 'ap-northeast-1', destination: 'ap-northeast-3' };

/** Runs every step to success, checking that each action is the next step in order. */
function runAll(name: WorkflowName): ExecutionRecord {
  const definition = WORKFLOWS[name];
  let execution = newExecution(definition, 'x', regions, t(0));
  for (let i = 0; i < definition.steps.length; i++) {
    const action = nextAction(definition, execution);
    expect(action).toEqual({ kind: 'run', index: i, step: definition.steps[i] });
    execution = stepStarted(execution, i, t(i * 2));
    expect(execution.status).toBe('running');
    execution = stepSucceeded(execution, i, t(i * 2 + 1), { i });
  }
  return execution;
}

describe('workflow executions', () => {
  it.each(Object.keys(WORKFLOWS) as WorkflowName[])('%s: runs every step of the definition in order, then succeeds', (name) => {
    const execution = runAll(name);
    expect(nextAction(WORKFLOWS[name], execution)).toEqual({ kind: 'succeeded' });
    expect(execution.status).toBe('succeeded');
    expect(execution.endedAt).toBe(t((WORKFLOWS[name].steps.length - 1) * 2 + 1));
    expect(execution.steps.every((step) => step.durationMs === 1000 && step.attempts === 1)).toBe(true);
    expect(execution.steps.map((step) => step.name)).toEqual(WORKFLOWS[name].steps.map((step) => step.name));
  });

  it.each(Object.keys(WORKFLOWS) as WorkflowName[])('%s: a failure at any step stops there, naming it; resuming runs that step again and never an earlier one', (name) => {
    const definition = WORKFLOWS[name];
    for (let failing = 0; failing < definition.steps.length; failing++) {
      let execution = newExecution(definition, 'x', regions, t(0));
      for (let i = 0; i < failing; i++) execution = stepSucceeded(stepStarted(execution, i, t(1)), i, t(2));
      execution = stepFailed(stepStarted(execution, failing, t(3)), failing, t(5), 'boom');
      expect(execution.status).toBe('failed');
      expect(execution.error).toEqual({ step: definition.steps[failing]!.name, message: 'boom' });
      expect(nextAction(definition, execution)).toEqual({ kind: 'failed', step: definition.steps[failing]!.name, message: 'boom' });
      expect(execution.steps[failing]).toMatchObject({ status: 'failed', durationMs: 2000, error: 'boom' });
      expect(canResume(definition, execution)).toBe(true);

      execution = resume(execution, t(10));
      expect(execution.status).toBe('running');
      expect(execution.error).toBeUndefined();
      expect(execution.resumedAt).toEqual([t(10)]);
      expect(nextAction(definition, execution)).toEqual({ kind: 'run', index: failing, step: definition.steps[failing] });
      execution = stepStarted(execution, failing, t(11));
      expect(execution.steps[failing]).toMatchObject({ status: 'running', attempts: 2 });
      expect(execution.steps[failing]!.error).toBeUndefined();
      for (let i = failing; i < definition.steps.length; i++) {
        if (i > failing) execution = stepStarted(execution, i, t(12));
        execution = stepSucceeded(execution, i, t(13));
      }
      expect(execution.status).toBe('succeeded');
      expect(execution.steps.slice(0, failing).every((step) => step.attempts === 1)).toBe(true);
    }
  });

  it('marks an execution whose process stopped mid-step as failed at that step, resumable', () => {
    const definition = WORKFLOWS.failover;
    let execution = newExecution(definition, 'x', regions, t(0));
    execution = stepSucceeded(stepStarted(execution, 0, t(0)), 0, t(1));
    execution = stepStarted(execution, 1, t(1));
    const stopped = interrupted(execution, t(4));
    expect(stopped.status).toBe('failed');
    expect(stopped.error?.step).toBe(definition.steps[1]!.name);
    expect(stopped.error?.message).toMatch(/interrupted/);
    expect(canResume(definition, stopped)).toBe(true);
    expect(nextAction(definition, resume(stopped, t(5)))).toMatchObject({ kind: 'run', index: 1 });
    // Finished records are left as they are.
    expect(interrupted(runAll('failback'), t(9)).status).toBe('succeeded');
  });

  it('resumes only a failed execution of the same definition', () => {
    const failed = stepFailed(stepStarted(newExecution(WORKFLOWS.failover, 'x', regions, t(0)), 0, t(0)), 0, t(1), 'no');
    expect(canResume(WORKFLOWS.failover, failed)).toBe(true);
    expect(canResume(WORKFLOWS.failback, failed)).toBe(false);
    expect(canResume(WORKFLOWS['failover-allow-data-loss'], failed)).toBe(false);
    expect(canResume(WORKFLOWS.failover, runAll('failover'))).toBe(false);
    expect(canResume(WORKFLOWS.failover, undefined)).toBe(false);
    expect(() => resume(runAll('failover'), t(1))).toThrow(/only a failed one/);
    expect(() => nextAction(WORKFLOWS.failback, failed)).toThrow(/not made from/);
    expect(() => stepStarted(failed, 1, t(2))).toThrow(/is failed/);
  });
});
