/**
 * The ECS stand-in: keeps the desired count of instances of every service of every region
 * running, starts a crashed instance again with a growing backoff, and health-checks each
 * instance so that only those that answer GET /health are in their endpoint's rotation.
 *
 * The decisions are a pure function of the desired counts, the instances and the time
 * (`decide`, `afterExit`, `afterHealthCheck`); `createSupervisor` is the thin edge that runs
 * them on a timer against real processes.
 */
import { createServiceClient, type ServiceClient } from '@corebank/kit';

/** What ECS calls a task's state, plus the supervisor's own view of a stop it asked for. */
export type InstanceState = 'starting' | 'healthy' | 'unhealthy' | 'stopping' | 'exited';

export interface BackoffPolicy {
  /** Delay before the first restart after a crash; doubles with each further quick crash. */
  initialMs: number;
  maxMs: number;
  /** An instance healthy this long has proved itself: its crash count starts again from zero. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000, stableMs: 30_000 };

export interface SupervisionPolicy extends BackoffPolicy {
  /** Failed health checks in a row that take a healthy instance out of rotation (the ALB's unhealthy threshold). */
  unhealthyThreshold: number;
}

/** One slow check on a busy machine does not take an instance out; two in a row do. */
export const DEFAULT_POLICY: SupervisionPolicy = { ...DEFAULT_BACKOFF, unhealthyThreshold: 2 };

/** One slot of a service: instance k of (region, service), always on the service's k-th port. */
export interface InstanceRecord {
  index: number;
  port: number;
  state: InstanceState;
  pid: number | undefined;
  startedAt: number;
  /** Since when it has answered every health check; undefined while not healthy. */
  healthySince: number | undefined;
  /** Health checks failed in a row. */
  failedChecks: number;
  exitedAt: number | undefined;
  /** Exits since the slot last stayed healthy for `stableMs`: sets the restart delay. */
  quickCrashes: number;
  /** Times this slot was started again after an exit. */
  restarts: number;
}

export interface ServiceView {
  region: string;
  service: string;
  desired: number;
  /** Instance k listens on ports[k]; the length bounds the desired count. */
  ports: readonly number[];
  instances: readonly InstanceRecord[];
}

export type SupervisorAction =
  | { kind: 'start'; region: string; service: string; index: number; port: number; restart: boolean }
  | { kind: 'stop'; region: string; service: string; index: number; port: number }
  /** An exited instance beyond the desired count: nothing to stop, only its record to drop. */
  | { kind: 'forget'; region: string; service: string; index: number };

const ALIVE: readonly InstanceState[] = ['starting', 'healthy', 'unhealthy'];
export const isAlive = (state: InstanceState) => ALIVE.includes(state);

/** The wait before restarting a slot that has crashed `quickCrashes` times in a row: 0.5 s, 1 s, 2 s … capped. */
export function restartDelayMs(quickCrashes: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (quickCrashes <= 0) return 0;
  return Math.min(policy.maxMs, policy.initialMs * 2 ** (quickCrashes - 1));
}

/**
 * What to do now. Slots 0..desired-1 should run: an empty slot is started, an exited one is
 * started again once its backoff has passed. Slots from `desired` up are stopped, highest
 * index first. A slot being stopped is left alone until its process has exited, so that its
 * port is free before anything else starts on it.
 */
export function decide(services: readonly ServiceView[], now: number, policy: BackoffPolicy = DEFAULT_BACKOFF): SupervisorAction[] {
  const actions: SupervisorAction[] = [];
  for (const view of services) {
    const { region, service } = view;
    const desired = Math.max(0, Math.min(view.desired, view.ports.length));
    const bySlot = new Map(view.instances.map((instance) => [instance.index, instance]));

    for (let index = 0; index < desired; index++) {
      const instance = bySlot.get(index);
      const port = view.ports[index]!;
      if (!instance) {
        actions.push({ kind: 'start', region, service, index, port, restart: false });
      } else if (instance.state === 'exited' && now >= (instance.exitedAt ?? now) + restartDelayMs(instance.quickCrashes, policy)) {
        actions.push({ kind: 'start', region, service, index, port, restart: true });
      }
    }

    const surplus = view.instances.filter((instance) => instance.index >= desired).sort((a, b) => b.index - a.index);
    for (const instance of surplus) {
      if (isAlive(instance.state)) actions.push({ kind: 'stop', region, service, index: instance.index, port: instance.port });
      else if (instance.state === 'exited') actions.push({ kind: 'forget', region, service, index: instance.index });
    }
  }
  return actions;
}

