import { describe, expect, it } from 'vitest';
import { PerSecondCounter } from './per-second-counter.ts';

describe('PerSecondCounter', () => {
  it('averages the ten seconds that ended two seconds ago', () => {
    const counter = new PerSecondCounter();
    for (let second = 1000; second < 1020; second++) counter.add(second, second - 1000);
    // Window at 1020: seconds 1008..1017 → counts 8..17 → mean 12.5.
    expect(counter.currentRate(1020, 0)).toBe(12.5);
  });

  it('does not dilute the first seconds of a run with time before it started', () => {
    const counter = new PerSecondCounter();
    counter.add(500, 10);
    counter.add(501, 20);
    expect(counter.currentRate(502, 500)).toBe(0);
    expect(counter.currentRate(503, 500)).toBe(10);
    expect(counter.currentRate(504, 500)).toBe(15);
  });

  it('decays to zero when requests stop and forgets old seconds', () => {
    const counter = new PerSecondCounter();
    counter.add(10, 100);
    expect(counter.currentRate(13, 0)).toBe(10);
    expect(counter.currentRate(40, 0)).toBe(0);
    counter.add(60, 1);
    expect(counter.currentRate(13, 0)).toBe(0);
  });
});
