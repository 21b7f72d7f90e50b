/**
 * Automatic failover, laid out as the seed runs it on AWS, with the control plane (the
 * `corebank start` process) in the roles that are not CloudWatch's:
 *
 * - the canaries (Synthetics, running in Osaka and us-west-2) run here and publish each run
 *   to the monitor (`POST /api/canaries/runs`, the PutMetricData stand-in);
 * - the monitor (CloudWatch) evaluates the `canary-<origin>` alarms, notifies, and POSTs each
 *   alarm state change to the control plane's `POST /events/alarm-state-change`;
 * - the rule (EventBridge's, enabled or not: `ruleFile`) passes a canary alarm entering ALARM
 *   to the initiator (the FailoverInitiatorStateMachine: `createInitiatorLoop`), which reads
 *   the alarm states back from the monitor's `/api/alarms` (DescribeAlarms) at every check
 *   and asks the pure `decideInitiation` (@corebank/workflow).
 *
 * The canaries call the regional endpoint of the region that is primary (routing control On):
 * Tokyo at start, Osaka after a failover; the alarms, kept by canary, return to OK (and
 * notify) once the new primary answers. Without the monitor the alarms are unknown, which
 * never starts a failover.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServiceClient, failureReason } from '@corebank/kit';
import {
  CANARY_ORIGINS,
  canaryAlarms,
  createCanary,
  type AlarmNotification,
  type AlarmStateChangeEvent,
  type Canary,
  type CanaryResult,
  type CanaryRun,
} from '@corebank/monitor/canaries';
import { decideInitiation, type AlarmState, type InitiatorDecision } from '@corebank/workflow';

/** The last decision of the initiator, with when it was made and what it did. */
export interface InitiatorRecord {
  decision: InitiatorDecision['kind'];
  reason: string;
  at: string;
  attempts: number;
  watchedRegion: string;
  /** The execution a `start` began, or why it could not. */
  executionId?: string;
  startError?: string;
}

/** The canary alarms' states as the initiator read them; `unknown` says why they could not be read. */
export interface AlarmReading {
  states: Record<string, AlarmState>;
  unknown?: string;
}

export interface InitiatorLoopIo {
  /** The canary alarms' states (the seed's DescribeAlarms); unreadable ones as INSUFFICIENT_DATA, with `unknown` set. */
  alarms(): Promise<AlarmReading>;
  ruleEnabled(): boolean;
  executionRunning(): boolean;
  primaryRegion(): Promise<string>;
  /** Starts the failover workflow through the control plane's runner; returns the execution id. */
  startFailover(): string;
  now(): number;
  /** Runs `work` at `at` (ms since the epoch); returns a cancel. */
  schedule(at: number, work: () => void): () => void;
  log(line: string): void;
  /** Each decision as it is made. */
  onDecision?(record: InitiatorRecord): void;
}

interface Initiation {
  watchedRegion: string;
  attempts: number;
  lastAttemptAt?: number;
  cancel?: () => void;
}

/**
 * One initiation at a time: the first canary alarm entering ALARM begins it, a trigger while
 * it is open is merged into it (the seed's EventBridge target would start a second state
 * machine execution, whose checks would only repeat these). `decideInitiation` is asked at
 * the trigger and at every `retryAt` it answers.
 */
