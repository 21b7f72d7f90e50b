/**
 * Automatic failover in the control plane (the seed's canaries, their CloudWatch alarms, the
 * EventBridge rule and the FailoverInitiatorStateMachine), as the I/O edge around pure pieces:
 * `decideInitiation` (@corebank/workflow) decides, `evaluateAlarm` evaluates the
 * `canary-<origin>` alarms, `createCanary` runs the round trips. It runs in the `corebank
 * start` process, so it needs neither the monitor nor any other process to be up.
 *
 * The canaries call the regional endpoint of the region that is primary (routing control On):
 * Tokyo at start, Osaka after a failover. Their runs are kept across such a switch, so an
 * alarm of the old primary returns to OK (and notifies) once the new one answers.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import {
  CANARY_ORIGINS,
  canaryAlarms,
  createCanary,
  evaluateAlarm,
  initialStatus,
  successPercentDatapoints,
  type AlarmNotification,
  type AlarmStatus,
  type Canary,
  type CanaryAlarmDefinition,
  type CanaryResult,
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

export interface InitiatorLoopIo {
  alarms(): Record<string, AlarmState>;
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

/**
 * One initiation at a time: the first canary alarm entering ALARM begins it, a trigger while
 * it is open is merged into it (the seed's EventBridge target would start a second state
 * machine execution, whose checks would only repeat these). `decideInitiation` is asked at
 * the trigger and at every `retryAt` it answers.
 */
