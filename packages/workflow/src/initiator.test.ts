import { describe, expect, it } from 'vitest';
import { decideInitiation, INITIATOR_MAX_RETRIES, INITIATOR_RETRY_INTERVAL_MS, type AlarmState, type InitiatorInput } from './initiator.ts';

const BOTH_ALARM = { 'canary-ap-northeast-3': 'ALARM', 'canary-us-west-2': 'ALARM' } as const;
const T0 = 1_700_000_000_000;
const base: InitiatorInput = {
  alarms: BOTH_ALARM,
  ruleEnabled: true,
  executionRunning: false,
  watchedRegion: 'ap-northeast-1',
  primaryRegion: 'ap-northeast-1',
  attempts: 0,
  now: T0,
};

describe('decideInitiation', () => {
  it('starts the failover when the rule is on, both alarms are in ALARM and nothing runs', () => {
    const decision = decideInitiation(base);
    expect(decision).toMatchObject({ kind: 'start', attempts: 1 });
    expect(decision.reason).toContain('both canary alarms are in ALARM');
  });

  it('ignores every trigger while the rule is disabled, whatever else holds', () => {
    for (const executionRunning of [false, true]) {
      const decision = decideInitiation({ ...base, ruleEnabled: false, executionRunning });
      expect(decision).toMatchObject({ kind: 'ignore', reason: 'the auto-failover rule is disabled', attempts: 0 });
    }
  });

  it('ignores a trigger once the watched region is no longer the primary', () => {
    const decision = decideInitiation({ ...base, primaryRegion: 'ap-northeast-3' });
    expect(decision.kind).toBe('ignore');
    expect(decision.reason).toMatch(/already failed over: the primary is ap-northeast-3/);
  });

  it('starts nothing while a failover or failback execution runs, and checks again 10 s later', () => {
    const decision = decideInitiation({ ...base, executionRunning: true });
    expect(decision).toMatchObject({ kind: 'wait-retry', attempts: 1, retryAt: T0 + INITIATOR_RETRY_INTERVAL_MS });
    expect(decision.reason).toContain('execution is running');
    // Once the execution has ended, the next due check starts the failover.
    expect(decideInitiation({ ...base, attempts: 1, lastAttemptAt: T0 - INITIATOR_RETRY_INTERVAL_MS }).kind).toBe('start');
    // Still running after the tenth retry: the initiation gives up.
    expect(decideInitiation({ ...base, executionRunning: true, attempts: 10, lastAttemptAt: T0 - INITIATOR_RETRY_INTERVAL_MS }).kind).toBe('give-up');
  });

  it.each<[string, Record<string, AlarmState>]>([
    ['one in OK', { 'canary-ap-northeast-3': 'ALARM', 'canary-us-west-2': 'OK' }],
    ['one without data', { 'canary-ap-northeast-3': 'INSUFFICIENT_DATA', 'canary-us-west-2': 'ALARM' }],
    ['both OK', { 'canary-ap-northeast-3': 'OK', 'canary-us-west-2': 'OK' }],
  ])('waits 10 s for the second alarm when %s', (_, alarms) => {
    const decision = decideInitiation({ ...base, alarms });
    expect(decision).toMatchObject({ kind: 'wait-retry', attempts: 1, retryAt: T0 + INITIATOR_RETRY_INTERVAL_MS });
    expect(decision.reason).toMatch(/is (OK|INSUFFICIENT_DATA)/);
  });

  it('does not check again before the retry is due', () => {
    const decision = decideInitiation({ ...base, attempts: 1, lastAttemptAt: T0 - 4_000 });
    expect(decision).toMatchObject({ kind: 'wait-retry', attempts: 1, retryAt: T0 + 6_000 });
  });

  it('retries 10 times, 10 s apart, then gives up; a start on any retry wins', () => {
    const oneInAlarm = { 'canary-ap-northeast-3': 'ALARM', 'canary-us-west-2': 'OK' } as const;
    let attempts = 0;
    let lastAttemptAt: number | undefined;
    let now = T0;
    const kinds: string[] = [];
    for (;;) {
      const decision = decideInitiation({ ...base, alarms: oneInAlarm, attempts, lastAttemptAt, now });
      kinds.push(decision.kind);
      if (decision.kind !== 'wait-retry') break;
      attempts = decision.attempts;
      lastAttemptAt = now;
      now = decision.retryAt;
    }
    // The trigger's check plus 10 retries: 11 checks, 100 s after the trigger.
    expect(kinds).toEqual([...Array(INITIATOR_MAX_RETRIES).fill('wait-retry'), 'give-up']);
    expect(attempts + 1).toBe(INITIATOR_MAX_RETRIES + 1);
    expect(now - T0).toBe(INITIATOR_MAX_RETRIES * INITIATOR_RETRY_INTERVAL_MS);

    const lastRetry = decideInitiation({ ...base, attempts: INITIATOR_MAX_RETRIES, lastAttemptAt: now - INITIATOR_RETRY_INTERVAL_MS, now });
    expect(lastRetry).toMatchObject({ kind: 'start', attempts: INITIATOR_MAX_RETRIES + 1 });
  });

  it('re-reads the rule at every retry: disabling it stops a pending initiation', () => {
    const decision = decideInitiation({ ...base, ruleEnabled: false, attempts: 5, lastAttemptAt: T0 - INITIATOR_RETRY_INTERVAL_MS });
    expect(decision.kind).toBe('ignore');
  });

  it('ignores when it knows no canary alarm at all', () => {
    expect(decideInitiation({ ...base, alarms: {} }).kind).toBe('ignore');
  });
});
