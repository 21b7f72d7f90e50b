import { describe, expect, it } from 'vitest';
import { evaluateAlarm, initialStatus, type AlarmNotification, type AlarmStatus } from '../alarms/evaluate.ts';
import { canaryAlarms, successPercentDatapoints, type CanaryRunPoint } from './alarms.ts';

describe('canary alarm definitions', () => {
  it('are canary-<origin> for Osaka and the monitoring region: SuccessPercent < 100, 2 of 2 periods of 60 s, missing data missing', () => {
    const alarms = canaryAlarms();
    expect(alarms.map((alarm) => alarm.name)).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ metric: 'SuccessPercent', comparison: 'LessThanThreshold', threshold: 100, periodSeconds: 60, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'missing' });
    }
    expect(canaryAlarms({ periodSeconds: 5 })[0]!.periodSeconds).toBe(5);
  });
});

describe('successPercentDatapoints', () => {
  const definition = { periodSeconds: 5, evaluationPeriods: 2 };
  it('averages the runs that ended in each period and leaves a period without runs undefined', () => {
    const runs: CanaryRunPoint[] = [
      { endedAt: 10_000, success: true },
      { endedAt: 11_000, success: false },
      { endedAt: 14_999, success: true },
      { endedAt: 15_000, success: true }, // belongs to [15 s, 20 s)
    ];
    expect(successPercentDatapoints(runs, definition, 20_500, 0)).toEqual([(2 / 3) * 100, 100]);
    expect(successPercentDatapoints(runs, definition, 25_500, 0)).toEqual([100, undefined]);
  });

  it('leaves out periods that began before the canary started', () => {
    // The period the canary started in counts (as the service alarms' does); the one before does not.
    expect(successPercentDatapoints([{ endedAt: 16_000, success: false }], definition, 20_100, 12_000)).toEqual([undefined, 0]);
    expect(successPercentDatapoints([{ endedAt: 16_000, success: false }], definition, 20_100, 15_000)).toEqual([0]);
  });
});

/** Drives one alarm through periods of canary results, as the monitor does at each period's end. */
function drive(periods: Array<boolean[] | 'no run'>) {
  const [definition] = canaryAlarms({ periodSeconds: 5 });
  const periodMs = 5_000;
  const startedAt = 0;
  const runs: CanaryRunPoint[] = [];
  let status: AlarmStatus = initialStatus(startedAt);
  const states: string[] = [];
  const notifications: AlarmNotification[] = [];
  periods.forEach((period, index) => {
    const start = index * periodMs;
    if (period !== 'no run') period.forEach((success, run) => runs.push({ endedAt: start + 1_000 + run * 1_000, success }));
    const now = start + periodMs + 250;
    const evaluation = evaluateAlarm(definition!, status, successPercentDatapoints(runs, definition!, now, startedAt), now);
    status = evaluation.status;
    states.push(status.state);
    if (evaluation.notification) notifications.push(evaluation.notification);
  });
  return { states, notifications, status };
}

describe('a canary alarm over a sequence of canary results', () => {
  it('goes to ALARM after two failing periods and back to OK after one good one, notifying both', () => {
    const { states, notifications } = drive([[true], [true], [false], [false], [false], [true], [true]]);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'ALARM', 'ALARM', 'OK', 'OK']);
    expect(notifications.map((notification) => `${notification.from}->${notification.to}`)).toEqual(['OK->ALARM', 'ALARM->OK']);
    expect(notifications[0]).toMatchObject({ alarm: 'canary-ap-northeast-3', datapoints: [0, 0] });
    expect(notifications[1]!.datapoints).toEqual([0, 100]);
  });

  it('treats one failed run among several in a period as a breach (success below 100 %)', () => {
    expect(drive([[true, false], [true, true, false]]).states).toEqual(['INSUFFICIENT_DATA', 'ALARM']);
  });

  it('does not alarm on a single failing period', () => {
    expect(drive([[true], [false], [true], [false], [true]]).states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'OK', 'OK']);
  });

  it('goes to INSUFFICIENT_DATA, never ALARM, when the canary stops running', () => {
    const { states, notifications } = drive([[true], [true], 'no run', 'no run', 'no run']);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'INSUFFICIENT_DATA', 'INSUFFICIENT_DATA']);
    expect(notifications).toEqual([]);
  });
});
