/**
 * Counts events per whole second and answers Locust's "current" rate: the average over
 * the ten seconds that ended two seconds ago (the last two seconds are still filling up,
 * so including them would make the rate dip). Old seconds are pruned, so memory is bounded.
 */
export const RATE_WINDOW_SECONDS = 10;
const SETTLING_SECONDS = 2;
const KEEP_SECONDS = RATE_WINDOW_SECONDS + SETTLING_SECONDS + 2;

export class PerSecondCounter {
  private readonly counts = new Map<number, number>();

  add(second: number, n = 1): void {
    const existing = this.counts.get(second);
    if (existing === undefined) {
      this.counts.set(second, n);
      for (const old of this.counts.keys()) {
        if (old <= second - KEEP_SECONDS) this.counts.delete(old);
      }
    } else {
      this.counts.set(second, existing + n);
    }
  }

  /**
   * Events per second at `nowSecond`. `startSecond` (when the run or the last reset began)
   * keeps the first seconds of a run from being averaged with empty seconds before it.
   */
  currentRate(nowSecond: number, startSecond: number): number {
    const to = nowSecond - SETTLING_SECONDS;
    const from = Math.max(nowSecond - SETTLING_SECONDS - RATE_WINDOW_SECONDS, startSecond);
    if (to <= from) return 0;
    let total = 0;
    for (let second = from; second < to; second++) total += this.counts.get(second) ?? 0;
    return total / (to - from);
  }
}
