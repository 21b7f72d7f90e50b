import { describe, expect, it } from 'vitest';
import { INITIATOR_MAX_RETRIES, INITIATOR_RETRY_INTERVAL_MS } from '@corebank/workflow';
import { decide, earlierInitiation, type DecideEvent, type Observation } from '../lib/initiator-handler.ts';

const NOW = Date.parse('2026-11-30T09:00:00Z');
const SELF = { executionArn: 'arn:aws:states:ap-northeast-3:1:execution:initiator:b', startTime: '2026-11-30T08:59:59.000Z' };

/** What the Observe state gathers when Tokyo is down and the rule is on (overridable). */
function observations(overrides: { osaka?: string[]; oregon?: string[]; rule?: string; running?: unknown[]; writers?: string[]; initiations?: { ExecutionArn: string; StartDate: string | number }[] } = {}): Observation[] {
  return [
    { kind: 'alarm', name: 'canary-ap-northeast-3', states: overrides.osaka ?? ['ALARM'] },
    { kind: 'alarm', name: 'canary-us-west-2', states: overrides.oregon ?? ['ALARM'] },
    { kind: 'executions', workflow: 'failover', running: overrides.running ?? [] },
    { kind: 'executions', workflow: 'failback', running: [] },
    { kind: 'rule', state: overrides.rule ?? 'ENABLED' },
    { kind: 'database', writers: overrides.writers ?? ['arn:aws:rds:ap-northeast-1:1:cluster:bleafsi-corebanking-dev-db-ap-northeast-1'] },
    { kind: 'initiations', running: overrides.initiations ?? [{ ExecutionArn: SELF.executionArn, StartDate: SELF.startTime }] },
  ];
}
const event = (o: Observation[], initiation: DecideEvent['initiation'] = { attempts: 0 }): DecideEvent => ({ observations: o, initiation, watchedRegion: 'ap-northeast-1', self: SELF });

describe('the initiator Lambda: the state machine\'s observations into decideInitiation', () => {
  it('starts the failover when both alarms are in ALARM, nothing runs and the rule is enabled', () => {
    expect(decide(event(observations()), NOW)).toMatchObject({ kind: 'start', attempts: 1, lastAttemptAt: NOW });
  });

  it('waits 10 s while a failover execution runs, with the retry time as the Wait state takes it', () => {
    const result = decide(event(observations({ running: [{ ExecutionArn: 'x' }] })), NOW);
    expect(result).toMatchObject({ kind: 'wait-retry', attempts: 1, lastAttemptAt: NOW, retryAtTimestamp: new Date(NOW + INITIATOR_RETRY_INTERVAL_MS).toISOString() });
    expect(result.reason).toContain('execution is running');
  });

  it('waits while the other alarm has not joined, and gives up after 10 retries', () => {
    expect(decide(event(observations({ oregon: ['OK'] })), NOW)).toMatchObject({ kind: 'wait-retry', reason: expect.stringContaining('canary-us-west-2 is OK') });
    const last = decide(event(observations({ oregon: ['OK'] }), { attempts: INITIATOR_MAX_RETRIES, lastAttemptAt: NOW - INITIATOR_RETRY_INTERVAL_MS }), NOW);
    expect(last).toMatchObject({ kind: 'give-up', attempts: INITIATOR_MAX_RETRIES + 1 });
  });

  it('counts a missing alarm as INSUFFICIENT_DATA, never as ALARM', () => {
    expect(decide(event(observations({ oregon: [] })), NOW)).toMatchObject({ kind: 'wait-retry', reason: expect.stringContaining('canary-us-west-2 is INSUFFICIENT_DATA') });
  });

  it('ignores the trigger when the rule is disabled', () => {
    expect(decide(event(observations({ rule: 'DISABLED' })), NOW)).toMatchObject({ kind: 'ignore', reason: 'the auto-failover rule is disabled' });
  });

  it('ignores it when Osaka is already the writer, or while no writer is known', () => {
    expect(decide(event(observations({ writers: ['arn:aws:rds:ap-northeast-3:1:cluster:db'] })), NOW)).toMatchObject({ kind: 'ignore', reason: expect.stringContaining('the primary is ap-northeast-3') });
    expect(decide(event(observations({ writers: [] })), NOW)).toMatchObject({ kind: 'ignore', reason: expect.stringContaining('the primary is unknown') });
  });

  it('merges into an earlier initiation that is still running, whatever the alarms say', () => {
    const earlier = { ExecutionArn: 'arn:aws:states:ap-northeast-3:1:execution:initiator:a', StartDate: Date.parse(SELF.startTime) - 1000 };
    const result = decide(event(observations({ initiations: [earlier, { ExecutionArn: SELF.executionArn, StartDate: SELF.startTime }] })), NOW);
    expect(result).toMatchObject({ kind: 'ignore', reason: `merged into the initiation begun earlier, ${earlier.ExecutionArn}` });
  });

  it('an initiation begun later, or its own execution, is no reason to stand down', () => {
    expect(earlierInitiation([{ ExecutionArn: SELF.executionArn, StartDate: SELF.startTime }], SELF)).toBeUndefined();
    expect(earlierInitiation([{ ExecutionArn: 'arn:c', StartDate: '2026-11-30T09:00:00Z' }], SELF)).toBeUndefined();
    // Epoch seconds and ms are both read; a tie goes to the smaller ARN.
    expect(earlierInitiation([{ ExecutionArn: 'arn:a', StartDate: Date.parse(SELF.startTime) / 1000 - 5 }], SELF)).toBe('arn:a');
    expect(earlierInitiation([{ ExecutionArn: 'arn:aws:states:ap-northeast-3:1:execution:initiator:a', StartDate: SELF.startTime }], SELF)).toBe('arn:aws:states:ap-northeast-3:1:execution:initiator:a');
  });

  it('keeps the last check\'s time when it only waited for its turn', () => {
    const lastAttemptAt = NOW - 3000;
    const result = decide(event(observations(), { attempts: 2, lastAttemptAt }), NOW);
    expect(result).toMatchObject({ kind: 'wait-retry', attempts: 2, lastAttemptAt, retryAtTimestamp: new Date(lastAttemptAt + INITIATOR_RETRY_INTERVAL_MS).toISOString() });
  });
});