export function createInitiatorLoop(io: InitiatorLoopIo) {
  let current: Initiation | undefined;
  let last: InitiatorRecord | undefined;
  let checking: Promise<void> = Promise.resolve();

  async function check(): Promise<void> {
    const initiation = current;
    if (!initiation) return;
    const reading = await io.alarms();
    const decision = decideInitiation({
      alarms: reading.states,
      ruleEnabled: io.ruleEnabled(),
      executionRunning: io.executionRunning(),
      watchedRegion: initiation.watchedRegion,
      primaryRegion: await io.primaryRegion(),
      attempts: initiation.attempts,
      ...(initiation.lastAttemptAt === undefined ? {} : { lastAttemptAt: initiation.lastAttemptAt }),
      now: io.now(),
    });
    // Unknown alarms are not in ALARM, so they never start a failover; the reason says why they were unknown.
    const reason = reading.unknown ? `${decision.reason} (alarm states unknown: ${reading.unknown})` : decision.reason;
    const record: InitiatorRecord = { decision: decision.kind, reason, at: new Date(io.now()).toISOString(), attempts: decision.attempts, watchedRegion: initiation.watchedRegion };
    if (decision.kind === 'wait-retry') {
      initiation.attempts = decision.attempts;
      initiation.lastAttemptAt = io.now();
      initiation.cancel = io.schedule(decision.retryAt, () => {
        checking = checking.then(check);
      });
    } else {
      current = undefined;
      if (decision.kind === 'start') {
        try {
          record.executionId = io.startFailover();
        } catch (error) {
          record.startError = (error as Error).message;
        }
      }
    }
    last = record;
    io.onDecision?.(record);
    io.log(`auto-failover: ${record.decision}: ${record.reason}${record.executionId ? `; started execution ${record.executionId}` : ''}${record.startError ? `; could not start: ${record.startError}` : ''}`);
  }

  return {
    /** A canary alarm (or several, named together) entered ALARM. */
    async trigger(alarm: string): Promise<void> {
      if (current) {
        io.log(`auto-failover: ${alarm} entered ALARM; merged into the initiation already open`);
        return;
      }
      // Open before the first await, so that the other alarm's event arriving meanwhile is merged.
      const initiation: Initiation = { watchedRegion: '', attempts: 0 };
      current = initiation;
      initiation.watchedRegion = await io.primaryRegion();
      checking = checking.then(check);
      await checking;
    },
    last: () => last,
    open: () => current !== undefined,
    /** Resolves when the checks queued so far have run (tests). */
    settled: () => checking,
    stop() {
      current?.cancel?.();
      current = undefined;
    },
  };
}

export type InitiatorLoop = ReturnType<typeof createInitiatorLoop>;

