import { describe, expect, it } from 'vitest';
import {
  afterExit,
  afterHealthCheck,
  decide,
  DEFAULT_BACKOFF,
  DEFAULT_POLICY,
  instancePorts,
  restartDelayMs,
  started,
  type InstanceRecord,
  type InstanceState,
  type ServiceView,
} from './supervisor.ts';

const PORTS = [3101, 3111, 3121, 3131];
const T0 = 1_000_000;

const instance = (index: number, state: InstanceState, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  ...started(index, PORTS[index]!, T0),
  state,
  ...extra,
});
const view = (desired: number, instances: InstanceRecord[], extra: Partial<ServiceView> = {}): ServiceView => ({
  region: 'ap-northeast-1',
  service: 'balance',
  desired,
  ports: PORTS,
  instances,
  ...extra,
});
const kinds = (services: ServiceView[], now = T0) => decide(services, now).map((action) => `${action.kind} ${action.index}`);

describe('restartDelayMs', () => {
  it.each([
    [0, 0],
    [1, 500],
    [2, 1000],
    [3, 2000],
    [4, 4000],
    [5, 8000],
    [6, 10_000],
    [50, 10_000],
  ])('after %i quick crashes: %i ms', (crashes, delay) => expect(restartDelayMs(crashes)).toBe(delay));

  it('follows the policy given', () => {
    expect(restartDelayMs(3, { initialMs: 100, maxMs: 250, stableMs: 1000 })).toBe(250);
    expect(restartDelayMs(2, { initialMs: 100, maxMs: 250, stableMs: 1000 })).toBe(200);
  });
});

