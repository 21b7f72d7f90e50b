/**
 * The canary runs the monitor has been sent (`POST /api/canaries/runs`, the PutMetricData
 * stand-in): bounded per canary by count and by the monitor's window, read back as the
 * SuccessPercent datapoints of the `canary-<origin>` alarms and as the dashboard's series.
 */
import { successPercentDatapoints } from './alarms.ts';
import type { AlarmDefinition } from '../alarms/evaluate.ts';

/** One run as a canary publishes it (times in ms since the epoch). */
export interface CanaryRun {
  canary: string;
  origin: string;
  success: boolean;
  latencyMs: number;
  startedAt: number;
  endedAt: number;
  /** The regional endpoint it called. */
  endpoint: string;
  failure?: string;
}

export interface CanaryRunsOptions {
  windowMs: number;
  /** The most runs kept per canary, whatever their age. */
  maxRunsPerCanary: number;
}

const round2 = (value: number | undefined) => (value === undefined ? null : Math.round(value * 100) / 100);

export class CanaryRuns {
  private readonly runs = new Map<string, CanaryRun[]>();
  received = 0;

  constructor(private readonly options: CanaryRunsOptions) {}

  add(run: CanaryRun, now = Date.now()): void {
    this.received += 1;
    const kept = this.runs.get(run.canary) ?? [];
    kept.push(run);
    // A run published late (a retry) still lands in its place: the datapoints go by endedAt.
    if (kept.length > 1 && kept.at(-2)!.endedAt > run.endedAt) kept.sort((a, b) => a.endedAt - b.endedAt);
    const oldest = now - this.options.windowMs;
    let firstKept = kept.findIndex((each) => each.endedAt >= oldest);
    if (firstKept === -1) firstKept = kept.length;
    kept.splice(0, Math.max(firstKept, kept.length - this.options.maxRunsPerCanary));
    this.runs.set(run.canary, kept);
  }

  /** The SuccessPercent datapoints of `definition`'s canary (named as its alarm), as `successPercentDatapoints` computes them. */
  datapoints(definition: Pick<AlarmDefinition, 'name' | 'periodSeconds' | 'evaluationPeriods'>, now: number, since: number): Array<number | undefined> {
    return successPercentDatapoints(this.runs.get(definition.name) ?? [], definition, now, since);
  }

  /** The latest runs of every canary, newest first. */
  latest(limit: number): CanaryRun[] {
    return [...this.runs.values()]
      .flat()
      .sort((a, b) => b.endedAt - a.endedAt)
      .slice(0, limit);
  }

  /**
   * Per canary, one point per period from the period of the oldest run kept to the last one
   * that has ended: SuccessPercent and average latency of the runs that ended in it (null: no run).
   */
  series(now: number, periodMs: number) {
    const canaries = [...this.runs.keys()].sort();
    const oldest = Math.min(...[...this.runs.values()].map((runs) => runs[0]?.endedAt ?? now), now);
    const first = Math.floor(oldest / periodMs) * periodMs;
    const starts: number[] = [];
    for (let start = first; start + periodMs <= now; start += periodMs) starts.push(start);
    return {
      periodSeconds: periodMs / 1000,
      times: starts.map((start) => start / 1000),
      canaries: canaries.map((canary) => {
        const inPeriod: CanaryRun[][] = starts.map(() => []);
        for (const run of this.runs.get(canary)!) inPeriod[Math.floor((run.endedAt - first) / periodMs)]?.push(run);
        return {
          canary,
          origin: this.runs.get(canary)![0]?.origin ?? '',
          successPercent: inPeriod.map((each) => (each.length === 0 ? null : round2((each.filter((run) => run.success).length / each.length) * 100))),
          latencyAvgMs: inPeriod.map((each) => (each.length === 0 ? null : round2(each.reduce((sum, run) => sum + run.latencyMs, 0) / each.length))),
        };
      }),
    };
  }
}
