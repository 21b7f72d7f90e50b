import { StatsHistory } from '../stats/history.ts';
import { toLocustRequestsReport, type LocustRequestsReport, type RunnerState } from '../stats/locust-report.ts';
import { RequestStats, type HistoryPoint, type StatsSnapshot } from '../stats/request-stats.ts';
import { createUndiciTransport, type HttpTransport } from './http-transport.ts';
import { VirtualUser, type ScenarioSettings } from './scenario.ts';

export const DEFAULT_TIMEOUT_MS = 3_000;
export const DEFAULT_POLL_INTERVAL_MS = 500;
export const DEFAULT_SAGA_TIMEOUT_MS = 120_000;
const SPAWN_TICK_MS = 50;

export interface LoadRunnerOptions {
  /** Base URL of the corebank API, e.g. `http://localhost:8080` (no trailing slash needed). */
  host: string;
  users?: number;
  /** Users started per second until `users` is reached (fractions allowed). */
  spawnRate?: number;
  /** Per-request timeout (the seed's TIMEOUT_SECONDS = 3). */
  timeoutMs?: number;
  pollIntervalMs?: number;
  sagaTimeoutMs?: number;
  /** How often a history point (charts, full-history CSV) is recorded. */
  historyIntervalMs?: number;
  /** Defaults to an undici Agent with keep-alive, closed by `close()`. */
  transport?: HttpTransport;
}

export interface StartOptions {
  users?: number;
  spawnRate?: number;
  host?: string;
  timeoutMs?: number;
  pollIntervalMs?: number;
}

/** `stats()`: the statistics plus where the runner stands. */
export interface LoadStats extends StatsSnapshot {
  state: RunnerState;
  userCount: number;
  targetUserCount: number;
  host: string;
  timeoutMs: number;
  history: HistoryPoint[];
}

export interface LoadRunner {
  readonly state: RunnerState;
  readonly userCount: number;
  /** Starts (or, when already running, re-targets) the swarm. Starting from ready/stopped clears the statistics, as Locust does. */
  start(options?: StartOptions): void;
  /** Changes the number of users while running: new ones arrive at the spawn rate, surplus ones stop at once. */
  setUsers(count: number, spawnRate?: number): void;
  /** Changes host, timeout or poll interval; running users pick the change up with their next request. */
  configure(changes: Pick<StartOptions, 'host' | 'timeoutMs' | 'pollIntervalMs'>): void;
  /** Stops every user; resolves when all of them have finished (in-flight requests are aborted, not recorded). */
  stop(): Promise<void>;
  resetStats(): void;
  stats(): LoadStats;
  /** Locust's `GET /stats/requests` body. */
  requestsReport(): LocustRequestsReport;
  /** Stops and releases the HTTP connections. */
  close(): Promise<void>;
}

interface RunningUser {
  user: VirtualUser;
  done: Promise<void>;
}

function checkPositive(name: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
}

