import { evaluateAlarm, initialStatus, type AlarmDefinition, type AlarmNotification, type AlarmStatus } from './evaluate.ts';
import type { SpanStore } from '../store.ts';

export interface AlarmHistoryEntry {
  at: number;
  from: string;
  to: string;
  reason: string;
}

export interface AlarmRunnerOptions {
  definitions: AlarmDefinition[];
  store: SpanStore;
  /** Where notifications go besides memory: the log, the webhook. */
  notify: (notification: AlarmNotification) => void;
  now?: () => number;
}

const HISTORY_LIMIT = 50;
const NOTIFICATIONS_LIMIT = 500;

/**
 * Evaluates every alarm at the end of each period with the datapoints of the periods that
 * ended since the monitor started (at most evaluationPeriods of them), aggregated over the
 * service's regions, and keeps each alarm's state, history and the notifications.
 */
export class AlarmRunner {
  private readonly statuses = new Map<string, AlarmStatus>();
  private readonly histories = new Map<string, AlarmHistoryEntry[]>();
  readonly notifications: AlarmNotification[] = [];
  private readonly startedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: AlarmRunnerOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    for (const definition of options.definitions) this.statuses.set(definition.name, initialStatus(this.startedAt));
  }

  /** The datapoints of the periods that ended by `now`, oldest first, since the monitor started. */
  datapoints(definition: AlarmDefinition, now: number): Array<number | undefined> {
    const periodMs = definition.periodSeconds * 1000;
    const lastEnd = Math.floor(now / periodMs) * periodMs;
    const points: Array<number | undefined> = [];
    for (let end = lastEnd - (definition.evaluationPeriods - 1) * periodMs; end <= lastEnd; end += periodMs) {
      // Periods before the one the monitor started in were never observed.
      if (end - periodMs < Math.floor(this.startedAt / periodMs) * periodMs) continue;
      const stats = this.options.store.statsBetween(end - periodMs, end, (service) => service === definition.service);
      points.push(definition.metric === 'latencyAvgMs' ? stats.latencyAvgMs : stats.errorRatePercent);
    }
    return points;
  }

  evaluate(now = this.now()): AlarmNotification[] {
    const sent: AlarmNotification[] = [];
    for (const definition of this.options.definitions) {
      const current = this.statuses.get(definition.name)!;
      const { status, notification } = evaluateAlarm(definition, current, this.datapoints(definition, now), now);
      if (status !== current) {
        this.statuses.set(definition.name, status);
        const history = this.histories.get(definition.name) ?? [];
        history.unshift({ at: now, from: current.state, to: status.state, reason: status.reason });
        this.histories.set(definition.name, history.slice(0, HISTORY_LIMIT));
      }
      if (notification) {
        this.notifications.unshift(notification);
        this.notifications.length = Math.min(this.notifications.length, NOTIFICATIONS_LIMIT);
        this.options.notify(notification);
        sent.push(notification);
      }
    }
    return sent;
  }

  /** Evaluates just after each period boundary (the shortest period's), until stopped. */
  start(): void {
    const periodMs = Math.min(...this.options.definitions.map((definition) => definition.periodSeconds * 1000));
    // A little after the boundary, so that spans of the period just ended have arrived.
    const lagMs = Math.min(1000, periodMs / 4);
    const schedule = () => {
      const now = this.now();
      const next = Math.floor(now / periodMs) * periodMs + periodMs + lagMs;
      this.timer = setTimeout(() => {
        this.evaluate();
        schedule();
      }, next - now);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
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