export function createInitiatorLoop(io: InitiatorLoopIo) {
  let current: { watchedRegion: string; attempts: number; lastAttemptAt?: number; cancel?: () => void } | undefined;
  let last: InitiatorRecord | undefined;
  let checking: Promise<void> = Promise.resolve();

  async function check(): Promise<void> {
    const initiation = current;
    if (!initiation) return;
    const decision = decideInitiation({
      alarms: io.alarms(),
      ruleEnabled: io.ruleEnabled(),
      executionRunning: io.executionRunning(),
      watchedRegion: initiation.watchedRegion,
      primaryRegion: await io.primaryRegion(),
      attempts: initiation.attempts,
      ...(initiation.lastAttemptAt === undefined ? {} : { lastAttemptAt: initiation.lastAttemptAt }),
      now: io.now(),
    });
    const record: InitiatorRecord = { decision: decision.kind, reason: decision.reason, at: new Date(io.now()).toISOString(), attempts: decision.attempts, watchedRegion: initiation.watchedRegion };
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
      current = { watchedRegion: await io.primaryRegion(), attempts: 0 };
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
  /** The canaries' period, also the alarms' (60 s; shorter for demos and tests). */
  periodMs: number;
  /** The region whose routing control is On (the one clients reach), or undefined when none is. */
  primaryRegion(): Promise<string | undefined>;
  /** The regional endpoint of `region`. */
  endpointOf(region: string): string;
  executionRunning(): boolean;
  startFailover(): string;
  /** Notifications and initiator decisions, one line each (`npm start`'s console). */
  log(line: string): void;
  /** NOTIFY_WEBHOOK_URL: notifications are POSTed there as JSON too, as the monitor does. */
  webhookUrl?: string;
}

export interface AutoFailoverStatus {
  enabled: boolean;
  periodSeconds: number;
  watching: string | null;
  alarms: Array<{ name: string; state: AlarmState; reason: string; updatedAt: string }>;
  lastDecision: InitiatorRecord | null;
  notifications: AlarmNotification[];
  /**
   * What happened, oldest first, for a timeline (`npm run drill -- --auto`): each canary's
   * first failed run after a success (and first success after failures), each alarm
   * notification, each initiator decision.
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

const NOTIFICATIONS_KEPT = 200;
const EVENTS_KEPT = 500;
const RUNS_KEPT = 600;

export function startAutoFailover(options: AutoFailoverOptions) {
  const rule = ruleFile(options.dataDir);
  let enabled = rule.read();
  const definitions: CanaryAlarmDefinition[] = canaryAlarms({ periodSeconds: options.periodMs / 1000 });
  const startedAt = Date.now();
  const statuses = new Map<string, AlarmStatus>(definitions.map((definition) => [definition.name, initialStatus(startedAt)]));
  const runs = new Map<string, Array<CanaryResult & { endpoint: string }>>(definitions.map((definition) => [definition.name, []]));
  const notifications: AlarmNotification[] = [];
  const events: AutoFailoverEvent[] = [];
  const record = (event: AutoFailoverEvent) => {
    events.push(event);
    if (events.length > EVENTS_KEPT) events.splice(0, events.length - EVENTS_KEPT);
  };
  let watching: string | undefined;
  let canaries: Canary[] = [];
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  const primary = async () => (await options.primaryRegion().catch(() => undefined)) ?? watching ?? '';

  const loop = createInitiatorLoop({
    alarms: () => Object.fromEntries([...statuses].map(([name, status]) => [name, status.state])),
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
          const kept = runs.get(result.canary);
          if (!kept) return;
          const previous = kept.at(-1);
          // Only a change of outcome is an event: the runs themselves are kept below.
          if (previous ? previous.success !== result.success : !result.success) {
            record({ at: new Date(result.endedAt).toISOString(), kind: result.success ? 'canary-succeeded' : 'canary-failed', subject: result.canary, detail: `${endpointUrl}${result.failure ? `: ${result.failure}` : ''}` });
          }
          kept.push({ ...result, endpoint: endpointUrl });
          if (kept.length > RUNS_KEPT) kept.splice(0, kept.length - RUNS_KEPT);
        },
      }),
    );
    for (const canary of canaries) canary.start();
    await Promise.all(old.map((canary) => canary.stop()));
  }

  function notify(notification: AlarmNotification) {
    notifications.unshift(notification);
    notifications.length = Math.min(notifications.length, NOTIFICATIONS_KEPT);
    record({ at: new Date(notification.at).toISOString(), kind: 'alarm', subject: notification.alarm, detail: `${notification.from} → ${notification.to}: ${notification.reason}` });
    options.log(`alarm ${notification.alarm}: ${notification.from} → ${notification.to}: ${notification.reason}`);
    if (options.webhookUrl) {
      request(options.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(notification) })
        .then(async ({ statusCode, body }) => {
          await body.dump();
          if (statusCode >= 300) options.log(`the notification webhook answered ${statusCode}`);
        })
        .catch((error: unknown) => options.log(`the notification webhook could not be reached: ${(error as Error).message}`));
    }
  }

  /** At each period's end: evaluate both alarms, then trigger the initiator for those that entered ALARM. */
  async function evaluate() {
    const now = Date.now();
    const entered: string[] = [];
    for (const definition of definitions) {
      const current = statuses.get(definition.name)!;
      const points = successPercentDatapoints(runs.get(definition.name)!, definition, now, startedAt);
      const { status, notification } = evaluateAlarm(definition, current, points, now);
      statuses.set(definition.name, status);
      if (notification) notify(notification);
      if (current.state !== 'ALARM' && status.state === 'ALARM') entered.push(definition.name);
    }
    // Alarms entering ALARM in the same period are one trigger: a second would open a new
    // initiation right after the first started the failover, only to retry against it.
    if (entered.length > 0) await loop.trigger(entered.join(' and '));
    const region = await options.primaryRegion().catch(() => undefined);
    if (region && !loop.open()) await watch(region);
  }

  function scheduleEvaluation() {
    if (stopped) return;
    const now = Date.now();
    // After the boundary by a little: a run of the period that just ended has ended within 80 % of it.
    const lagMs = Math.min(1000, options.periodMs / 4);
    const next = Math.floor(now / options.periodMs) * options.periodMs + options.periodMs + lagMs;
    const timer = setTimeout(() => {
      timers.delete(timer);
      void evaluate()
        .catch((error: unknown) => options.log(`auto-failover: evaluation failed: ${(error as Error).message}`))
        .finally(scheduleEvaluation);
    }, next - now);
    timers.add(timer);
  }

  return {
    async start() {
      await watch((await options.primaryRegion().catch(() => undefined)) ?? '');
      scheduleEvaluation();
    },
    setEnabled(value: boolean) {
      rule.write(value);
      enabled = value;
      options.log(`auto-failover ${value ? 'enabled' : 'disabled'}`);
    },
    status(): AutoFailoverStatus {
      return {
        enabled,
        periodSeconds: options.periodMs / 1000,
        watching: watching ?? null,
        alarms: definitions.map((definition) => {
          const status = statuses.get(definition.name)!;
          return { name: definition.name, state: status.state, reason: status.reason, updatedAt: new Date(status.updatedAt).toISOString() };
        }),
        lastDecision: loop.last() ?? null,
        notifications,
        events: [...events],
        lastRuns: [...runs.values()]
          .flat()
          .sort((a, b) => b.endedAt - a.endedAt)
          .slice(0, 10)
          .map((run) => ({ canary: run.canary, success: run.success, latencyMs: run.latencyMs, endedAt: new Date(run.endedAt).toISOString(), endpoint: run.endpoint, ...(run.failure ? { failure: run.failure } : {}) })),
      };
    },
    async stop() {
      stopped = true;
      loop.stop();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(canaries.map((canary) => canary.stop()));
    },
  };
}

export type AutoFailover = ReturnType<typeof startAutoFailover>;
