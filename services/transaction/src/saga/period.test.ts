import { describe, expect, it } from 'vitest';
import { periodOf } from './period.ts';

describe('periodOf (calendar month in Asia/Tokyo)', () => {
  it.each([
    ['2026-11-30T15:30:00Z', '2026-12'], // 00:30 on Dec 1 in Tokyo
    ['2026-11-30T14:59:59.999Z', '2026-11'], // 23:59:59 on Nov 30 in Tokyo
    ['2026-11-30T15:00:00Z', '2026-12'],
    ['2026-12-31T15:00:00Z', '2027-01'], // new year in Tokyo, still 2026 in UTC
    ['2026-01-01T00:00:00Z', '2026-01'],
    ['2026-02-28T16:00:00Z', '2026-03'],
    ['0999-06-15T00:00:00Z', '0999-06'],
  ])('%s is %s', (instant, period) => {
    expect(periodOf(new Date(instant))).toBe(period);
  });

  it('does not depend on the process time zone', () => {
    const previous = process.env.TZ;
    try {
      process.env.TZ = 'America/Los_Angeles';
      expect(periodOf(new Date('2026-11-30T15:30:00Z'))).toBe('2026-12');
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });

  it('rejects an invalid date', () => {
    expect(() => periodOf(new Date('nope'))).toThrow(RangeError);
  });
});
