import { describe, expect, it } from 'vitest';
import { ConfigError } from '@corebank/kit';
import { loadMonitorConfig, parseDuration } from './config.ts';

describe('the monitor configuration', () => {
  it('defaults to the seed: 5-minute periods, 2 of them, port 8090, a one-hour window', () => {
    expect(loadMonitorConfig({}, [])).toEqual({ port: 8090, host: '127.0.0.1', alarmPeriodMs: 300_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 100_000, canaryPeriodMs: 60_000 });
  });

  it('takes the period from ALARM_PERIOD, and the command line over it', () => {
    expect(loadMonitorConfig({ ALARM_PERIOD: '30s' }, []).alarmPeriodMs).toBe(30_000);
    expect(loadMonitorConfig({ ALARM_PERIOD: '30s' }, ['--alarm-period', '10s', '--evaluation-periods=3'])).toMatchObject({ alarmPeriodMs: 10_000, evaluationPeriods: 3 });
    expect(loadMonitorConfig({ NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/hook' }, []).webhookUrl).toBe('http://127.0.0.1:9/hook');
  });

  it('takes the canaries\' period from CANARY_PERIOD or --canary-period, and where alarm events and faults come from', () => {
    expect(loadMonitorConfig({ CANARY_PERIOD: '2s' }, []).canaryPeriodMs).toBe(2000);
    expect(loadMonitorConfig({ CANARY_PERIOD: '2s' }, ['--canary-period', '5s']).canaryPeriodMs).toBe(5000);
    expect(loadMonitorConfig({ ALARM_EVENTS_URL: 'http://127.0.0.1:9/events/alarm-state-change', CONTROL_PLANE_URL: 'http://127.0.0.1:9' }, [])).toMatchObject({
      alarmEventsUrl: 'http://127.0.0.1:9/events/alarm-state-change',
      controlPlaneUrl: 'http://127.0.0.1:9',
    });
  });

  it.each([['5m', 300_000], ['1h', 3_600_000], ['300', 300_000], ['1500ms', 1500]])('reads the duration %s', (text, ms) => {
    expect(parseDuration(text, 'X')).toBe(ms);
  });

  it.each(['ten seconds', '500ms', '-1s', ''])('refuses the duration "%s" by name', (text) => {
    expect(() => parseDuration(text, 'ALARM_PERIOD')).toThrow(ConfigError);
  });

  it('refuses an unknown option', () => {
    expect(() => loadMonitorConfig({}, ['--alarm-perod', '10s'])).toThrow(/unknown option --alarm-perod/);
  });
});