/** A slot's record once its process is started (`previous` is the exited instance it replaces, if any). */
export function started(index: number, port: number, now: number, previous?: InstanceRecord): InstanceRecord {
  return {
    index,
    port,
    state: 'starting',
    pid: undefined,
    startedAt: now,
    healthySince: undefined,
    failedChecks: 0,
    exitedAt: undefined,
    quickCrashes: previous?.quickCrashes ?? 0,
    restarts: previous ? previous.restarts + 1 : 0,
  };
}

/** A process that ended without being asked to: one more quick crash. */
export function afterExit(instance: InstanceRecord, now: number): InstanceRecord {
  return { ...instance, state: 'exited', pid: undefined, healthySince: undefined, exitedAt: now, quickCrashes: instance.quickCrashes + 1 };
}

/**
 * A health check's result. A pass makes the instance healthy (in rotation); `unhealthyThreshold`
 * failures in a row take a healthy one out (unhealthy); a starting one stays starting until
 * its first pass. Staying healthy for `stableMs` clears the crash count.
 */
export function afterHealthCheck(instance: InstanceRecord, ok: boolean, now: number, policy: SupervisionPolicy = DEFAULT_POLICY): InstanceRecord {
  if (!isAlive(instance.state)) return instance;
  if (!ok) {
    const failedChecks = instance.failedChecks + 1;
    if (instance.state === 'healthy' && failedChecks >= policy.unhealthyThreshold) return { ...instance, state: 'unhealthy', healthySince: undefined, failedChecks };
    return { ...instance, failedChecks };
  }
  const healthySince = instance.state === 'healthy' ? (instance.healthySince ?? now) : now;
  return { ...instance, state: 'healthy', healthySince, failedChecks: 0, quickCrashes: now - healthySince >= policy.stableMs ? 0 : instance.quickCrashes };
}

/** Ports of a service's instances: the base port, then every `stride` above it (3101, 3111, 3121 …). */
export function instancePorts(basePort: number, count: number, stride = 10): number[] {
  return Array.from({ length: count }, (_, k) => basePort + k * stride);
}

