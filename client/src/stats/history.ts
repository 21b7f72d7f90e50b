import type { HistoryPoint, StatsSnapshot } from './request-stats.ts';

/** One hour at one point a second; older points are dropped so a long soak stays bounded. */
export const DEFAULT_HISTORY_LIMIT = 3_600;

/** Time series of snapshots for the charts and the full-history CSV. */
export class StatsHistory {
  private points: HistoryPoint[] = [];

  constructor(private readonly limit = DEFAULT_HISTORY_LIMIT) {}

  record(snapshot: StatsSnapshot, userCount: number): HistoryPoint {
    const point: HistoryPoint = {
      time: snapshot.time,
      userCount,
      totalRps: snapshot.aggregated.currentRps,
      totalFailPerSec: snapshot.aggregated.currentFailPerSec,
      currentMedianMs: snapshot.aggregated.currentMedianMs,
      currentP95Ms: snapshot.aggregated.currentP95Ms,
      entries: [...snapshot.entries, snapshot.aggregated],
    };
    this.points.push(point);
    if (this.points.length > this.limit) this.points.splice(0, this.points.length - this.limit);
    return point;
  }

  all(): HistoryPoint[] {
    return [...this.points];
  }

  clear(): void {
    this.points = [];
  }
}
