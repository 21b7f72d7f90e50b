/**
 * The EventBridge stand-in's event: CloudWatch's "CloudWatch Alarm State Change" (its
 * `detail`, simplified to what a rule and the initiator read). The monitor POSTs one per
 * change of a canary alarm's state to ALARM_EVENTS_URL (the control plane's
 * `POST /events/alarm-state-change`, where the auto-failover rule decides what it triggers).
 */
import type { AlarmChange } from './runner.ts';
import type { AlarmState } from './evaluate.ts';

export interface AlarmStateValue {
  value: AlarmState;
  reason: string;
  /** ISO 8601, when the alarm entered the state. */
  timestamp: string;
}

export interface AlarmStateChangeEvent {
  alarmName: string;
  state: AlarmStateValue;
  previousState: AlarmStateValue;
}

export function alarmStateChangeEvent(change: AlarmChange): AlarmStateChangeEvent {
  const valueOf = (status: AlarmChange['from']): AlarmStateValue => ({ value: status.state, reason: status.reason, timestamp: new Date(status.updatedAt).toISOString() });
  return { alarmName: change.definition.name, state: valueOf(change.to), previousState: valueOf(change.from) };
}