/** What `launch` returns: the shape of processes.ts's ServiceProcess, which fits as it is. */
export interface SupervisedProcess {
  pid: number | undefined;
  /** Resolves when the process has ended, however it ended. */
  exited: Promise<unknown>;
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

export interface SupervisedService {
  region: string;
  service: string;
  /** Instance k listens on ports[k]: as many ports as instances may ever run. */
  ports: readonly number[];
  /** Desired count at start (1 unless told). */
  desired?: number;
}

export type SupervisorEvent =
  | { type: 'started'; region: string; service: string; index: number; port: number; pid: number | undefined; restart: boolean }
  | { type: 'exited'; region: string; service: string; index: number; port: number; code: unknown; restartInMs: number | undefined }
  | { type: 'healthy' | 'unhealthy' | 'stopped'; region: string; service: string; index: number; port: number };

export interface SupervisorOptions {
  services: readonly SupervisedService[];
  /** Starts one instance of `service` in `region` listening on `port`. */
  launch(region: string, service: string, port: number): SupervisedProcess | Promise<SupervisedProcess>;
  /** Whether the instance at `url` answers; GET <url>/health with a timeout unless told. */
  healthCheck?(url: string): Promise<boolean>;
  /** How often a running instance is health-checked (the ALB's interval). */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** How often decisions are made; a starting instance is also checked this often, so it joins the rotation soon after it is ready. */
  tickMs?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Failed checks in a row that take an instance out of rotation (2 unless told). */
  unhealthyThreshold?: number;
  /** Grace between SIGTERM and SIGKILL when an instance is stopped. */
  stopGraceMs?: number;
  /**
   * How long an instance scaled in stays up after leaving the targets, so that the endpoints,
   * which poll the targets, stop sending it requests before it stops accepting them (the
   * ALB's deregistration delay); 0 unless told. Stopping the supervisor does not wait for it.
   */
  deregistrationDelayMs?: number;
  onEvent?(event: SupervisorEvent): void;
}

export interface ServiceStatus {
  region: string;
  service: string;
  desired: number;
  /** Instances whose process runs (starting, healthy or unhealthy), as ECS's runningCount. */
  running: number;
  healthy: number;
  instances: Array<{ index: number; port: number; pid: number | null; state: InstanceState; restarts: number }>;
}

/** Region → service → URLs of its healthy instances. */
export type Targets = Record<string, Record<string, string[]>>;

export class SupervisorError extends Error {
  override name = 'SupervisorError';
  constructor(
    readonly code: 'unknown_service' | 'count_out_of_range',
    message: string,
  ) {
    super(message);
  }
}

interface Slot extends InstanceRecord {
  /** Which launch this record belongs to: late callbacks of an earlier process are ignored. */
  launchId: number;
  handle: SupervisedProcess | undefined;
  checking: boolean;
  lastCheckAt: number;
}

interface Entry {
  spec: SupervisedService;
  desired: number;
  slots: Map<number, Slot>;
}

const instanceUrl = (port: number) => `http://127.0.0.1:${port}`;

/**
 * GET /health of each instance every second, over the kit's keep-alive client (one per
 * instance address): fetch cost the control plane about twice as much CPU per check.
 */
function httpHealthChecker(timeoutMs: number) {
  const clients = new Map<string, ServiceClient>();
  return {
    async check(url: string): Promise<boolean> {
      let client = clients.get(url);
      if (!client) clients.set(url, (client = createServiceClient({ baseUrl: url, timeoutMs, connections: 1 })));
      try {
        const reply = await client.get('/health');
        return reply.status >= 200 && reply.status < 300;
      } catch {
        return false;
      }
    },
    close: () => Promise.allSettled([...clients.values()].map((client) => client.close())),
  };
}

/**
 * Runs the supervision loop on an unref'd timer (it never keeps Node alive by itself) until
 * `stop()`, which stops every instance and resolves once every process has exited.
 */
export function createSupervisor(options: SupervisorOptions) {
  const policy: SupervisionPolicy = { ...DEFAULT_POLICY, ...options.backoff, ...(options.unhealthyThreshold ? { unhealthyThreshold: options.unhealthyThreshold } : {}) };
  const healthIntervalMs = options.healthIntervalMs ?? 2000;
  const healthTimeoutMs = options.healthTimeoutMs ?? 1500;
  const httpChecker = options.healthCheck ? undefined : httpHealthChecker(healthTimeoutMs);
  const healthCheck = options.healthCheck ?? ((url: string) => httpChecker!.check(url));
  const emit = (event: SupervisorEvent) => options.onEvent?.(event);
  const keyOf = (region: string, service: string) => `${region}\u0000${service}`;

  const entries = new Map<string, Entry>();
  for (const spec of options.services) {
    const desired = spec.desired ?? 1;
    if (desired < 0 || desired > spec.ports.length) throw new SupervisorError('count_out_of_range', `${spec.region} ${spec.service}: desired count ${desired} is outside 0..${spec.ports.length}`);
    entries.set(keyOf(spec.region, spec.service), { spec, desired, slots: new Map() });
  }
  const entryOf = (region: string, service: string) => {
    const entry = entries.get(keyOf(region, service));
    if (!entry) throw new SupervisorError('unknown_service', `no service ${service} in region ${region}`);
    return entry;
  };

  let stopped = false;
  let launchCount = 0;
  /** Every process ever launched and not yet seen to exit, so that stop() can wait for all of them. */
  const live = new Set<Promise<unknown>>();

  const start = (entry: Entry, index: number, port: number, restart: boolean) => {
    const { region, service } = entry.spec;
    const previous = entry.slots.get(index);
    const launchId = ++launchCount;
    const slot: Slot = { ...started(index, port, Date.now(), restart ? previous : undefined), launchId, handle: undefined, checking: false, lastCheckAt: 0 };
    entry.slots.set(index, slot);
    const current = () => entry.slots.get(index)?.launchId === launchId ? entry.slots.get(index) : undefined;

    const onExit = (code: unknown) => {
      const now = current();
      if (!now) return;
      if (now.state === 'stopping' || stopped) {
        entry.slots.delete(index);
        emit({ type: 'stopped', region, service, index, port });
      } else {
        const exited = afterExit(now, Date.now());
        entry.slots.set(index, { ...now, ...exited, handle: undefined });
        const restartInMs = index < entry.desired ? restartDelayMs(exited.quickCrashes, policy) : undefined;
        emit({ type: 'exited', region, service, index, port, code, restartInMs });
      }
      tick();
    };

    const launched = (async () => options.launch(region, service, port))();
    const tracked = launched.then(
      (handle) => {
        const now = current();
        if (now) {
          now.handle = handle;
          now.pid = handle.pid;
          emit({ type: 'started', region, service, index, port, pid: handle.pid, restart });
          if (now.state === 'stopping' || stopped) void handle.stop(options.stopGraceMs);
        } else {
          void handle.stop(options.stopGraceMs);
        }
        return handle.exited.then(onExit);
      },
      (error: unknown) => onExit(error instanceof Error ? error.message : String(error)),
    );
    live.add(tracked);
    void tracked.finally(() => live.delete(tracked));
  };

  /** Instances out of the targets whose stop waits for the deregistration delay. */
  const deregistering = new Map<NodeJS.Timeout, SupervisedProcess>();
  const stopSlot = (entry: Entry, slot: Slot) => {
    slot.state = 'stopping';
    slot.healthySince = undefined;
    // A launch still in progress is stopped as soon as its handle arrives (see start).
    const handle = slot.handle;
    if (!handle) return;
    const delayMs = options.deregistrationDelayMs ?? 0;
    if (stopped || delayMs <= 0) {
      void handle.stop(options.stopGraceMs);
      return;
    }
    const timer = setTimeout(() => {
      deregistering.delete(timer);
      void handle.stop(options.stopGraceMs);
    }, delayMs);
    deregistering.set(timer, handle);
  };

  const check = (entry: Entry, slot: Slot, now: number) => {
    if (slot.checking || !slot.handle) return;
    const due = slot.state === 'starting' || now - slot.lastCheckAt >= healthIntervalMs;
    if (!due) return;
    slot.checking = true;
    slot.lastCheckAt = now;
    const launchId = slot.launchId;
    void Promise.resolve()
      .then(() => healthCheck(instanceUrl(slot.port)))
      .catch(() => false)
      .then((ok) => {
        slot.checking = false;
        const current = entry.slots.get(slot.index);
        if (stopped || current?.launchId !== launchId) return;
        const before = current.state;
        Object.assign(current, afterHealthCheck(current, ok, Date.now(), policy));
        if (current.state !== before) emit({ type: current.state === 'healthy' ? 'healthy' : 'unhealthy', region: entry.spec.region, service: entry.spec.service, index: slot.index, port: slot.port });
      });
  };

  function tick() {
    if (stopped) return;
    const now = Date.now();
    const views: ServiceView[] = [...entries.values()].map((entry) => ({
      region: entry.spec.region,
      service: entry.spec.service,
      desired: entry.desired,
      ports: entry.spec.ports,
      instances: [...entry.slots.values()],
    }));
    for (const action of decide(views, now, policy)) {
      const entry = entryOf(action.region, action.service);
      if (action.kind === 'start') start(entry, action.index, action.port, action.restart);
      else if (action.kind === 'forget') entry.slots.delete(action.index);
      else stopSlot(entry, entry.slots.get(action.index)!);
    }
    for (const entry of entries.values()) {
      for (const slot of entry.slots.values()) if (isAlive(slot.state)) check(entry, slot, now);
    }
  }

  const timer = setInterval(tick, options.tickMs ?? 250);
  timer.unref();
  tick();

  const statusOf = (entry: Entry): ServiceStatus => {
    const instances = [...entry.slots.values()].sort((a, b) => a.index - b.index);
    return {
      region: entry.spec.region,
      service: entry.spec.service,
      desired: entry.desired,
      running: instances.filter((slot) => isAlive(slot.state)).length,
      healthy: instances.filter((slot) => slot.state === 'healthy').length,
      instances: instances.map((slot) => ({ index: slot.index, port: slot.port, pid: slot.pid ?? null, state: slot.state, restarts: slot.restarts })),
    };
  };
  const targetsOf = (entry: Entry) =>
    [...entry.slots.values()].filter((slot) => slot.state === 'healthy').sort((a, b) => a.index - b.index).map((slot) => instanceUrl(slot.port));

  return {
    /** Sets the desired count of one service (`aws ecs update-service --desired-count`). */
    setDesiredCount(region: string, service: string, count: number): ServiceStatus {
      const entry = entryOf(region, service);
      if (!Number.isInteger(count) || count < 0 || count > entry.spec.ports.length) {
        throw new SupervisorError('count_out_of_range', `desired count for ${service} in ${region} must be 0..${entry.spec.ports.length}, got ${count}`);
      }
      entry.desired = count;
      tick();
      return statusOf(entry);
    },
    snapshot: (): ServiceStatus[] => [...entries.values()].map(statusOf),
    /** URLs of the healthy instances of one service: its endpoint's rotation. */
    targets: (region: string, service: string): string[] => targetsOf(entryOf(region, service)),
    allTargets(): Targets {
      const targets: Targets = {};
      for (const entry of entries.values()) (targets[entry.spec.region] ??= {})[entry.spec.service] = targetsOf(entry);
      return targets;
    },
    /** Stops every instance and resolves once every process it launched has exited. */
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      for (const entry of entries.values()) for (const slot of entry.slots.values()) if (isAlive(slot.state)) stopSlot(entry, slot);
      for (const [timer, handle] of deregistering) {
        clearTimeout(timer);
        void handle.stop(options.stopGraceMs);
      }
      deregistering.clear();
      while (live.size > 0) await Promise.allSettled([...live]);
      await httpChecker?.close();
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;
