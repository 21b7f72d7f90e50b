import type { StopFlagValue } from './store/tables.ts';

export interface StopFlagCacheOptions {
  /** Reads the flag from the param table; undefined when the item is absent. */
  read: () => Promise<StopFlagValue | undefined>;
  ttlMs: number;
  now?: () => number;
}

export interface StopFlagCache {
  /** True when the region is closed. Throws when the flag cannot be read and no fresh value is cached. */
  isRegionClosed(): Promise<boolean>;
  /** Forgets the cached value, so the next call reads the table. */
  invalidate(): void;
}

/**
 * Caches the region's stopFlag for `ttlMs`. Concurrent callers share one read. A missing
 * item means open (as the seed's code reads it); only the string "true" closes the region.
 * A value older than the TTL is never used: if the table cannot be read, the call throws.
 */
export function createStopFlagCache(options: StopFlagCacheOptions): StopFlagCache {
  const { ttlMs } = options;
  const now = options.now ?? Date.now;
  let cached: { closed: boolean; readAt: number } | undefined;
  let reading: Promise<boolean> | undefined;

  async function refresh(): Promise<boolean> {
    const startedAt = now();
    const value = await options.read();
    const closed = value === 'true';
    cached = { closed, readAt: startedAt };
    return closed;
  }

  return {
    async isRegionClosed() {
      if (cached && now() - cached.readAt < ttlMs) return cached.closed;
      reading ??= refresh().finally(() => {
        reading = undefined;
      });
      return reading;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