describe('decide', () => {
  it('starts the desired count on the service\'s first ports, in order', () => {
    expect(decide([view(2, [])], T0)).toEqual([
      { kind: 'start', region: 'ap-northeast-1', service: 'balance', index: 0, port: 3101, restart: false },
      { kind: 'start', region: 'ap-northeast-1', service: 'balance', index: 1, port: 3111, restart: false },
    ]);
  });

  it('does nothing when every desired instance runs, whatever its health', () => {
    expect(kinds([view(3, [instance(0, 'healthy'), instance(1, 'starting'), instance(2, 'unhealthy')])])).toEqual([]);
  });

  it('fills only the missing slot', () => {
    expect(kinds([view(3, [instance(0, 'healthy'), instance(2, 'healthy')])])).toEqual(['start 1']);
  });

  it('stops surplus instances, highest index first, whatever their health', () => {
    const instances = [instance(0, 'healthy'), instance(1, 'starting'), instance(2, 'unhealthy'), instance(3, 'healthy')];
    expect(kinds([view(1, instances)])).toEqual(['stop 3', 'stop 2', 'stop 1']);
    expect(decide([view(1, instances)], T0)[0]).toEqual({ kind: 'stop', region: 'ap-northeast-1', service: 'balance', index: 3, port: 3131 });
  });

  it('scales to 0: stops everything, and forgets an exited instance instead of restarting it', () => {
    expect(kinds([view(0, [instance(0, 'healthy'), instance(1, 'exited', { exitedAt: T0, quickCrashes: 1 })])])).toEqual(['forget 1', 'stop 0']);
  });

  it('leaves an instance being stopped alone, and does not reuse its port until it has exited', () => {
    expect(kinds([view(0, [instance(0, 'stopping')])])).toEqual([]);
    expect(kinds([view(1, [instance(0, 'stopping')])])).toEqual([]);
  });

  it('restarts a crashed instance only once its backoff has passed', () => {
    const crashed = afterExit(instance(0, 'healthy'), T0);
    expect(crashed).toMatchObject({ state: 'exited', exitedAt: T0, quickCrashes: 1, pid: undefined });
    expect(kinds([view(1, [crashed])], T0)).toEqual([]);
    expect(kinds([view(1, [crashed])], T0 + 499)).toEqual([]);
    expect(decide([view(1, [crashed])], T0 + 500)).toEqual([
      { kind: 'start', region: 'ap-northeast-1', service: 'balance', index: 0, port: 3101, restart: true },
    ]);
  });

  it('waits longer with each quick crash in a row, up to the cap', () => {
    let record = instance(0, 'starting');
    let now = T0;
    const waits: number[] = [];
    for (let crash = 0; crash < 8; crash++) {
      record = afterExit(record, now);
      let wait = 0;
      while (kinds([view(1, [record])], now + wait).length === 0) wait += 50;
      waits.push(wait);
      now += wait;
      record = started(0, 3101, now, record);
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(record.restarts).toBe(8);
  });

  it('follows the backoff policy given', () => {
    const crashed = afterExit(instance(0, 'healthy'), T0);
    const policy = { initialMs: 50, maxMs: 200, stableMs: 1000 };
    expect(decide([view(1, [crashed])], T0 + 49, policy)).toEqual([]);
    expect(decide([view(1, [crashed])], T0 + 50, policy)).toHaveLength(1);
  });

  it('caps the desired count at the ports the service has', () => {
    expect(kinds([view(9, [])])).toEqual(['start 0', 'start 1', 'start 2', 'start 3']);
    expect(kinds([view(-1, [instance(0, 'healthy')])])).toEqual(['stop 0']);
  });

  it('decides for every service independently', () => {
    const actions = decide(
      [view(1, []), view(0, [instance(0, 'healthy', { port: 3102 })], { service: 'count', ports: [3102] }), view(1, [instance(0, 'healthy')], { region: 'ap-northeast-3', ports: [3201] })],
      T0,
    );
    expect(actions).toEqual([
      { kind: 'start', region: 'ap-northeast-1', service: 'balance', index: 0, port: 3101, restart: false },
      { kind: 'stop', region: 'ap-northeast-1', service: 'count', index: 0, port: 3102 },
    ]);
  });
});

describe('started', () => {
  it('begins a slot afresh, or carries the crash count and restarts of the instance it replaces', () => {
    expect(started(1, 3111, T0)).toEqual({
      index: 1,
      port: 3111,
      state: 'starting',
      pid: undefined,
      startedAt: T0,
      healthySince: undefined,
      failedChecks: 0,
      exitedAt: undefined,
      quickCrashes: 0,
      restarts: 0,
    });
    const previous = { ...afterExit(instance(1, 'healthy'), T0), restarts: 2 };
    expect(started(1, 3111, T0 + 500, previous)).toMatchObject({ state: 'starting', startedAt: T0 + 500, quickCrashes: 1, restarts: 3, exitedAt: undefined });
  });
});

describe('afterHealthCheck', () => {
  it('puts a starting instance in rotation on its first pass, and leaves it starting on a failure', () => {
    expect(afterHealthCheck(instance(0, 'starting'), false, T0)).toMatchObject({ state: 'starting', healthySince: undefined });
    expect(afterHealthCheck(instance(0, 'starting'), true, T0)).toMatchObject({ state: 'healthy', healthySince: T0 });
  });

  it('takes a healthy instance out on the second failure in a row and back in on a pass', () => {
    const healthy = afterHealthCheck(instance(0, 'starting'), true, T0);
    const once = afterHealthCheck(healthy, false, T0 + 2000);
    expect(once).toMatchObject({ state: 'healthy', healthySince: T0, failedChecks: 1 });
    const unhealthy = afterHealthCheck(once, false, T0 + 4000);
    expect(unhealthy).toMatchObject({ state: 'unhealthy', healthySince: undefined, failedChecks: 2 });
    expect(afterHealthCheck(unhealthy, true, T0 + 6000)).toMatchObject({ state: 'healthy', healthySince: T0 + 6000, failedChecks: 0 });
  });

  it('forgives a single failure once the instance passes again', () => {
    let record = afterHealthCheck(instance(0, 'starting'), true, T0);
    record = afterHealthCheck(record, false, T0 + 2000);
    record = afterHealthCheck(record, true, T0 + 4000);
    record = afterHealthCheck(record, false, T0 + 6000);
    expect(record).toMatchObject({ state: 'healthy', healthySince: T0, failedChecks: 1 });
  });

  it('follows the unhealthy threshold given', () => {
    const policy = { ...DEFAULT_POLICY, unhealthyThreshold: 1 };
    expect(afterHealthCheck(afterHealthCheck(instance(0, 'starting'), true, T0), false, T0 + 1, policy).state).toBe('unhealthy');
    expect(afterHealthCheck(instance(0, 'starting'), false, T0 + 1, policy).state).toBe('starting');
  });

  it('ignores a late result for an instance that has exited or is being stopped', () => {
    const exited = afterExit(instance(0, 'healthy'), T0);
    expect(afterHealthCheck(exited, true, T0 + 10)).toBe(exited);
    const stopping = instance(0, 'stopping');
    expect(afterHealthCheck(stopping, true, T0 + 10)).toBe(stopping);
  });

  it('clears the crash count once an instance has stayed healthy for stableMs, so the next crash waits 0.5 s again', () => {
    let record = instance(0, 'starting', { quickCrashes: 4 });
    record = afterHealthCheck(record, true, T0);
    record = afterHealthCheck(record, true, T0 + DEFAULT_BACKOFF.stableMs - 1);
    expect(record.quickCrashes).toBe(4);
    expect(restartDelayMs(afterExit(record, T0 + DEFAULT_BACKOFF.stableMs - 1).quickCrashes)).toBe(8000);
    record = afterHealthCheck(record, true, T0 + DEFAULT_BACKOFF.stableMs);
    expect(record.quickCrashes).toBe(0);
    expect(restartDelayMs(afterExit(record, T0 + DEFAULT_BACKOFF.stableMs).quickCrashes)).toBe(500);
  });

  it('does not count healthy time across a failed check', () => {
    let record = instance(0, 'starting', { quickCrashes: 3 });
    record = afterHealthCheck(record, true, T0);
    record = afterHealthCheck(record, false, T0 + 20_000);
    record = afterHealthCheck(record, false, T0 + 21_000);
    record = afterHealthCheck(record, true, T0 + 22_000);
    record = afterHealthCheck(record, true, T0 + 40_000);
    expect(record.quickCrashes).toBe(3);
  });
});

describe('instancePorts', () => {
  it('spaces instances by the stride from the base port', () => {
    expect(instancePorts(3101, 4)).toEqual([3101, 3111, 3121, 3131]);
    expect(instancePorts(3204, 2, 100)).toEqual([3204, 3304]);
    expect(instancePorts(3101, 0)).toEqual([]);
  });
});