/** `<dataDir>/auto-failover.json`: the rule's state; disabled unless someone enabled it, as the seed ships it. */
export function ruleFile(dataDir: string) {
  const file = join(dataDir, 'auto-failover.json');
  return {
    read(): boolean {
      if (!existsSync(file)) return false;
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { enabled?: unknown }).enabled === true;
      } catch {
        return false;
      }
    },
    write(enabled: boolean) {
      writeFileSync(`${file}.tmp`, `${JSON.stringify({ enabled }, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
    },
  };
}

export interface AutoFailoverOptions {
  dataDir: string;
  /** The canaries' period, also their alarms' in the monitor (60 s; shorter for demos and tests). */
  periodMs: number;
  /** The monitor: it keeps the canaries' runs and evaluates their alarms. */
  monitorUrl: string;
  /** The region whose routing control is On (the one clients reach), or undefined when none is. */
  primaryRegion(): Promise<string | undefined>;
  /** The regional endpoint of `region`. */
  endpointOf(region: string): string;
  executionRunning(): boolean;
  startFailover(): string;
  /** Alarm changes, initiator decisions and the monitor's outages, one line each (`npm start`'s console). */
  log(line: string): void;
}

export interface AutoFailoverStatus {
  enabled: boolean;
  periodSeconds: number;
  watching: string | null;
  /** The canary alarms, as the monitor evaluates them (empty when it did not answer: see monitorError). */
  alarms: Array<{ name: string; state: AlarmState; reason: string; updatedAt: string }>;
  lastDecision: InitiatorRecord | null;
  /** The monitor's notifications of the canary alarms, newest first. */
  notifications: AlarmNotification[];
  /** Why `alarms` and `notifications` are empty: the monitor did not answer. */
  monitorError?: string;
  /**
   * What happened, oldest first, for a timeline (`npm run drill -- --auto`): each canary's
   * first failed run after a success (and first success after failures), each alarm state
   * change event the monitor sent, each initiator decision.
   */
  events: AutoFailoverEvent[];
  /** The latest canary runs, newest first. */
  lastRuns: Array<Pick<CanaryResult, 'canary' | 'success' | 'latencyMs' | 'failure'> & { endedAt: string; endpoint: string }>;
}

export interface AutoFailoverEvent {
  at: string;
  kind: 'canary-failed' | 'canary-succeeded' | 'alarm' | 'decision';
  /** The canary or the alarm the event is about; the watched region for a decision. */
  subject: string;
  detail: string;
}

/** What the rule made of an alarm state change event: whether its pattern matched (a canary alarm entering ALARM) and whether the initiator got it. */
export interface AlarmEventOutcome {
  matched: boolean;
  delivered: boolean;
}

const EVENTS_KEPT = 500;
const FOLLOW_INTERVAL_MS = 1000;
const RUNS_KEPT = 10;
/** The monitor is local: an answer takes milliseconds, and a check must not hang on it. */
const MONITOR_TIMEOUT_MS = 3000;

interface MonitorAlarm {
  name: string;
  state: AlarmState;
  reason: string;
  updatedAt: string;
}

export function startAutoFailover(options: AutoFailoverOptions) {
  const rule = ruleFile(options.dataDir);
  let enabled = rule.read();
  const alarmNames = canaryAlarms().map((definition) => definition.name);
  const isCanaryAlarm = (name: string) => alarmNames.includes(name);
  const monitor = createServiceClient({ baseUrl: options.monitorUrl, timeoutMs: MONITOR_TIMEOUT_MS, connections: 4 });
  const lastRuns: Array<CanaryResult & { endpoint: string }> = [];
  const lastOutcome = new Map<string, boolean>();
  const events: AutoFailoverEvent[] = [];
  const record = (event: AutoFailoverEvent) => {
    events.push(event);
    if (events.length > EVENTS_KEPT) events.splice(0, events.length - EVENTS_KEPT);
  };
  let watching: string | undefined;
  let canaries: Canary[] = [];
  let stopped = false;
  /** Since when the monitor has not taken the canaries' runs: logged once per outage, not per run. */
  let monitorDownSince: number | undefined;
  const timers = new Set<NodeJS.Timeout>();

  const primary = async () => (await options.primaryRegion().catch(() => undefined)) ?? watching ?? '';

  /** GET one of the monitor's JSON routes; anything but 200 throws. */
  async function fromMonitor<T>(path: string): Promise<T> {
    const reply = await monitor.get<T>(path);
    if (reply.status !== 200) throw new Error(`the monitor answered ${reply.status} to GET ${path}`);
    return reply.body;
  }

  async function canaryAlarmStates(): Promise<MonitorAlarm[]> {
    return (await fromMonitor<MonitorAlarm[]>('/api/alarms')).filter((alarm) => isCanaryAlarm(alarm.name));
  }

  const loop = createInitiatorLoop({
    alarms: async () => {
      try {
        const alarms = await canaryAlarmStates();
        return { states: Object.fromEntries(alarmNames.map((name) => [name, alarms.find((alarm) => alarm.name === name)?.state ?? 'INSUFFICIENT_DATA'])) };
      } catch (error) {
        return { states: Object.fromEntries(alarmNames.map((name) => [name, 'INSUFFICIENT_DATA' as const])), unknown: `the monitor did not answer (${failureReason(error)})` };
      }
    },
    ruleEnabled: () => enabled,
    executionRunning: options.executionRunning,
    primaryRegion: primary,
    startFailover: options.startFailover,
    now: Date.now,
    schedule: (at, work) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        work();
      }, Math.max(0, at - Date.now()));
      timers.add(timer);
      return () => {
        clearTimeout(timer);
        timers.delete(timer);
      };
    },
    log: options.log,
    onDecision: (decision) =>
      record({ at: decision.at, kind: 'decision', subject: decision.watchedRegion, detail: `${decision.decision}: ${decision.reason}${decision.executionId ? `; execution ${decision.executionId}` : ''}${decision.startError ? `; could not start: ${decision.startError}` : ''}` }),
  });

  /** The run to the monitor (PutMetricData); a monitor that does not take it is logged once until it takes one again. */
  async function publish(result: CanaryResult, endpoint: string) {
    const run: Omit<CanaryRun, 'startedAt' | 'endedAt'> & { startedAt: string; endedAt: string } = {
      canary: result.canary,
      origin: result.origin,
      success: result.success,
      latencyMs: result.latencyMs,
      startedAt: new Date(result.startedAt).toISOString(),
      endedAt: new Date(result.endedAt).toISOString(),
      endpoint,
      ...(result.failure ? { failure: result.failure } : {}),
    };
    try {
      const reply = await monitor.post<{ message?: string } | null>('/api/canaries/runs', run);
      if (reply.status >= 300) throw new Error(`it answered ${reply.status}${reply.body?.message ? `: ${reply.body.message}` : ''}`);
      if (monitorDownSince !== undefined) {
        options.log(`the monitor takes the canaries' runs again (the runs of the last ${Math.round((Date.now() - monitorDownSince) / 1000)} s are lost)`);
        monitorDownSince = undefined;
      }
    } catch (error) {
      if (monitorDownSince !== undefined || stopped) return;
      monitorDownSince = Date.now();
      options.log(`the monitor at ${options.monitorUrl} does not take the canaries' runs (${failureReason(error)}); their alarms go without data until it does`);
    }
  }

  /** (Re)points both canaries at `region`'s endpoint. */
  async function watch(region: string) {
    if (region === watching) return;
    const old = canaries;
    watching = region;
    const endpointUrl = options.endpointOf(region);
    canaries = CANARY_ORIGINS.map((origin) =>
      createCanary({
        origin,
        endpointUrl,
        periodMs: options.periodMs,
        onResult: (result) => {
          // Only a change of outcome is an event: the runs themselves go to the monitor.
          const previous = lastOutcome.get(result.canary);
          if (previous === undefined ? !result.success : previous !== result.success) {
            record({ at: new Date(result.endedAt).toISOString(), kind: result.success ? 'canary-succeeded' : 'canary-failed', subject: result.canary, detail: `${endpointUrl}${result.failure ? `: ${result.failure}` : ''}` });
          }
          lastOutcome.set(result.canary, result.success);
          lastRuns.unshift({ ...result, endpoint: endpointUrl });
          lastRuns.length = Math.min(lastRuns.length, RUNS_KEPT);
          void publish(result, endpointUrl);
        },
      }),
    );
    for (const canary of canaries) canary.start();
    await Promise.all(old.map((canary) => canary.stop()));
  }

  /**
   * Every second the canaries follow the primary, unless an initiation is deciding about the
   * one they watch: their next run after a switch calls the new primary, never the region
   * just closed (whose 503s would be a closed region's, not a failure of the primary).
   */
  function scheduleFollow() {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      void (async () => {
        const region = await options.primaryRegion().catch(() => undefined);
        if (region && !loop.open() && !stopped) await watch(region);
      })()
        .catch((error: unknown) => options.log(`auto-failover: could not follow the primary: ${(error as Error).message}`))
        .finally(scheduleFollow);
    }, FOLLOW_INTERVAL_MS);
    timers.add(timer);
  }

  return {
    async start() {
      await watch((await options.primaryRegion().catch(() => undefined)) ?? '');
      scheduleFollow();
    },
    setEnabled(value: boolean) {
      rule.write(value);
      enabled = value;
      options.log(`auto-failover ${value ? 'enabled' : 'disabled'}`);
    },
    /**
     * The rule: an event of a canary alarm entering ALARM matches; while the rule is enabled
     * it goes to the initiator, asynchronously, as EventBridge delivers to its target. Every
     * canary alarm change is kept as an event; entering ALARM and returning to OK are logged.
     */
    onAlarmStateChange(event: AlarmStateChangeEvent): AlarmEventOutcome {
      if (!isCanaryAlarm(event.alarmName)) return { matched: false, delivered: false };
      const matched = event.state.value === 'ALARM' && event.previousState.value !== 'ALARM';
      const delivered = matched && enabled;
      const transition = `${event.previousState.value} → ${event.state.value}: ${event.state.reason}`;
      record({ at: event.state.timestamp, kind: 'alarm', subject: event.alarmName, detail: `${transition}${matched && !delivered ? ' (rule disabled: the initiator was not started)' : ''}` });
      if (matched || (event.state.value === 'OK' && event.previousState.value === 'ALARM')) options.log(`alarm ${event.alarmName}: ${transition}`);
      if (delivered) void loop.trigger(event.alarmName).catch((error: unknown) => options.log(`auto-failover: the initiator failed: ${(error as Error).message}`));
      return { matched, delivered };
    },
    async status(): Promise<AutoFailoverStatus> {
      const base = {
        enabled,
        periodSeconds: options.periodMs / 1000,
        watching: watching ?? null,
        lastDecision: loop.last() ?? null,
        events: [...events],
        lastRuns: lastRuns.map((run) => ({ canary: run.canary, success: run.success, latencyMs: run.latencyMs, endedAt: new Date(run.endedAt).toISOString(), endpoint: run.endpoint, ...(run.failure ? { failure: run.failure } : {}) })),
      };
      try {
        const [alarms, notifications] = await Promise.all([canaryAlarmStates(), fromMonitor<AlarmNotification[]>('/api/notifications')]);
        return {
          ...base,
          alarms: alarms.map(({ name, state, reason, updatedAt }) => ({ name, state, reason, updatedAt })),
          notifications: notifications.filter((notification) => isCanaryAlarm(notification.alarm)),
        };
      } catch (error) {
        return { ...base, alarms: [], notifications: [], monitorError: `the monitor did not answer: ${failureReason(error)}` };
      }
    },
    /** Resolves when the initiator's checks queued so far have run (tests). */
    settled: () => loop.settled(),
    async stop() {
      stopped = true;
      loop.stop();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(canaries.map((canary) => canary.stop()));
      await monitor.close();
    },
  };
}

export type AutoFailover = ReturnType<typeof startAutoFailover>;
