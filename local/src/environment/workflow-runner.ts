/**
 * The Step Functions stand-in: runs the failover / failback workflows of @corebank/workflow
 * in the control plane, one execution at a time, each kept as JSON under
 * `<dataDir>/executions/`. The decisions are the pure ones of @corebank/workflow's
 * execution module; this file is the edge that performs the steps and stores the records.
 * Running a workflow whose last execution failed (or was interrupted by a restart) continues
 * it from its first step not yet succeeded; every step is idempotent.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canResume,
  interrupted,
  newExecution,
  nextAction,
  resume,
  stepFailed,
  stepStarted,
  stepSucceeded,
  WORKFLOWS,
  type ExecutionRecord,
  type RegionRole,
  type WorkflowName,
  type WorkflowStep,
} from '@corebank/workflow';

/** What each kind of step does, for the regions of one execution. Each must be safe to run again. */
export interface StepExecutors {
  setStopFlag(region: string, value: 'true' | 'false'): Promise<Record<string, unknown> | void>;
  /** Waits until the region's services report it closed and drained, or `deadlineMs` has passed. */
  waitUntilDrained(region: string, deadlineMs: number): Promise<Record<string, unknown> | void>;
  wait(ms: number): Promise<void>;
  setRoutingControls(off: string, on: string): Promise<Record<string, unknown> | void>;
  switchDatabase(target: string, allowDataLoss: boolean): Promise<Record<string, unknown> | void>;
  waitDatabaseAvailable(target: string, options: { otherMayBeDown: boolean; timeoutMs: number }): Promise<Record<string, unknown> | void>;
  /** Releases the saga leases held by `lostRegion`'s workers, writing through `via`'s tables. */
  releaseLeases(lostRegion: string, via: string): Promise<Record<string, unknown> | void>;
}

export class ExecutionConflictError extends Error {
  override name = 'ExecutionConflictError';
}

/** Beyond the stopFlag cache's TTL, a margin for the last read in flight when the TTL ran out. */
export const DRAIN_DEADLINE_MARGIN_MS = 5000;

export interface WorkflowRunner {
  /** Starts `workflow` (or continues its failed last execution); throws ExecutionConflictError while one runs. */
  start(workflow: WorkflowName): ExecutionRecord;
  list(): ExecutionRecord[];
  get(id: string): ExecutionRecord | undefined;
  /** Resolves when the running execution (if any) has stopped. */
  idle(): Promise<void>;
}

export function createWorkflowRunner(options: {
  dataDir: string;
  /** The deployment's regions: primary (Tokyo) and secondary (Osaka). */
  regions: { primary: string; secondary: string };
  executors: StepExecutors;
  log?: (line: string) => void;
}): WorkflowRunner {
  const dir = join(options.dataDir, 'executions');
  mkdirSync(dir, { recursive: true });
  const now = () => new Date().toISOString();
  const records = new Map<string, ExecutionRecord>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json'))) {
    try {
      const record = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ExecutionRecord;
      // A record still running was cut short by a stop of this process.
      const settled = interrupted(record, now());
      records.set(record.id, settled);
      if (settled !== record) save(settled);
    } catch {
      options.log?.(`ignoring unreadable execution record ${file}`);
    }
  }
  let running: Promise<void> | undefined;

  function save(record: ExecutionRecord) {
    records.set(record.id, record);
    const file = join(dir, `${record.id}.json`);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
  const ordered = () => [...records.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));

  async function perform(step: WorkflowStep, regionOf: (role: RegionRole) => string, otherMayBeDown: boolean): Promise<Record<string, unknown> | undefined> {
    const { executors } = options;
    switch (step.kind) {
      case 'set-stop-flag':
        return (await executors.setStopFlag(regionOf(step.region), step.value)) ?? undefined;
      case 'wait':
        if (step.confirm === 'source-drained') return (await executors.waitUntilDrained(regionOf('source'), step.seconds * 1000 + DRAIN_DEADLINE_MARGIN_MS)) ?? undefined;
        await executors.wait(step.seconds * 1000);
        return undefined;
      case 'set-routing-controls':
        return (await executors.setRoutingControls(regionOf(step.off), regionOf(step.on))) ?? undefined;
      case 'switch-database':
        return (await executors.switchDatabase(regionOf(step.target), step.allowDataLoss)) ?? undefined;
      case 'wait-database-available':
        return (await executors.waitDatabaseAvailable(regionOf(step.target), { otherMayBeDown, timeoutMs: step.timeoutSeconds * 1000 })) ?? undefined;
      case 'release-leases':
        return (await executors.releaseLeases(regionOf(step.of), regionOf(step.via))) ?? undefined;
    }
  }

  async function drive(initial: ExecutionRecord): Promise<void> {
    const definition = WORKFLOWS[initial.workflow];
    // After a failover allowing data loss the old primary is gone: only the new one must be up.
    const otherMayBeDown = definition.steps.some((step) => step.kind === 'switch-database' && step.allowDataLoss);
    const regionOf = (role: RegionRole) => (role === 'source' ? initial.source : initial.destination);
    let record = initial;
    for (;;) {
      const action = nextAction(definition, record);
      if (action.kind !== 'run') {
        options.log?.(`execution ${record.id} (${record.workflow}) ${action.kind}${action.kind === 'failed' ? ` at ${action.step}: ${action.message}` : ''}`);
        return;
      }
      record = stepStarted(record, action.index, now());
      save(record);
      try {
        const output = await perform(action.step, regionOf, otherMayBeDown);
        record = stepSucceeded(record, action.index, now(), output);
      } catch (error) {
        record = stepFailed(record, action.index, now(), (error as Error).message);
      }
      save(record);
    }
  }

  return {
    start(workflow) {
      const definition = WORKFLOWS[workflow];
      if (!definition) throw new ExecutionConflictError(`no workflow ${String(workflow)}`);
      if (running) {
        const current = ordered().find((record) => record.status === 'running');
        throw new ExecutionConflictError(`execution ${current?.id ?? ''} (${current?.workflow ?? 'a workflow'}) is running; wait for it to end (corebank executions)`);
      }
      const last = ordered().at(-1);
      let record: ExecutionRecord;
      if (canResume(definition, last)) {
        record = resume(last, now());
      } else {
        const place = (p: 'primary' | 'secondary') => options.regions[p];
        const id = `${now().replace(/[-:.]/g, '').slice(0, 15)}-${workflow}-${randomUUID().slice(0, 8)}`;
        record = newExecution(definition, id, { source: place(definition.source), destination: place(definition.destination) }, now());
      }
      save(record);
      running = drive(record)
        .catch((error: unknown) => options.log?.(`execution ${record.id} stopped: ${(error as Error).message}`))
        .finally(() => {
          running = undefined;
        });
      return record;
    },
    list: ordered,
    get: (id) => records.get(id),
    idle: async () => {
      await running;
    },
  };
}
