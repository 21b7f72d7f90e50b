/**
 * The automatic-failover initiator's rules as a pure function: no clock, no I/O. The caller
 * (the local control plane, the AWS initiator Lambda) runs one "initiation" per trigger — a canary alarm entering
 * ALARM, as the seed's EventBridge rule fires on a CloudWatch alarm state change — and asks
 * `decideInitiation` at the trigger and again at every retry it was told to schedule.
 *
 * The rules (the issue's, which follow the seed's `FailoverInitiatorStateMachine`): the failover
 * starts when both canary alarms are in ALARM and no failover or failback execution is
 * running. Otherwise the initiation checks again 10 s later, up to 10 times, then gives up
 * (`MaxRetriesExceeded`). It retries both while another execution runs (the issue's words)
 * and while the second alarm has not yet joined the first (the seed's code, whose trigger is
 * one alarm's transition; the other canary's alarm may follow a period later).
 *
 * Two deliberate additions, both only ever withhold a start: the rule's state is read again at
 * every attempt, and an initiation whose watched region is no longer the primary (the
 * failover already happened) starts nothing.
 */
/** A CloudWatch alarm's state, as the monitor's `/api/alarms` reports it. */
export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** 10 retries after the first check, 10 s apart (the seed's Wait10Seconds and RetryCheck ≤ 10). */
export const INITIATOR_MAX_RETRIES = 10;
export const INITIATOR_RETRY_INTERVAL_MS = 10_000;

export interface InitiatorInput {
  /** Each canary alarm's state, by alarm name (`canary-ap-northeast-3`, `canary-us-west-2`). */
  alarms: Readonly<Record<string, AlarmState>>;
  /** The auto-failover rule (the seed's EventBridge rule); it ships disabled. */
  ruleEnabled: boolean;
  /** Whether a failover or failback execution is running now. */
  executionRunning: boolean;
  /** The region the canaries call (Tokyo) and the region that is primary now. */
  watchedRegion: string;
  primaryRegion: string;
  /** Checks of the alarms already made in this initiation (0 at the trigger). */
  attempts: number;
  /** When the last of those checks was made (ms since the epoch); undefined at the trigger. */
  lastAttemptAt?: number;
  now: number;
}

export type InitiatorDecision =
  | { kind: 'start'; reason: string; attempts: number }
  /** Check again at `retryAt`, with `attempts` as the count of checks made. */
  | { kind: 'wait-retry'; reason: string; attempts: number; retryAt: number }
  | { kind: 'give-up'; reason: string; attempts: number }
  | { kind: 'ignore'; reason: string; attempts: number };

export function decideInitiation(input: InitiatorInput): InitiatorDecision {
  const { attempts } = input;
  if (!input.ruleEnabled) return { kind: 'ignore', reason: 'the auto-failover rule is disabled', attempts };
  if (input.primaryRegion !== input.watchedRegion) {
    return { kind: 'ignore', reason: `already failed over: the primary is ${input.primaryRegion}, not ${input.watchedRegion}, which the canaries watch`, attempts };
  }
  if (input.lastAttemptAt !== undefined && input.now < input.lastAttemptAt + INITIATOR_RETRY_INTERVAL_MS) {
    const retryAt = input.lastAttemptAt + INITIATOR_RETRY_INTERVAL_MS;
    return { kind: 'wait-retry', reason: `the next check is due ${retryAt - input.now} ms from now`, attempts, retryAt };
  }
  const names = Object.keys(input.alarms).sort();
  const notInAlarm = names.filter((name) => input.alarms[name] !== 'ALARM');
  const checked = attempts + 1;
  if (names.length === 0) return { kind: 'ignore', reason: 'no canary alarm is known', attempts: checked };
  if (notInAlarm.length === 0 && !input.executionRunning) {
    return { kind: 'start', reason: `both canary alarms are in ALARM (${names.join(', ')}) and no execution is running`, attempts: checked };
  }
  const states = [
    ...(input.executionRunning ? ['a failover or failback execution is running'] : []),
    ...(notInAlarm.length > 0 ? [`not both canary alarms in ALARM: ${notInAlarm.map((name) => `${name} is ${input.alarms[name]}`).join(', ')}`] : []),
  ].join('; ');
  // The first check is the trigger's; retries are the checks after it.
  if (checked - 1 >= INITIATOR_MAX_RETRIES) {
    return { kind: 'give-up', reason: `gave up after ${INITIATOR_MAX_RETRIES} retries (${states}): the seed's MaxRetriesExceeded`, attempts: checked };
  }
  return {
    kind: 'wait-retry',
    reason: `${states}; retry ${checked} of ${INITIATOR_MAX_RETRIES} in ${INITIATOR_RETRY_INTERVAL_MS / 1000} s`,
    attempts: checked,
    retryAt: input.now + INITIATOR_RETRY_INTERVAL_MS,
  };
}
