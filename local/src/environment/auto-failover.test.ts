import { describe, expect, it } from 'vitest';
import { INITIATOR_RETRY_INTERVAL_MS, type AlarmState } from '@corebank/workflow';
import { createInitiatorLoop } from './auto-failover.ts';

/** The loop with its I/O in the test's hands: a clock, a timer queue, an execution flag. */
function harness(initial: { running: boolean; enabled?: boolean }) {
  let now = 1_000_000;
  let running = initial.running;
  const alarms: Record<string, AlarmState> = { 'canary-ap-northeast-3': 'ALARM', 'canary-us-west-2': 'ALARM' };
  const timers: Array<{ at: number; work: () => void; cancelled: boolean }> = [];
  const started: string[] = [];
  const loop = createInitiatorLoop({
    alarms: () => alarms,
    ruleEnabled: () => initial.enabled ?? true,
    executionRunning: () => running,
    primaryRegion: async () => 'ap-northeast-1',
    startFailover: () => {
      if (running) throw new Error('execution running');
      running = true;
      started.push(`execution-${started.length + 1}`);
      return started.at(-1)!;
    },
    now: () => now,
    schedule: (at, work) => {
      const timer = { at, work, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    log: () => {},
  });
  return {
    loop,
    started,
    alarms,
    pending: () => timers.filter((timer) => !timer.cancelled),
    endExecution: () => {
      running = false;
    },
    /** Moves the clock to the next timer and runs it. */
    async fireNext() {
      const timer = timers.shift()!;
      now = timer.at;
      if (!timer.cancelled) timer.work();
      await loop.settled();
    },
  };
}

describe('the initiator loop', () => {
  it('starts nothing while an execution runs, merges a second trigger into the open initiation, and starts once when the execution has ended', async () => {
    const test = harness({ running: true });
    await test.loop.trigger('canary-ap-northeast-3');
    expect(test.loop.last()).toMatchObject({ decision: 'wait-retry', attempts: 1 });
    expect(test.loop.last()?.reason).toContain('execution is running');
    // The other alarm's trigger while the initiation waits: merged, no second check, no second timer.
    await test.loop.trigger('canary-us-west-2');
    expect(test.pending()).toHaveLength(1);
    expect(test.started).toEqual([]);
    // Still running at the first retry: another wait.
    await test.fireNext();
    expect(test.loop.last()).toMatchObject({ decision: 'wait-retry', attempts: 2 });
    expect(test.started).toEqual([]);
    test.endExecution();
    await test.fireNext();
    expect(test.loop.last()).toMatchObject({ decision: 'start', executionId: 'execution-1' });
    expect(test.started).toEqual(['execution-1']);
    expect(test.loop.open()).toBe(false);
    expect(test.pending()).toHaveLength(0);
  });

  it('checks again 10 s after each check and gives up after 10 retries', async () => {
    const test = harness({ running: true });
    await test.loop.trigger('canary-us-west-2');
    const first = test.pending()[0]!.at;
    for (let retry = 0; retry < 10; retry++) await test.fireNext();
    expect(test.loop.last()?.decision).toBe('give-up');
    expect(test.pending()).toHaveLength(0);
    expect(first).toBe(1_000_000 + INITIATOR_RETRY_INTERVAL_MS);
    expect(test.started).toEqual([]);
  });

  it('ignores a trigger while the rule is disabled, and starts nothing', async () => {
    const test = harness({ running: false, enabled: false });
    await test.loop.trigger('canary-ap-northeast-3');
    expect(test.loop.last()).toMatchObject({ decision: 'ignore', reason: 'the auto-failover rule is disabled' });
    expect(test.started).toEqual([]);
    expect(test.loop.open()).toBe(false);
  });
});
