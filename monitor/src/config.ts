import { ConfigError, durationMs, envInt, envOptional, envString } from '@corebank/kit';

/** "10s", "5m", "1h", "300" (seconds) → milliseconds. */
export function parseDuration(text: string, name: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new ConfigError(`${name} must be a duration like 10s, 5m or 1h, got "${text}"`);
  if (ms < 1000) throw new ConfigError(`${name} must be at least 1s, got "${text}"`);
  return ms;
}

export interface MonitorConfig {
  port: number;
  host: string;
  /** ALARM_PERIOD: the alarms' period (5m, as the seed's; 10s for demos). */
  alarmPeriodMs: number;
  /** ALARM_EVALUATION_PERIODS: consecutive breaching periods before ALARM (2). */
  evaluationPeriods: number;
  /** MONITOR_WINDOW: how far back spans and statistics are kept (1h). */
  windowMs: number;
  /** MONITOR_MAX_SPANS: the most spans kept, whatever their age (100 000 spans: 58–89 MB of heap and 240–285 MB RSS measured by `npm run bench:monitor`). The statistics are aggregated as spans arrive, so they cover the whole window even when the spans kept do not. */
  maxSpans: number;
  /** NOTIFY_WEBHOOK_URL: where notifications are POSTed as JSON (the SNS stand-in). */
  webhookUrl?: string;
  /** CANARY_PERIOD: the canaries' period, also their alarms' (60 s, as the seed's; the control plane's canaries run at the same). */
  canaryPeriodMs: number;
  /** ALARM_EVENTS_URL: where each canary alarm's state change is POSTed (the EventBridge stand-in: the control plane's rule). */
  alarmEventsUrl?: string;
  /** CONTROL_PLANE_URL: the control plane whose active faults the dashboard shows. */
  controlPlaneUrl?: string;
}

/**
 * The environment, with the command line's `--alarm-period 10s`, `--evaluation-periods N` and
 * `--canary-period 5s` taking precedence (as `npm start -w monitor -- --alarm-period 10s` passes them).
 */
export function loadMonitorConfig(env: Record<string, string | undefined> = process.env, argv: string[] = process.argv.slice(2)): MonitorConfig {
  env = { ...env, ...optionsOf(argv) };
  const webhookUrl = envOptional('NOTIFY_WEBHOOK_URL', env);
  const alarmEventsUrl = envOptional('ALARM_EVENTS_URL', env);
  const controlPlaneUrl = envOptional('CONTROL_PLANE_URL', env);
  return {
    port: envInt('PORT', 8090, env),
    host: envString('HOST', '127.0.0.1', env),
    alarmPeriodMs: parseDuration(envString('ALARM_PERIOD', '5m', env), 'ALARM_PERIOD'),
    evaluationPeriods: envInt('ALARM_EVALUATION_PERIODS', 2, env),
    windowMs: parseDuration(envString('MONITOR_WINDOW', '1h', env), 'MONITOR_WINDOW'),
    maxSpans: envInt('MONITOR_MAX_SPANS', 100_000, env),
    ...(webhookUrl ? { webhookUrl } : {}),
    canaryPeriodMs: parseDuration(envString('CANARY_PERIOD', '60s', env), 'CANARY_PERIOD'),
    ...(alarmEventsUrl ? { alarmEventsUrl } : {}),
    ...(controlPlaneUrl ? { controlPlaneUrl } : {}),
  };
}

const FLAGS: Record<string, string> = { '--alarm-period': 'ALARM_PERIOD', '--evaluation-periods': 'ALARM_EVALUATION_PERIODS', '--canary-period': 'CANARY_PERIOD', '--port': 'PORT' };

function optionsOf(argv: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const variable = FLAGS[flag];
    if (!variable) throw new ConfigError(`unknown option ${flag}; the options are ${Object.keys(FLAGS).join(', ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    options[variable] = value;
  }
  return options;
}
