export { buildMonitorApp, type MonitorOptions } from './app.ts';
export { loadMonitorConfig, type MonitorConfig } from './config.ts';
export { seedAlarms, evaluateAlarm, type AlarmDefinition } from './alarms/evaluate.ts';
