import { describe, expect, it } from 'vitest';
import { Histogram, roundResponseTime, WindowedHistogram } from './histogram.ts';

describe('roundResponseTime', () => {
  it('keeps two significant digits like Locust', () => {
    expect(roundResponseTime(3.4)).toBe(3);
    expect(roundResponseTime(99.4)).toBe(99);
    expect(roundResponseTime(147)).toBe(150);
    expect(roundResponseTime(3_432)).toBe(3_400);
    expect(roundResponseTime(58_760)).toBe(59_000);
  });
});

describe('Histogram', () => {
  it('answers the percentiles Locust computes for the same inputs', () => {
    // Buckets ascending: 22 35 44 45 52 79 140 380 600 (135, 375, 601 rounded).
    const histogram = new Histogram();
    for (const ms of [45, 135, 44, 375, 601, 35, 79, 52, 22]) histogram.add(ms);
    // Median: the item at position floor(9 / 2) = 4.
    expect(histogram.median()).toBe(52);
    // Percentile p: the first bucket from the top where at most 9 × (1 - p) items remain above.
    expect(histogram.percentile(0.5)).toBe(52);
    expect(histogram.percentile(0.8)).toBe(380);
    expect(histogram.percentile(0.9)).toBe(600);
    expect(histogram.percentile(0.1)).toBe(22);
  });

  it('walks 1..100 ms exactly', () => {
    const histogram = new Histogram();
    for (let ms = 1; ms <= 100; ms++) histogram.add(ms);
    expect(histogram.median()).toBe(51);
    expect(histogram.percentile(0.95)).toBe(96);
    expect(histogram.percentile(0.99)).toBe(100);
    expect(histogram.percentile(0.5)).toBe(51);
    expect(histogram.size).toBe(100);
  });

  it('is zero when empty and merges counts', () => {
    const a = new Histogram();
    expect(a.median()).toBe(0);
    expect(a.percentile(0.99)).toBe(0);
    const b = new Histogram();
    b.add(10, 3);
    a.add(20);
    a.merge(b);
    expect(a.size).toBe(4);
    expect(a.median()).toBe(10);
    expect(a.percentile(1)).toBe(20);
  });
});

describe('WindowedHistogram', () => {
  it('only merges the seconds inside the window and prunes old ones', () => {
    const windowed = new WindowedHistogram(5);
    windowed.add(100, 1000);
    windowed.add(103, 10);
    windowed.add(104, 20);
    expect(windowed.window(103, 105).percentile(1)).toBe(20);
    expect(windowed.window(100, 105).percentile(1)).toBe(1000);
    windowed.add(106, 30);
    expect(windowed.window(0, 200).size).toBe(3);
  });
});
