import { describe, expect, it } from 'vitest';
import { breaches, evaluateAlarm, initialStatus, seedAlarms, type AlarmDefinition, type AlarmState, type AlarmStatus } from './evaluate.ts';

const latency: AlarmDefinition = seedAlarms().find((alarm) => alarm.name === 'balance-HighLatency')!;
const status = (state: AlarmState): AlarmStatus => ({ state, updatedAt: 0, reason: '' });

/** Feeds one datapoint per period, as the monitor does, and returns the states and notifications. */
function run(definition: AlarmDefinition, values: Array<number | undefined>) {
  let current = initialStatus(0);
  const seen: Array<number | undefined> = [];
  const states: AlarmState[] = [];
  const notifications: string[] = [];
  values.forEach((value, period) => {
    seen.push(value);
    const result = evaluateAlarm(definition, current, seen, (period + 1) * 1000);
    current = result.status;
    states.push(current.state);
    if (result.notification) notifications.push(`${result.notification.from}->${result.notification.to}@${result.notification.at}`);
  });
  return { states, notifications, last: current };
}

describe('the seed alarm definitions', () => {
  it('are eight: latency > 1000 ms and error rate > 5 % per service, 5-minute periods, 2 of 2, missing not breaching', () => {
    const alarms = seedAlarms();
    expect(alarms.map((alarm) => alarm.name)).toEqual([
      'balance-HighLatency', 'balance-HighErrorRate', 'count-HighLatency', 'count-HighErrorRate',
      'transaction-HighLatency', 'transaction-HighErrorRate', 'transaction-worker-HighLatency', 'transaction-worker-HighErrorRate',
    ]);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ comparison: 'GreaterThanThreshold', periodSeconds: 300, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching' });
      expect(alarm.threshold).toBe(alarm.metric === 'latencyAvgMs' ? 1000 : 5);
    }
  });

  it('take a shorter period and evaluation count for demos', () => {
    expect(seedAlarms({ periodSeconds: 10, evaluationPeriods: 3 })[0]).toMatchObject({ periodSeconds: 10, evaluationPeriods: 3, datapointsToAlarm: 3 });
  });
});

describe('comparison', () => {
  it.each([
    ['GreaterThanThreshold', 1000, false], ['GreaterThanThreshold', 1000.5, true],
    ['GreaterThanOrEqualToThreshold', 1000, true], ['GreaterThanOrEqualToThreshold', 999, false],
    ['LessThanThreshold', 1000, false], ['LessThanThreshold', 999, true],
    ['LessThanOrEqualToThreshold', 1000, true], ['LessThanOrEqualToThreshold', 1001, false],
  ] as const)('%s with %d against 1000 → %s', (comparison, value, expected) => {
    expect(breaches(comparison, value, 1000)).toBe(expected);
  });
});

