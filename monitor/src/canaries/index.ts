/**
 * The canaries and their alarms as a library (`@corebank/monitor/canaries`): the control
 * plane runs them next to the automatic-failover initiator, independent of the monitor process.
 */
export { createCanary, type Canary, type CanaryResult } from './canary.ts';
export { CANARY_ORIGINS, canaryAlarms, canaryName, successPercentDatapoints, type CanaryAlarmDefinition, type CanaryRunPoint } from './alarms.ts';
export { evaluateAlarm, initialStatus, type AlarmNotification, type AlarmState, type AlarmStatus } from '../alarms/evaluate.ts';
