/**
 * CloudWatch metric-alarm semantics as a pure function: no clock, no I/O. The monitor calls
 * `evaluateAlarm` at the end of every period with the alarm's last datapoints.
 *
 * - A datapoint is one period's value of the metric (average latency in ms, error rate in %),
 *   or undefined when the period had no data (no requests).
 * - The alarm looks at the `evaluationPeriods` most recent periods and goes to ALARM when at
 *   least `datapointsToAlarm` of them breach (M out of N); otherwise OK.
 * - Missing datapoints are treated per `treatMissingData`: notBreaching (the seed's setting:
 *   good), breaching, ignore (the state stays as it is when every datapoint is missing) or
 *   missing (INSUFFICIENT_DATA when every datapoint is missing; otherwise only the present
 *   ones count).
 * - An alarm starts in INSUFFICIENT_DATA and stays there until `evaluationPeriods` periods
 *   have been observed since it was created.
 * - Notifications: on entering ALARM, and on returning to OK from ALARM, as the issue asks.
 *   (CloudWatch would also run OK actions on INSUFFICIENT_DATA → OK, i.e. once at start for
 *   every healthy alarm; that is noise on a dashboard, so it is not notified here.)
 */

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
export type Comparison = 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold';
export type TreatMissingData = 'notBreaching' | 'breaching' | 'ignore' | 'missing';
/**
 * latencyAvgMs: average latency of the period's requests; errorRatePercent: 5xx / requests × 100;
 * SuccessPercent: a canary's successful runs / runs × 100 (monitor/src/canaries/alarms.ts).
 */
export type AlarmMetric = 'latencyAvgMs' | 'errorRatePercent' | 'SuccessPercent';

export interface AlarmDefinition {
  name: string;
  service: string;
  metric: AlarmMetric;
  threshold: number;
  comparison: Comparison;
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: TreatMissingData;
}

export interface AlarmStatus {
  state: AlarmState;
  /** When the state last changed (ms since the epoch). */
  updatedAt: number;
  reason: string;
}

export interface AlarmNotification {
  alarm: string;
  service: string;
  from: AlarmState;
  to: AlarmState;
  reason: string;
  at: number;
  /** The datapoints evaluated, oldest first (null: no data). */
  datapoints: Array<number | null>;
}

export interface Evaluation {
  status: AlarmStatus;
  /** Set when the evaluation changed the state in a way that notifies. */
  notification?: AlarmNotification;
}

export function breaches(comparison: Comparison, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
  }
}

export const initialStatus = (at: number): AlarmStatus => ({ state: 'INSUFFICIENT_DATA', updatedAt: at, reason: 'alarm created; not enough periods observed yet' });

/**
 * The alarm's next status after a period ends.
 * @param datapoints the most recent periods' values, oldest first; only the last
 *   `evaluationPeriods` count. Fewer than that: the alarm has not observed enough periods.
 */
export function evaluateAlarm(definition: AlarmDefinition, current: AlarmStatus, datapoints: ReadonlyArray<number | undefined>, now: number): Evaluation {
  const window = datapoints.slice(-definition.evaluationPeriods);
  const next = nextState(definition, current.state, window);
  if (next.state === current.state) return { status: current };
  const status: AlarmStatus = { state: next.state, updatedAt: now, reason: next.reason };
  const notifies = next.state === 'ALARM' || (next.state === 'OK' && current.state === 'ALARM');
  if (!notifies) return { status };
  return {
    status,
    notification: {
      alarm: definition.name,
      service: definition.service,
      from: current.state,
      to: next.state,
      reason: next.reason,
      at: now,
      datapoints: window.map((value) => value ?? null),
    },
  };
}

function nextState(definition: AlarmDefinition, current: AlarmState, window: ReadonlyArray<number | undefined>): { state: AlarmState; reason: string } {
  const { evaluationPeriods, datapointsToAlarm, threshold, comparison, treatMissingData } = definition;
  if (window.length < evaluationPeriods) {
    return { state: 'INSUFFICIENT_DATA', reason: `${window.length} of ${evaluationPeriods} periods observed` };
  }
  const present = window.filter((value): value is number => value !== undefined);
  const missing = window.length - present.length;
  if (missing === window.length) {
    if (treatMissingData === 'ignore') return { state: current, reason: 'no data: state kept' };
    if (treatMissingData === 'missing') return { state: 'INSUFFICIENT_DATA', reason: `no data in the last ${evaluationPeriods} periods` };
  }
  let breaching = present.filter((value) => breaches(comparison, value, threshold)).length;
  if (treatMissingData === 'breaching') breaching += missing;
  // With missing/ignore, only present datapoints count, and fewer than M of them cannot alarm.
  const needed = treatMissingData === 'missing' || treatMissingData === 'ignore' ? Math.min(datapointsToAlarm, present.length) : datapointsToAlarm;
  const shown = window.map((value) => (value === undefined ? 'no data' : round(value))).join(', ');
  const relation = `${comparison.replace(/Threshold$/, '')} ${threshold}`;
  if (breaching >= needed && breaching > 0) {
    return { state: 'ALARM', reason: `${breaching} of the last ${evaluationPeriods} datapoints [${shown}] were ${relation} (${datapointsToAlarm} needed)` };
  }
  return { state: 'OK', reason: `${breaching} of the last ${evaluationPeriods} datapoints [${shown}] were ${relation} (${datapointsToAlarm} needed)` };
}

const round = (value: number) => Math.round(value * 100) / 100;

const SERVICES = ['balance', 'count', 'transaction', 'transaction-worker'] as const;

/**
 * The seed's eight alarms: for each service, average latency > 1000 ms and error rate > 5 %,
 * period 5 minutes, 2 of 2 periods, missing data not breaching. `periodSeconds` and
 * `evaluationPeriods` may be shortened for demos and tests.
 */
export function seedAlarms(options: { periodSeconds?: number; evaluationPeriods?: number } = {}): AlarmDefinition[] {
  const periodSeconds = options.periodSeconds ?? 300;
  const evaluationPeriods = options.evaluationPeriods ?? 2;
  const common = { comparison: 'GreaterThanThreshold', periodSeconds, evaluationPeriods, datapointsToAlarm: evaluationPeriods, treatMissingData: 'notBreaching' } as const;
  return SERVICES.flatMap((service) => [
    { name: `${service}-HighLatency`, service, metric: 'latencyAvgMs', threshold: 1000, ...common },
    { name: `${service}-HighErrorRate`, service, metric: 'errorRatePercent', threshold: 5, ...common },
  ]);
}
