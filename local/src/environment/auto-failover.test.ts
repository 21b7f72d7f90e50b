import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor, type App } from '@corebank/kit';
import { buildMonitorApp } from '@corebank/monitor';
import { INITIATOR_RETRY_INTERVAL_MS, type AlarmState } from '@corebank/workflow';
import { createInitiatorLoop, startAutoFailover, type AlarmReading, type AutoFailover, type AutoFailoverStatus } from './auto-failover.ts';
import { buildControlPlaneApp } from './control-plane.ts';
import { createSupervisor } from './supervisor.ts';
import { startLocalSystem } from './system.ts';

/** The loop with its I/O in the test's hands: a clock, a timer queue, an execution flag. */
function harness(initial: { running: boolean; enabled?: boolean }) {
  let now = 1_000_000;
  let running = initial.running;
  const alarms: Record<string, AlarmState> = { 'canary-ap-northeast-3': 'ALARM', 'canary-us-west-2': 'ALARM' };
  const reading: { unknown?: string } = {};
  let primaryAsked = 0;
  const timers: Array<{ at: number; work: () => void; cancelled: boolean }> = [];
  const started: string[] = [];
  const loop = createInitiatorLoop({
    alarms: async (): Promise<AlarmReading> => ({ states: alarms, ...reading }),
    ruleEnabled: () => initial.enabled ?? true,
    executionRunning: () => running,
    primaryRegion: async () => {
      primaryAsked += 1;
      return 'ap-northeast-1';
    },
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
    reading,
    primaryAsked: () => primaryAsked,
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

  it('merges the second alarm\'s trigger arriving while the first is still being opened: one check, one start', async () => {
    const test = harness({ running: false });
    await Promise.all([test.loop.trigger('canary-ap-northeast-3'), test.loop.trigger('canary-us-west-2')]);
    await test.loop.settled();
    expect(test.started).toEqual(['execution-1']);
    // The trigger's region, then the check's: one initiation only.
    expect(test.primaryAsked()).toBe(2);
  });

  it('never starts when the alarm states are unknown (the monitor does not answer), and says so in the reason', async () => {
    const test = harness({ running: false });
    test.alarms['canary-ap-northeast-3'] = 'INSUFFICIENT_DATA';
    test.alarms['canary-us-west-2'] = 'INSUFFICIENT_DATA';
    test.reading.unknown = 'the monitor did not answer (connect ECONNREFUSED)';
    await test.loop.trigger('canary-ap-northeast-3');
    expect(test.loop.last()).toMatchObject({ decision: 'wait-retry', attempts: 1 });
    expect(test.loop.last()?.reason).toMatch(/not both canary alarms in ALARM.*\(alarm states unknown: the monitor did not answer \(connect ECONNREFUSED\)\)$/);
    expect(test.started).toEqual([]);
    // The monitor answers again with both in ALARM: the retry starts the failover.
    delete test.reading.unknown;
    test.alarms['canary-ap-northeast-3'] = 'ALARM';
    test.alarms['canary-us-west-2'] = 'ALARM';
    await test.fireNext();
    expect(test.loop.last()).toMatchObject({ decision: 'start', executionId: 'execution-1' });
  });

  it('ignores a trigger while the rule is disabled, and starts nothing', async () => {
    const test = harness({ running: false, enabled: false });
    await test.loop.trigger('canary-ap-northeast-3');
    expect(test.loop.last()).toMatchObject({ decision: 'ignore', reason: 'the auto-failover rule is disabled' });
    expect(test.started).toEqual([]);
    expect(test.loop.open()).toBe(false);
  });
});

/**
 * The chain without a system: canary runs published to a real monitor, which evaluates the
 * canary alarms and sends their state changes to the control plane's event route, whose rule
 * passes them to the initiator, which reads the states back from the monitor.
 */
describe('the alarm state change route and the monitor', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'corebank-auto-failover-'));
  const started: string[] = [];
  const lines: string[] = [];
  let running = false;
  let monitor: ReturnType<typeof buildMonitorApp>;
  let controlPlane: App;
  let autoFailover: AutoFailover;
  let controlPlaneUrl: string;
  const supervisor = createSupervisor({ services: [], launch: () => Promise.reject(new Error('no services here')) });

  beforeAll(async () => {
    const controlPlanePort = await freePort();
    controlPlaneUrl = `http://127.0.0.1:${controlPlanePort}`;
    monitor = buildMonitorApp({ logger: false, alarmPeriodMs: 300_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 1000, canaryPeriodMs: 1000, alarmEventsUrl: `${controlPlaneUrl}/events/alarm-state-change` });
    const monitorUrl = await monitor.app.listen({ port: 0, host: '127.0.0.1' });
    autoFailover = startAutoFailover({
      dataDir,
      periodMs: 1000,
      monitorUrl,
      primaryRegion: async () => 'ap-northeast-1',
      endpointOf: () => 'http://127.0.0.1:9',
      executionRunning: () => running,
      startFailover: () => {
        running = true;
        started.push(`execution-${started.length + 1}`);
        return started.at(-1)!;
      },
      log: (line) => lines.push(line),
    });
    controlPlane = buildControlPlaneApp({ supervisor, database: { kind: 'external', regions: [] }, autoFailover, logger: false });
    await controlPlane.listen({ port: controlPlanePort, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await controlPlane?.close();
    await autoFailover?.stop();
    await monitor?.app.close();
    await supervisor.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const status = async () => (await controlPlane.inject({ url: '/auto-failover' })).json() as AutoFailoverStatus;
  const event = (alarmName: string, from: string, to: string) => ({
    alarmName,
    state: { value: to, reason: 'test', timestamp: new Date().toISOString() },
    previousState: { value: from, reason: 'before', timestamp: new Date(Date.now() - 1000).toISOString() },
  });
  /** Both canaries' runs, every 100 ms, as the control plane's canaries would publish them, until `until` holds. */
  async function publishUntil(success: boolean, what: string, until: (current: AutoFailoverStatus) => boolean) {
    const timer = setInterval(() => {
      for (const origin of ['ap-northeast-3', 'us-west-2']) {
        const endedAt = new Date();
        void monitor.app.inject({ method: 'POST', url: '/api/canaries/runs', payload: { canary: `canary-${origin}`, origin, success, latencyMs: 40, startedAt: new Date(endedAt.getTime() - 40).toISOString(), endedAt: endedAt.toISOString(), endpoint: 'http://127.0.0.1:9' } });
      }
    }, 100);
    try {
      await waitFor(what, async () => {
        const current = await status();
        if (!until(current)) throw new Error(current.alarms.map((alarm) => `${alarm.name} ${alarm.state}`).join(', '));
      }, 15_000, 100);
    } finally {
      clearInterval(timer);
    }
  }

  it('answers bad events 400, ignores other alarms, and lets nothing through while the rule is disabled', async () => {
    const bad = await controlPlane.inject({ method: 'POST', url: '/events/alarm-state-change', payload: { alarmName: 'canary-us-west-2', state: { value: 'RED' } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_request' });
    const other = await controlPlane.inject({ method: 'POST', url: '/events/alarm-state-change', payload: event('balance-HighLatency', 'OK', 'ALARM') });
    expect(other.json()).toEqual({ matched: false, delivered: false });
    const disabled = await controlPlane.inject({ method: 'POST', url: '/events/alarm-state-change', payload: event('canary-us-west-2', 'OK', 'ALARM') });
    expect(disabled.json()).toEqual({ matched: true, delivered: false });
    const current = await status();
    expect(current.lastDecision).toBeNull();
    expect(current.events.at(-1)).toMatchObject({ kind: 'alarm', subject: 'canary-us-west-2', detail: 'OK → ALARM: test (rule disabled: the initiator was not started)' });
    // The monitor's own view: its canary alarms, no data yet.
    expect(current.alarms.map((alarm) => `${alarm.name} ${alarm.state}`)).toEqual(['canary-ap-northeast-3 INSUFFICIENT_DATA', 'canary-us-west-2 INSUFFICIENT_DATA']);
  });

  it('enabled: failing runs send both alarms to ALARM in the monitor, whose events start exactly one failover', async () => {
    await controlPlane.inject({ method: 'PUT', url: '/auto-failover', payload: { enabled: true } });
    const enabledAt = Date.now();
    await publishUntil(false, 'both canary alarms in ALARM and a decision', (current) => current.alarms.every((alarm) => alarm.state === 'ALARM') && current.lastDecision !== null);
    await autoFailover.settled();
    const current = await status();
    expect(started).toEqual(['execution-1']);
    expect(current.lastDecision).toMatchObject({ decision: 'start', executionId: 'execution-1' });
    // The second alarm's event was merged into the initiation the first opened: one decision.
    expect(current.events.filter((each) => each.kind === 'decision').map((each) => each.detail.split(':')[0])).toEqual(['start']);
    expect(current.notifications.filter((notification) => notification.to === 'ALARM').map((notification) => notification.alarm).sort()).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    expect(current.events.filter((each) => each.kind === 'alarm' && Date.parse(each.at) >= enabledAt && each.detail.includes(' → ALARM: ')).map((each) => each.subject).sort()).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    running = false;
    await publishUntil(true, 'both canary alarms back to OK', (now) => now.alarms.every((alarm) => alarm.state === 'OK'));
    expect(started).toEqual(['execution-1']);
  });

  it('without the monitor: the status says why the alarms are missing, and a check never starts blind', async () => {
    await monitor.app.close();
    const current = await status();
    expect(current.alarms).toEqual([]);
    expect(current.monitorError).toMatch(/^the monitor did not answer/);
    const reply = await controlPlane.inject({ method: 'POST', url: '/events/alarm-state-change', payload: event('canary-ap-northeast-3', 'OK', 'ALARM') });
    expect(reply.json()).toEqual({ matched: true, delivered: true });
    await waitFor('the decision', async () => expect((await status()).lastDecision?.decision).toBe('wait-retry'), 5000, 50);
    expect((await status()).lastDecision?.reason).toContain('alarm states unknown: the monitor did not answer');
    expect(started).toEqual(['execution-1']);
  });
});

describe('automatic failover needs the monitor', () => {
  it('a system without the monitor refuses a canary period at once, and its control plane answers 409 for the rule', async () => {
    await expect(startLocalSystem({ dataDir: join(tmpdir(), 'corebank-never-created'), monitorPort: null, canaryPeriodMs: 5000 })).rejects.toThrow(/automatic failover needs the monitor/);
    const supervisor = createSupervisor({ services: [], launch: () => Promise.reject(new Error('no services here')) });
    const app = buildControlPlaneApp({ supervisor, database: { kind: 'external', regions: [] }, logger: false });
    try {
      for (const [method, url] of [['GET', '/auto-failover'], ['PUT', '/auto-failover'], ['POST', '/events/alarm-state-change']] as const) {
        const reply = await app.inject({ method, url, ...(method === 'GET' ? {} : { payload: {} }) });
        expect(reply.statusCode).toBe(409);
        expect(reply.json()).toMatchObject({ error: 'auto_failover_unavailable', message: expect.stringContaining('needs the monitor') });
      }
    } finally {
      await app.close();
      await supervisor.stop();
    }
  });

  it('publishes every run to the monitor, and says once, not per run, that the monitor does not take them, and once that it does again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corebank-auto-failover-'));
    const monitorPort = await freePort();
    const lines: string[] = [];
    // The canaries call an endpoint that refuses connections: each run fails at once.
    const autoFailover = startAutoFailover({
      dataDir,
      periodMs: 1000,
      monitorUrl: `http://127.0.0.1:${monitorPort}`,
      primaryRegion: async () => 'ap-northeast-1',
      endpointOf: () => `http://127.0.0.1:${monitorPort}`,
      executionRunning: () => false,
      startFailover: () => 'never',
      log: (line) => lines.push(line),
    });
    const monitor = buildMonitorApp({ logger: false, alarmPeriodMs: 300_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 1000, canaryPeriodMs: 1000 });
    try {
      await autoFailover.start();
      const runs = async () => (await autoFailover.status()).lastRuns.length;
      await waitFor('four runs while the monitor is away', async () => expect(await runs()).toBeGreaterThanOrEqual(4), 10_000, 50);
      expect(lines.filter((line) => line.includes("does not take the canaries' runs"))).toHaveLength(1);
      await monitor.app.listen({ port: monitorPort, host: '127.0.0.1' });
      await waitFor('runs in the monitor', async () => expect(monitor.canaryRuns.received).toBeGreaterThanOrEqual(2), 10_000, 50);
      expect(lines.filter((line) => line.includes("takes the canaries' runs again"))).toHaveLength(1);
      expect(monitor.canaryRuns.latest(1)[0]).toMatchObject({ success: false, endpoint: `http://127.0.0.1:${monitorPort}` });
    } finally {
      await autoFailover.stop();
      await monitor.app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