export function createLoadRunner(options: LoadRunnerOptions): LoadRunner {
  const transport = options.transport ?? createUndiciTransport();
  const ownsTransport = options.transport === undefined;
  const stats = new RequestStats();
  const history = new StatsHistory();
  const settings: ScenarioSettings = {
    host: options.host,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    sagaTimeoutMs: options.sagaTimeoutMs ?? DEFAULT_SAGA_TIMEOUT_MS,
  };
  const historyIntervalMs = options.historyIntervalMs ?? 1_000;
  let targetUsers = options.users ?? 1;
  let spawnRate = options.spawnRate ?? 1;
  let state: RunnerState = 'ready';
  const users: RunningUser[] = [];
  const stopping = new Set<Promise<void>>();
  let spawnTimer: NodeJS.Timeout | undefined;
  let historyTimer: NodeJS.Timeout | undefined;

  const readSettings = () => settings;

  function configure(changes: Pick<StartOptions, 'host' | 'timeoutMs' | 'pollIntervalMs'>): void {
    if (changes.host !== undefined) {
      if (!/^https?:\/\/[^/]/.test(changes.host)) throw new Error(`host must be an http(s) URL, got "${changes.host}"`);
      settings.host = changes.host;
    }
    if (changes.timeoutMs !== undefined) {
      checkPositive('timeoutMs', changes.timeoutMs);
      settings.timeoutMs = changes.timeoutMs;
    }
    if (changes.pollIntervalMs !== undefined) {
      checkPositive('pollIntervalMs', changes.pollIntervalMs, true);
      settings.pollIntervalMs = changes.pollIntervalMs;
    }
  }

  function addUser(): void {
    const user = new VirtualUser(transport, stats, readSettings);
    const entry: RunningUser = { user, done: Promise.resolve() };
    entry.done = user.run().catch((error: unknown) => {
      // A bug in the scenario must not take the process down; it shows up as a failure.
      stats.logRequest('', 'user', 0, 0, `Unhandled: ${String(error)}`);
    });
    users.push(entry);
  }

  function removeUsers(count: number): void {
    for (const entry of users.splice(users.length - count, count)) {
      entry.user.stop();
      stopping.add(entry.done);
      void entry.done.finally(() => stopping.delete(entry.done));
    }
  }

  /** Spawns toward the target at the spawn rate; the first user starts immediately, as in Locust. */
  function spawnTowardTarget(): void {
    clearInterval(spawnTimer);
    spawnTimer = undefined;
    if (users.length > targetUsers) removeUsers(users.length - targetUsers);
    if (users.length >= targetUsers) {
      state = 'running';
      return;
    }
    state = 'spawning';
    const spawnStart = performance.now();
    const alreadyRunning = users.length;
    const tick = () => {
      const due = Math.min(targetUsers, alreadyRunning + 1 + Math.floor(((performance.now() - spawnStart) * spawnRate) / 1000));
      while (users.length < due) addUser();
      if (users.length >= targetUsers) {
        clearInterval(spawnTimer);
        spawnTimer = undefined;
        state = 'running';
      }
    };
    tick();
    if (state === 'spawning') spawnTimer = setInterval(tick, SPAWN_TICK_MS);
  }

  function recordHistory(): void {
    history.record(stats.snapshot(), users.length);
  }

  function snapshotStats(): LoadStats {
    return {
      ...stats.snapshot(),
      state,
      userCount: users.length,
      targetUserCount: targetUsers,
      host: settings.host,
      timeoutMs: settings.timeoutMs,
      history: history.all(),
    };
  }

  async function stop(): Promise<void> {
    clearInterval(spawnTimer);
    spawnTimer = undefined;
    const wasActive = state === 'spawning' || state === 'running';
    removeUsers(users.length);
    await Promise.all([...stopping]);
    clearInterval(historyTimer);
    historyTimer = undefined;
    if (wasActive) {
      recordHistory();
      state = 'stopped';
    }
  }

  const runner: LoadRunner = {
    get state() {
      return state;
    },
    get userCount() {
      return users.length;
    },
    start(startOptions: StartOptions = {}) {
      configure(startOptions);
      const count = startOptions.users ?? targetUsers;
      const rate = startOptions.spawnRate ?? spawnRate;
      checkPositive('users', count, true);
      checkPositive('spawnRate', rate);
      if (!settings.host) throw new Error('host is required');
      if (state === 'ready' || state === 'stopped') {
        stats.reset();
        history.clear();
        historyTimer = setInterval(recordHistory, historyIntervalMs);
        historyTimer.unref();
      }
      targetUsers = Math.floor(count);
      spawnRate = rate;
      spawnTowardTarget();
    },
    setUsers(count: number, rate?: number) {
      checkPositive('users', count, true);
      if (rate !== undefined) {
        checkPositive('spawnRate', rate);
        spawnRate = rate;
      }
      targetUsers = Math.floor(count);
      if (state === 'spawning' || state === 'running') spawnTowardTarget();
    },
    configure,
    stop,
    resetStats() {
      stats.reset();
      history.clear();
    },
    stats: snapshotStats,
    requestsReport() {
      return toLocustRequestsReport(stats.snapshot(), {
        state,
        userCount: users.length,
        targetUserCount: targetUsers,
        host: settings.host,
        timeoutMs: settings.timeoutMs,
      });
    },
    async close() {
      await stop();
      if (ownsTransport) await transport.close();
    },
  };
  return runner;
}
