/**
 * The canary alarms (the seed's automatic failover): one per canary, `canary-<origin>`, on
 * the canary's SuccessPercent, evaluated with the same pure CloudWatch semantics as the
 * service alarms (`evaluateAlarm`).
 *
 * Missing data: `missing` (CloudWatch's default, which an alarm gets unless it says
 * otherwise). A period without a canary run means the canary did not run, which says
 * nothing about the primary; `breaching` would let a stopped canary (or both, with the
 * process that runs them) move the bank to the other region. The canary runner bounds every
 * run below one period, so a primary that does not answer still yields a failed run — a
 * datapoint of 0 — in every period, and never a gap.
 */
import type { AlarmDefinition } from '../alarms/evaluate.ts';

/** Where the seed's two canaries run: the secondary region (Osaka) and a third, monitoring region. */
export const CANARY_ORIGINS = ['ap-northeast-3', 'us-west-2'] as const;
export type CanaryOrigin = (typeof CANARY_ORIGINS)[number];

export const canaryName = (origin: string) => `canary-${origin}`;

export interface CanaryAlarmDefinition extends AlarmDefinition {
  metric: 'SuccessPercent';
  origin: string;
}

/** Success below 100 % in 2 of 2 periods of 60 s; `periodSeconds` shortened for tests and demos. */
export function canaryAlarms(options: { periodSeconds?: number; origins?: readonly string[] } = {}): CanaryAlarmDefinition[] {
  const periodSeconds = options.periodSeconds ?? 60;
  return (options.origins ?? CANARY_ORIGINS).map((origin) => ({
    name: canaryName(origin),
    service: canaryName(origin),
    origin,
    metric: 'SuccessPercent',
    threshold: 100,
    comparison: 'LessThanThreshold',
    periodSeconds,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    treatMissingData: 'missing',
  }));
}

/** One canary run: when it ended, whether every step succeeded. */
export interface CanaryRunPoint {
  endedAt: number;
  success: boolean;
}

/**
 * SuccessPercent of each of the `evaluationPeriods` periods that ended by `now`, oldest
 * first; undefined for a period without a run. A run counts in the period it ended in.
 * Periods that began before `since` (the canary's start) were never observed and are left out.
 */
export function successPercentDatapoints(runs: readonly CanaryRunPoint[], definition: Pick<AlarmDefinition, 'periodSeconds' | 'evaluationPeriods'>, now: number, since: number): Array<number | undefined> {
  const periodMs = definition.periodSeconds * 1000;
  const lastEnd = Math.floor(now / periodMs) * periodMs;
  const firstObserved = Math.floor(since / periodMs) * periodMs;
  const points: Array<number | undefined> = [];
  for (let end = lastEnd - (definition.evaluationPeriods - 1) * periodMs; end <= lastEnd; end += periodMs) {
    if (end - periodMs < firstObserved) continue;
    const inPeriod = runs.filter((run) => run.endedAt >= end - periodMs && run.endedAt < end);
    points.push(inPeriod.length === 0 ? undefined : (inPeriod.filter((run) => run.success).length / inPeriod.length) * 100);
  }
  return points;
}
