import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionRecord } from '@corebank/workflow';
import type { controlPlaneClient } from '../environment/control-plane.ts';

const FOLLOW_POLL_MS = 150;

/** Follows an execution until it stops, reporting each step as it starts and as it ends, with its duration. */
export async function followExecution(client: ReturnType<typeof controlPlaneClient>, id: string, print: (line: string) => void): Promise<ExecutionRecord> {
  const reported = new Map<string, string>();
  for (;;) {
    const execution = await client.execution(id);
    execution.steps.forEach((step, i) => {
      const key = `${step.name}#${step.attempts}`;
      const seen = reported.get(key);
      if (step.status === 'running' && !seen) {
        reported.set(key, 'running');
      } else if ((step.status === 'succeeded' || step.status === 'failed') && seen !== 'done' && step.attempts > 0) {
        reported.set(key, 'done');
        const duration = `${((step.durationMs ?? 0) / 1000).toFixed(2)} s`;
        const detail = step.status === 'failed' ? `FAILED: ${step.error ?? ''}` : formatStepOutput(step.output);
        print(`  ${i + 1}. ${step.name.padEnd(34)} ${duration.padStart(8)}  ${detail}`);
      }
    });
    if (execution.status !== 'running') return execution;
    await sleep(FOLLOW_POLL_MS);
  }
}

/** One line of what a step reported: the figures an operator looks at. */
export function formatStepOutput(output: Record<string, unknown> | undefined): string {
  if (!output) return '';
  if (typeof output.skipped === 'string') return `skipped: ${output.skipped}`;
  const parts: string[] = [];
  if ('confirmed' in output) parts.push(output.confirmed ? `confirmed drained (${String(output.instances)} instances)` : `not confirmed, waited the deadline: ${JSON.stringify(output.unconfirmed)}`);
  if ('walBytesNotConfirmed' in output) parts.push(`WAL bytes not confirmed (lost): ${String(output.walBytesNotConfirmed)}`);
  if ('shutdownCheckpointLsn' in output) parts.push(`no data loss (standby replayed ${String(output.shutdownCheckpointLsn)})`);
  const timings = output.timingsMs as Record<string, number> | undefined;
  if (timings) parts.push(Object.entries(timings).map(([name, ms]) => `${name} ${ms} ms`).join(', '));
  if ('released' in output) parts.push(`released ${String(output.released)} of the ${String(output.held)} saga leases held in ${String(output.region)}`);
  if ('stopFlag' in output) parts.push(`${String(output.region)} stopFlag "${String(output.stopFlag)}"${output.instancesSeeingIt ? ` (read at once by ${String(output.instancesSeeingIt)} instances)` : ''}`);
  if (parts.length === 0) parts.push(Object.entries(output).map(([key, value]) => `${key} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`).join(', '));
  return parts.join('; ');
}
