/**
 * Response-time histogram with Locust's rounding: exact below 100 ms, two significant
 * digits above. Memory stays bounded (a few hundred buckets) however many requests are
 * logged, and the percentiles match what Locust users are used to reading.
 */
export function roundResponseTime(ms: number): number {
  if (ms < 100) return Math.round(ms);
  if (ms < 1_000) return Math.round(ms / 10) * 10;
  if (ms < 10_000) return Math.round(ms / 100) * 100;
  return Math.round(ms / 1_000) * 1_000;
}

export class Histogram {
  private readonly buckets = new Map<number, number>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(ms: number, times = 1): void {
    const bucket = roundResponseTime(ms);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + times);
    this.count += times;
  }

  merge(other: Histogram): void {
    for (const [bucket, n] of other.buckets) {
      this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + n);
    }
    this.count += other.count;
  }

  /**
   * Locust's `calculate_response_time_percentile`: walk from the slowest bucket down and
   * return the first bucket at which at most `(1 - fraction)` of the requests remain above.
   */
  percentile(fraction: number): number {
    if (this.count === 0) return 0;
    const descending = [...this.buckets.keys()].sort((a, b) => b - a);
    let processed = 0;
    for (const bucket of descending) {
      processed += this.buckets.get(bucket)!;
      if (this.count - processed <= this.count * fraction) return bucket;
    }
    return 0;
  }

  /** Locust's `median_from_dict`: the bucket holding the request at position floor(n / 2). */
  median(): number {
    if (this.count === 0) return 0;
    const ascending = [...this.buckets.keys()].sort((a, b) => a - b);
    let position = Math.floor(this.count / 2);
    for (const bucket of ascending) {
      const n = this.buckets.get(bucket)!;
      if (position < n) return bucket;
      position -= n;
    }
    return ascending[ascending.length - 1] ?? 0;
  }

  clone(): Histogram {
    const copy = new Histogram();
    copy.merge(this);
    return copy;
  }
}

/**
 * Per-second histograms kept for a sliding window, so that "current" percentiles (the
 * chart's median and 95th percentile) reflect the last few seconds rather than the whole run.
 */
export class WindowedHistogram {
  private readonly perSecond = new Map<number, Histogram>();

  constructor(private readonly keepSeconds: number) {}

  add(second: number, ms: number): void {
    let histogram = this.perSecond.get(second);
    if (!histogram) {
      histogram = new Histogram();
      this.perSecond.set(second, histogram);
      this.prune(second);
    }
    histogram.add(ms);
  }

  /** Merged histogram of the seconds in [fromSecond, toSecond). */
  window(fromSecond: number, toSecond: number): Histogram {
    const merged = new Histogram();
    for (const [second, histogram] of this.perSecond) {
      if (second >= fromSecond && second < toSecond) merged.merge(histogram);
    }
    return merged;
  }

  private prune(latestSecond: number): void {
    for (const second of this.perSecond.keys()) {
      if (second <= latestSecond - this.keepSeconds) this.perSecond.delete(second);
    }
  }
}
