import { describe, expect, it } from 'vitest';
import { createStatusBoard } from './status-board.ts';
import { DEFAULT_PENDING_FRESH_MS } from './config.ts';

const pending = { accountId: 'a', status: 'status#pending', updatedAt: '2026-11-29T00:00:00.000Z' } as const;
const success = { accountId: 'a', status: 'status#success', updatedAt: '2026-11-29T00:00:01.000Z' } as const;

describe('status board', () => {
  it('knows nothing it was not told', () => {
    expect(createStatusBoard({ pendingFreshMs: DEFAULT_PENDING_FRESH_MS }).lookup('tx')).toBeUndefined();
  });

  it('trusts a pending status for pendingFreshMs, then asks for a fresh read', () => {
    let clock = 1000;
    const board = createStatusBoard({ pendingFreshMs: 100, now: () => clock });
    board.remember('tx', pending);
    clock = 1099;
    expect(board.lookup('tx')).toEqual(pending);
    clock = 1100;
    expect(board.lookup('tx')).toBeUndefined();
  });

  it("needs no read while the worker's word on the end is expected; without the end in it, reads again once stale", () => {
    let clock = 1000;
    const board = createStatusBoard({ pendingFreshMs: 100, now: () => clock });
    board.remember('tx', pending);
    board.expectEnd('tx');
    clock = 60_000;
    expect(board.lookup('tx')).toEqual(pending);
    board.settle('tx');
    expect(board.lookup('tx')).toBeUndefined();
  });

  it('takes the end from the settling word, and expects nothing more once it is known', () => {
    const board = createStatusBoard({ pendingFreshMs: 100, now: () => 0 });
    board.remember('tx', pending);
    board.expectEnd('tx');
    board.settle('tx', success);
    expect(board.lookup('tx')).toEqual(success);
  });

  it('keeps a terminal status for good, and a late pending read does not overwrite it', () => {
    let clock = 0;
    const board = createStatusBoard({ pendingFreshMs: 100, now: () => clock });
    board.remember('tx', pending);
    board.remember('tx', success);
    board.remember('tx', pending);
    clock = 1_000_000;
    expect(board.lookup('tx')).toEqual(success);
  });

  it('forgets the oldest entries beyond its size', () => {
    const board = createStatusBoard({ pendingFreshMs: DEFAULT_PENDING_FRESH_MS, maxEntries: 2 });
    board.remember('first', success);
    board.remember('second', success);
    board.remember('first', success); // refreshed: now the newest
    board.remember('third', success);
    expect(board.size()).toBe(2);
    expect(board.lookup('second')).toBeUndefined();
    expect(board.lookup('first')).toEqual(success);
    expect(board.lookup('third')).toEqual(success);
  });
});

describe('status board: held polls', () => {
  it('wakes a held poll the moment the saga ends', async () => {
    const board = createStatusBoard({ pendingFreshMs: DEFAULT_PENDING_FRESH_MS });
    board.remember('tx', pending);
    const started = Date.now();
    const held = board.waitForEnd('tx', 60_000);
    board.remember('tx', success);
    await held;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(board.lookup('tx')).toEqual(success);
  });

  it('lets a held poll go after the hold, while the saga is still pending', async () => {
    const board = createStatusBoard({ pendingFreshMs: DEFAULT_PENDING_FRESH_MS });
    board.remember('tx', pending);
    await board.waitForEnd('tx', 5);
    expect(board.lookup('tx')?.status).toBe('status#pending');
  });
});