describe('evaluateAlarm (notBreaching, 2 of 2, > 1000)', () => {
  it('stays INSUFFICIENT_DATA until two periods were observed, then goes OK without a notification', () => {
    const { states, notifications } = run(latency, [50, 60, 70]);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK']);
    expect(notifications).toEqual([]);
  });

  it('goes to ALARM after two consecutive breaching periods, with one notification', () => {
    const { states, notifications, last } = run(latency, [50, 1500, 1200, 1300]);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'OK', 'ALARM', 'ALARM']);
    expect(notifications).toEqual(['OK->ALARM@3000']);
    expect(last.updatedAt).toBe(3000);
    expect(last.reason).toContain('2 of the last 2 datapoints [1500, 1200]');
  });

  it('does not alarm on one breaching period between good ones', () => {
    expect(run(latency, [50, 1500, 50, 1500, 50]).states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'OK', 'OK']);
  });

  it('does not alarm on a value equal to the threshold (greater than, strictly)', () => {
    expect(run(latency, [1000, 1000, 1000]).states.at(-1)).toBe('OK');
  });

  it('can go to ALARM straight from INSUFFICIENT_DATA, and notifies that', () => {
    const { states, notifications } = run(latency, [2000, 2000]);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'ALARM']);
    expect(notifications).toEqual(['INSUFFICIENT_DATA->ALARM@2000']);
  });

  it('returns to OK at the first period that is not breaching, and notifies that', () => {
    const { states, notifications } = run(latency, [1500, 1500, 1500, 20, 30]);
    expect(states).toEqual(['INSUFFICIENT_DATA', 'ALARM', 'ALARM', 'OK', 'OK']);
    expect(notifications).toEqual(['INSUFFICIENT_DATA->ALARM@2000', 'ALARM->OK@4000']);
  });

  it('treats a period without data as not breaching: a gap ends the alarm and prevents one', () => {
    expect(run(latency, [1500, 1500, undefined]).notifications).toEqual(['INSUFFICIENT_DATA->ALARM@2000', 'ALARM->OK@3000']);
    expect(run(latency, [1500, undefined, 1500, undefined]).states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'OK']);
  });

  it('goes OK, not INSUFFICIENT_DATA, when there is no data at all', () => {
    expect(run(latency, [undefined, undefined, undefined]).states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK']);
  });

  it('reports the evaluated datapoints with the notification, null for no data', () => {
    const { notification } = evaluateAlarm(latency, status('ALARM'), [1500, 1500, undefined], 9);
    expect(notification).toMatchObject({ alarm: 'balance-HighLatency', service: 'balance', from: 'ALARM', to: 'OK', at: 9, datapoints: [1500, null] });
  });

  it('keeps the same status object (and updatedAt) while the state does not change', () => {
    const current = status('ALARM');
    expect(evaluateAlarm(latency, current, [2000, 3000], 5).status).toBe(current);
  });

  it('looks only at the last evaluationPeriods datapoints', () => {
    expect(evaluateAlarm(latency, status('ALARM'), [5000, 5000, 5000, 10, 5000], 1).status.state).toBe('OK');
  });
});

describe('evaluateAlarm, other settings', () => {
  const threeOfFive = { ...latency, evaluationPeriods: 5, datapointsToAlarm: 3 };

  it('M out of N: 3 breaching of the last 5, not necessarily consecutive', () => {
    expect(evaluateAlarm(threeOfFive, status('OK'), [1500, 10, 1500, 10, 1500], 1).status.state).toBe('ALARM');
    expect(evaluateAlarm(threeOfFive, status('OK'), [1500, 10, 10, 10, 1500], 1).status.state).toBe('OK');
  });

  it('breaching: missing periods count as breaching', () => {
    const breaching = { ...latency, treatMissingData: 'breaching' as const };
    expect(evaluateAlarm(breaching, status('OK'), [undefined, 1500], 1).status.state).toBe('ALARM');
    expect(evaluateAlarm(breaching, status('OK'), [undefined, 10], 1).status.state).toBe('OK');
  });

  it('ignore: keeps the state when every period is missing', () => {
    const ignore = { ...latency, treatMissingData: 'ignore' as const };
    expect(evaluateAlarm(ignore, status('ALARM'), [undefined, undefined], 1).status.state).toBe('ALARM');
    expect(evaluateAlarm(ignore, status('OK'), [undefined, undefined], 1).status.state).toBe('OK');
  });

  it('missing: INSUFFICIENT_DATA when every period is missing, without a notification', () => {
    const missing = { ...latency, treatMissingData: 'missing' as const };
    const result = evaluateAlarm(missing, status('ALARM'), [undefined, undefined], 1);
    expect(result.status.state).toBe('INSUFFICIENT_DATA');
    expect(result.notification).toBeUndefined();
  });

  it('error-rate alarms compare percentages', () => {
    const errors = seedAlarms().find((alarm) => alarm.name === 'count-HighErrorRate')!;
    expect(evaluateAlarm(errors, status('OK'), [5.1, 12], 1).status.state).toBe('ALARM');
    expect(evaluateAlarm(errors, status('OK'), [5, 12], 1).status.state).toBe('OK');
  });
});
