import { describe, expect, it } from 'vitest';
import { ConfigError, envBool, envOneOf, externalDatabaseUrl, logSettings } from './config.ts';

describe('envBool', () => {
  it('reads true and false, and falls back when unset or empty', () => {
    expect(envBool('FLAG', false, { FLAG: 'true' })).toBe(true);
    expect(envBool('FLAG', true, { FLAG: 'false' })).toBe(false);
    expect(envBool('FLAG', true, {})).toBe(true);
    expect(envBool('FLAG', false, { FLAG: '' })).toBe(false);
  });

  it('refuses anything else by name instead of taking it as off', () => {
    expect(() => envBool('FLAG', false, { FLAG: 'yes' })).toThrow(ConfigError);
    expect(() => envBool('FLAG', false, { FLAG: 'TRUE' })).toThrow(/FLAG must be one of true, false, got "TRUE"/);
  });
});

describe('envOneOf', () => {
  it('takes an allowed value or the fallback, and refuses others', () => {
    expect(envOneOf('MODE', ['a', 'b'], 'a', { MODE: 'b' })).toBe('b');
    expect(envOneOf('MODE', ['a', 'b'], 'a', {})).toBe('a');
    expect(() => envOneOf('MODE', ['a', 'b'], 'a', { MODE: 'c' })).toThrow(ConfigError);
  });
});

describe('logSettings', () => {
  it('logs at info without a line per request unless told', () => {
    expect(logSettings({})).toEqual({ level: 'info', requests: false });
    expect(logSettings({ LOG_LEVEL: 'warn', LOG_REQUESTS: 'true' })).toEqual({ level: 'warn', requests: true });
  });

  it('refuses a level pino does not have', () => {
    expect(() => logSettings({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
  });
});

describe('externalDatabaseUrl', () => {
  it('is the service database on the DATABASE_URL server, or the service own URL first', () => {
    expect(externalDatabaseUrl('count', { DATABASE_URL: 'postgres://u@db:5432/postgres' })).toBe('postgres://u@db:5432/count');
    expect(externalDatabaseUrl('balance', { DATABASE_URL: 'postgres://u@db:5432/postgres', BALANCE_DATABASE_URL: 'postgres://u@other/ledger' })).toBe('postgres://u@other/ledger');
  });

  it('is undefined when only the other service has a URL: the embedded server serves this one', () => {
    expect(externalDatabaseUrl('count', { BALANCE_DATABASE_URL: 'postgres://u@other/ledger' })).toBeUndefined();
    expect(externalDatabaseUrl('count', {})).toBeUndefined();
  });
});
