import { describe, expect, it } from 'vitest';
import { canaryAlarms } from './alarms.ts';
import { CanaryRuns, type CanaryRun } from './runs.ts';

const run = (endedAt: number, success: boolean, canary = 'canary-ap-northeast-3', latencyMs = 50): CanaryRun => ({
  canary,
  origin: canary.replace(/^canary-/, ''),
  success,
  latencyMs,
  startedAt: endedAt - latencyMs,
  endedAt,
  endpoint: 'http://127.0.0.1:8081',
});

describe('the canary runs the monitor keeps', () => {
  it('keeps at most maxRunsPerCanary runs per canary, and none older than the window', () => {
    const runs = new CanaryRuns({ windowMs: 10_000, maxRunsPerCanary: 3 });
    for (let at = 1_000; at <= 5_000; at += 1_000) runs.add(run(at, true), 5_000);
    runs.add(run(5_000, false, 'canary-us-west-2'), 5_000);
    expect(runs.latest(10).map((each) => `${each.canary}@${each.endedAt}`)).toEqual(['canary-ap-northeast-3@5000', 'canary-us-west-2@5000', 'canary-ap-northeast-3@4000', 'canary-ap-northeast-3@3000']);
    runs.add(run(14_500, true), 14_500);
    expect(runs.latest(10).filter((each) => each.canary === 'canary-ap-northeast-3').map((each) => each.endedAt)).toEqual([14_500, 5_000]);
    expect(runs.received).toBe(7);
  });

  it('gives the canary alarm its SuccessPercent datapoints, a run published late counted in its own period', () => {
    const [definition] = canaryAlarms({ periodSeconds: 5 });
    const runs = new CanaryRuns({ windowMs: 60_000, maxRunsPerCanary: 100 });
    runs.add(run(6_000, true), 6_000);
    runs.add(run(11_000, false), 11_000);
    runs.add(run(9_000, false), 11_000);
    expect(runs.datapoints(definition!, 15_250, 0)).toEqual([50, 0]);
    expect(runs.datapoints(canaryAlarms({ periodSeconds: 5 })[1]!, 15_250, 0)).toEqual([undefined, undefined]);
  });

  it('answers one point per period for the dashboard: SuccessPercent and average latency, null without a run', () => {
    const runs = new CanaryRuns({ windowMs: 60_000, maxRunsPerCanary: 100 });
    runs.add(run(10_500, true, 'canary-us-west-2', 40), 10_500);
    runs.add(run(11_500, false, 'canary-us-west-2', 80), 11_500);
    runs.add(run(13_500, true, 'canary-us-west-2', 30), 13_500);
    expect(runs.series(14_000, 2_000)).toEqual({
      periodSeconds: 2,
      times: [10, 12],
      canaries: [{ canary: 'canary-us-west-2', origin: 'us-west-2', successPercent: [50, 100], latencyAvgMs: [60, 30] }],
    });
    expect(runs.series(16_100, 2_000).canaries[0]!.successPercent).toEqual([50, 100, null]);
  });
});
