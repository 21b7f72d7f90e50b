import { describe, expect, it } from 'vitest';
import { createStopFlagCache } from './stop-flag.ts';
import type { StopFlagValue } from './store/tables.ts';

function fakeParamTable(initial: StopFlagValue | undefined) {
  const table = { value: initial, reads: 0, fail: false };
  const read = async () => {
    table.reads++;
    if (table.fail) throw new Error('DynamoDB unreachable');
    return table.value;
  };
  return { table, read };
}

describe('stop-flag cache', () => {
  it('serves the cached value until the TTL has passed, then reads again', async () => {
    let clock = 1_000_000;
    const { table, read } = fakeParamTable('false');
    const cache = createStopFlagCache({ read, ttlMs: 10_000, now: () => clock });

    expect(await cache.isRegionClosed()).toBe(false);
    table.value = 'true';
    clock += 9_999;
    expect(await cache.isRegionClosed()).toBe(false); // still cached
    expect(table.reads).toBe(1);
    clock += 1;
    expect(await cache.isRegionClosed()).toBe(true); // 10 s old: read again
    expect(table.reads).toBe(2);
  });

  it('shares one read between concurrent callers', async () => {
    const { table, read } = fakeParamTable('true');
    const cache = createStopFlagCache({ read, ttlMs: 10_000, now: () => 0 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.isRegionClosed()));
    expect(answers.every((closed) => closed)).toBe(true);
    expect(table.reads).toBe(1);
  });

  it('treats a missing item as open and only the string "true" as closed', async () => {
    const { table, read } = fakeParamTable(undefined);
    const cache = createStopFlagCache({ read, ttlMs: 1, now: () => table.reads * 10 });
    expect(await cache.isRegionClosed()).toBe(false);
    table.value = 'false';
    expect(await cache.isRegionClosed()).toBe(false);
    table.value = 'true';
    expect(await cache.isRegionClosed()).toBe(true);
  });

  it('never serves a value older than the TTL: a failed read after expiry throws', async () => {
    let clock = 0;
    const { table, read } = fakeParamTable('false');
    const cache = createStopFlagCache({ read, ttlMs: 10_000, now: () => clock });
    expect(await cache.isRegionClosed()).toBe(false);
    table.fail = true;
    clock = 5_000;
    expect(await cache.isRegionClosed()).toBe(false);
    clock = 10_000;
    await expect(cache.isRegionClosed()).rejects.toThrow('unreachable');
    table.fail = false;
    table.value = 'true';
    expect(await cache.isRegionClosed()).toBe(true);
  });

  it('invalidate() forces the next call to read', async () => {
    const { table, read } = fakeParamTable('false');
    const cache = createStopFlagCache({ read, ttlMs: 10_000, now: () => 0 });
    await cache.isRegionClosed();
    table.value = 'true';
    cache.invalidate();
    expect(await cache.isRegionClosed()).toBe(true);
  });
});
