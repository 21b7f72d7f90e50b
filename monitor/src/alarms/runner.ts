import { evaluateAlarm, initialStatus, type AlarmDefinition, type AlarmNotification, type AlarmStatus } from './evaluate.ts';
import type { SpanStore } from '../store.ts';

export interface AlarmHistoryEntry {
  at: number;
  from: string;
  to: string;
  reason: string;
}

/** One alarm's change of state, whatever the states (what CloudWatch sends to EventBridge). */
export interface AlarmChange {
  definition: AlarmDefinition;
  from: AlarmStatus;
  to: AlarmStatus;
}

export interface AlarmRunnerOptions {
  definitions: AlarmDefinition[];
  /**
   * The datapoints of the periods of `definition` that ended by `now`, oldest first
   * (undefined: no data), leaving out periods that began before `since` (never observed).
   */
  datapoints: (definition: AlarmDefinition, now: number, since: number) => Array<number | undefined>;
  /** Where notifications go besides memory: the log, the webhook. */
  notify: (notification: AlarmNotification) => void;
  /** Every change of state, after the whole evaluation (so a reader of `alarms()` sees all of it). */
  onChange?: (change: AlarmChange) => void;
  now?: () => number;
}

const HISTORY_LIMIT = 50;
const NOTIFICATIONS_LIMIT = 500;

/** The service alarms' datapoints: the span statistics of each period, aggregated over the service's regions. */
export function spanStatsDatapoints(store: SpanStore) {
  return (definition: AlarmDefinition, now: number, since: number): Array<number | undefined> => {
    const periodMs = definition.periodSeconds * 1000;
    const lastEnd = Math.floor(now / periodMs) * periodMs;
    const points: Array<number | undefined> = [];
    for (let end = lastEnd - (definition.evaluationPeriods - 1) * periodMs; end <= lastEnd; end += periodMs) {
      if (end - periodMs < Math.floor(since / periodMs) * periodMs) continue;
      const stats = store.statsBetween(end - periodMs, end, (service) => service === definition.service);
      points.push(definition.metric === 'latencyAvgMs' ? stats.latencyAvgMs : stats.errorRatePercent);
    }
    return points;
  };
}

/**
 * Evaluates every alarm at the end of each of its periods with the datapoints of the periods
 * that ended since the monitor started (at most evaluationPeriods of them), and keeps each
 * alarm's state, history and the notifications. Alarms of different periods (the service
 * alarms' and the canaries') are evaluated on their own boundaries.
 */
export class AlarmRunner {
  private readonly statuses = new Map<string, AlarmStatus>();
  private readonly histories = new Map<string, AlarmHistoryEntry[]>();
  readonly notifications: AlarmNotification[] = [];
  private readonly startedAt: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: AlarmRunnerOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    for (const definition of options.definitions) this.statuses.set(definition.name, initialStatus(this.startedAt));
  }

  /** Evaluates `definitions` (every alarm by default) as of `now`; returns the notifications sent. */
  evaluate(now = this.now(), definitions = this.options.definitions): AlarmNotification[] {
    const sent: AlarmNotification[] = [];
    const changes: AlarmChange[] = [];
    for (const definition of definitions) {
      const current = this.statuses.get(definition.name)!;
      const { status, notification } = evaluateAlarm(definition, current, this.options.datapoints(definition, now, this.startedAt), now);
      if (status !== current) {
        this.statuses.set(definition.name, status);
        const history = this.histories.get(definition.name) ?? [];
        history.unshift({ at: now, from: current.state, to: status.state, reason: status.reason });
        this.histories.set(definition.name, history.slice(0, HISTORY_LIMIT));
        changes.push({ definition, from: current, to: status });
      }
      if (notification) {
        this.notifications.unshift(notification);
        this.notifications.length = Math.min(this.notifications.length, NOTIFICATIONS_LIMIT);
        sent.push(notification);
      }
    }
    for (const notification of sent) this.options.notify(notification);
    for (const change of changes) this.options.onChange?.(change);
    return sent;
  }

  /** Evaluates each period's alarms just after each of its boundaries, until stopped. */
  start(): void {
    this.stopped = false;
    const byPeriod = new Map<number, AlarmDefinition[]>();
    for (const definition of this.options.definitions) {
      const periodMs = definition.periodSeconds * 1000;
      byPeriod.set(periodMs, [...(byPeriod.get(periodMs) ?? []), definition]);
    }
    for (const [periodMs, definitions] of byPeriod) {
      // A little after the boundary, so that spans and canary runs of the period just ended have arrived.
      const lagMs = Math.min(1000, periodMs / 4);
      const schedule = () => {
        if (this.stopped) return;
        const now = this.now();
        const next = Math.floor(now / periodMs) * periodMs + periodMs + lagMs;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.evaluate(this.now(), definitions);
          schedule();
        }, next - now);
        timer.unref();
        this.timers.add(timer);
      };
      schedule();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  alarms() {
    return this.options.definitions.map((definition) => {
      const status = this.statuses.get(definition.name)!;
      return {
        name: definition.name,
        service: definition.service,
        metric: definition.metric,
        threshold: definition.threshold,
        comparison: definition.comparison,
        periodSeconds: definition.periodSeconds,
        evaluationPeriods: definition.evaluationPeriods,
        datapointsToAlarm: definition.datapointsToAlarm,
        treatMissingData: definition.treatMissingData,
        state: status.state,
        reason: status.reason,
        updatedAt: new Date(status.updatedAt).toISOString(),
        history: (this.histories.get(definition.name) ?? []).map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })),
      };
    });
  }
}
