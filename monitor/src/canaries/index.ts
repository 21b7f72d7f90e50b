/**
 * The canaries and their alarms as a library (`@corebank/monitor/canaries`): the control
 * plane runs the canaries (the Synthetics stand-in) and publishes each run to the monitor,
 * which keeps the runs and evaluates the `canary-<origin>` alarms; the alarm state change
 * event is what the monitor sends the control plane's auto-failover rule.
 */
export { createCanary, type Canary, type CanaryResult } from './canary.ts';
export { CANARY_ORIGINS, canaryAlarms, canaryName, successPercentDatapoints, type CanaryAlarmDefinition, type CanaryRunPoint } from './alarms.ts';
export type { CanaryRun } from './runs.ts';
export { evaluateAlarm, initialStatus, type AlarmNotification, type AlarmState, type AlarmStatus } from '../alarms/evaluate.ts';
export type { AlarmStateChangeEvent, AlarmStateValue } from '../alarms/events.ts';
