/**
 * One run of a workflow (what Step Functions calls an execution) as a pure state machine:
 * the definition, the execution record and a step's outcome give the next record and the
 * next action. The runner that performs the steps (I/O) and stores the records lives at the
 * edge (local/src/environment/workflow-runner.ts); nothing here reads a clock or a file.
 */
import type { WorkflowDefinition, WorkflowName, WorkflowStep } from './failover-definition.ts';

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed';
export type ExecutionStatus = 'running' | 'succeeded' | 'failed';

export interface StepRecord {
  name: string;
  kind: WorkflowStep['kind'];
  status: StepStatus;
  /** ISO times of the last attempt. */
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** How many times the step was started (a resumed execution runs a failed step again). */
  attempts: number;
  error?: string;
  /** What the step reported (timings, skipped, bytes not confirmed …). */
  output?: Record<string, unknown>;
}

export interface ExecutionRecord {
  id: string;
  workflow: WorkflowName;
  /** The regions this run moves from and to. */
  source: string;
  destination: string;
  status: ExecutionStatus;
  startedAt: string;
  endedAt?: string;
  /** When it was continued after a failure or an interruption, in order. */
  resumedAt: string[];
  /** The step that failed and why, while the execution is failed. */
  error?: { step: string; message: string };
  steps: StepRecord[];
}

export type NextAction =
  | { kind: 'run'; index: number; step: WorkflowStep }
  | { kind: 'succeeded' }
  | { kind: 'failed'; step: string; message: string };

export function newExecution(definition: WorkflowDefinition, id: string, regions: { source: string; destination: string }, now: string): ExecutionRecord {
  return {
    id,
    workflow: definition.name,
    source: regions.source,
    destination: regions.destination,
    status: 'running',
    startedAt: now,
    resumedAt: [],
    steps: definition.steps.map((step) => ({ name: step.name, kind: step.kind, status: 'pending', attempts: 0 })),
  };
}

/** True when the record was made from this definition: same steps, same order. */
export function matchesDefinition(definition: WorkflowDefinition, execution: ExecutionRecord): boolean {
  return (
    execution.workflow === definition.name &&
    execution.steps.length === definition.steps.length &&
    execution.steps.every((step, i) => step.name === definition.steps[i]!.name && step.kind === definition.steps[i]!.kind)
  );
}

/**
 * What to do next: run the first step that has not succeeded (also one left `running` by an
 * interrupted process: every step is idempotent), stop on a failed one, or finish.
 */
export function nextAction(definition: WorkflowDefinition, execution: ExecutionRecord): NextAction {
  if (!matchesDefinition(definition, execution)) throw new Error(`execution ${execution.id} was not made from the ${definition.name} definition`);
  const index = execution.steps.findIndex((step) => step.status !== 'succeeded');
  if (index === -1) return { kind: 'succeeded' };
  const step = execution.steps[index]!;
  if (step.status === 'failed') return { kind: 'failed', step: step.name, message: step.error ?? 'failed' };
  return { kind: 'run', index, step: definition.steps[index]! };
}

const replaceStep = (execution: ExecutionRecord, index: number, change: (step: StepRecord) => StepRecord): ExecutionRecord => {
  const step = execution.steps[index];
  if (!step) throw new Error(`execution ${execution.id} has no step ${index}`);
  return { ...execution, steps: execution.steps.map((each, i) => (i === index ? change(each) : each)) };
};

export function stepStarted(execution: ExecutionRecord, index: number, now: string): ExecutionRecord {
  if (execution.status !== 'running') throw new Error(`execution ${execution.id} is ${execution.status}`);
  return replaceStep(execution, index, (step) => {
    const { error: _error, endedAt: _endedAt, durationMs: _durationMs, output: _output, ...rest } = step;
    return { ...rest, status: 'running', startedAt: now, attempts: step.attempts + 1 };
  });
}

const durationOf = (step: StepRecord, now: string) => (step.startedAt ? Math.max(0, Date.parse(now) - Date.parse(step.startedAt)) : 0);

/** The step succeeded; the execution succeeds with its last step. */
export function stepSucceeded(execution: ExecutionRecord, index: number, now: string, output?: Record<string, unknown>): ExecutionRecord {
  const next = replaceStep(execution, index, (step) => ({ ...step, status: 'succeeded', endedAt: now, durationMs: durationOf(step, now), ...(output ? { output } : {}) }));
  if (next.steps.every((step) => step.status === 'succeeded')) {
    const { error: _error, ...rest } = next;
    return { ...rest, status: 'succeeded', endedAt: now };
  }
  return next;
}

/** The step failed: the execution stops there, failed, naming the step. */
export function stepFailed(execution: ExecutionRecord, index: number, now: string, message: string): ExecutionRecord {
  const next = replaceStep(execution, index, (step) => ({ ...step, status: 'failed', endedAt: now, durationMs: durationOf(step, now), error: message }));
  return { ...next, status: 'failed', endedAt: now, error: { step: next.steps[index]!.name, message } };
}

/** A record found `running` when the runner starts: its process ended while a step ran. */
export function interrupted(execution: ExecutionRecord, now: string): ExecutionRecord {
  if (execution.status !== 'running') return execution;
  const index = execution.steps.findIndex((step) => step.status === 'running');
  if (index === -1) return { ...execution, status: 'failed', endedAt: now, error: { step: '', message: 'interrupted between steps' } };
  return stepFailed(execution, index, now, 'interrupted: the control plane stopped while this step ran');
}

/** Whether running `workflow` again continues this execution rather than starting a new one. */
export function canResume(definition: WorkflowDefinition, execution: ExecutionRecord | undefined): execution is ExecutionRecord {
  return execution !== undefined && execution.status === 'failed' && matchesDefinition(definition, execution);
}

/** Continues a failed execution: its failed step goes back to pending; succeeded steps stay done. */
export function resume(execution: ExecutionRecord, now: string): ExecutionRecord {
  if (execution.status !== 'failed') throw new Error(`execution ${execution.id} is ${execution.status}: only a failed one can be resumed`);
  const { error: _error, endedAt: _endedAt, ...rest } = execution;
  return {
    ...rest,
    status: 'running',
    resumedAt: [...execution.resumedAt, now],
    steps: execution.steps.map((step) => (step.status === 'succeeded' ? step : { ...step, status: 'pending' })),
  };
}
