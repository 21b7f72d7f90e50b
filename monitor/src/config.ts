import { ConfigError, envInt, envOptional, envString } from '@corebank/kit';

/** "10s", "5m", "1h", "300" (seconds) → milliseconds. */
export function parseDuration(text: string, name: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${name} must be a duration like 10s, 5m or 1h, got "${text}"`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(match[1]) * factor;
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
  /** MONITOR_MAX_SPANS: the most spans kept, whatever their age. */
  maxSpans: number;
  /** NOTIFY_WEBHOOK_URL: where notifications are POSTed as JSON (the SNS stand-in). */
  webhookUrl?: string;
}

export function loadMonitorConfig(env: Record<string, string | undefined> = process.env): MonitorConfig {
  const webhookUrl = envOptional('NOTIFY_WEBHOOK_URL', env);
  return {
    port: envInt('PORT', 8090, env),
    host: envString('HOST', '127.0.0.1', env),
    alarmPeriodMs: parseDuration(envString('ALARM_PERIOD', '5m', env), 'ALARM_PERIOD'),
    evaluationPeriods: envInt('ALARM_EVALUATION_PERIODS', 2, env),
    windowMs: parseDuration(envString('MONITOR_WINDOW', '1h', env), 'MONITOR_WINDOW'),
    maxSpans: envInt('MONITOR_MAX_SPANS', 200_000, env),
    ...(webhookUrl ? { webhookUrl } : {}),
  };
}
