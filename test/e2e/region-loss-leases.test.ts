import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { startScratchSystem, type ScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { apiClient } from './api-client.ts';

/**
 * Issue 10: after the loss of Tokyo, a saga Tokyo's worker held mid-step is finished by
 * Osaka's worker right after the failover (which releases the lost region's leases), not once
 * WORKER_LEASE_MS has lapsed. The lease is a minute here and each step takes 1.5 s more than it
 * would (SAGA_STEP_DELAY_MS), so the saga is surely mid-step at the kill.
 */
const LEASE_MS = 60_000;
const STEP_DELAY_MS = 1500;

let system: ScratchSystem;
const corebank = (...args: string[]) => system.corebank(...args);

beforeAll(async () => {
  system = await startScratchSystem({
    serviceEnv: { WORKER_POLL_MS: '200', WORKER_LEASE_MS: String(LEASE_MS), SAGA_STEP_DELAY_MS: String(STEP_DELAY_MS) },
    tmpPrefix: 'corebank-region-loss-',
    monitor: false,
  });
}, 120_000);
afterAll(() => system?.stop(), 60_000);

describe('losing Tokyo with a saga in flight', () => {
  it('Osaka finishes the saga Tokyo\'s dead worker held well before its lease would have lapsed, and the account is free again', async () => {
    const [tokyo, osaka] = system.regions.map((region) => apiClient(region.endpoint)) as [ReturnType<typeof apiClient>, ReturnType<typeof apiClient>];
    const account = `lease${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const reply = await tokyo.deposit(account, 500);
    expect(reply.status).toBe(200);
    const transactionId = reply.body.transactionId as string;
    expect(await tokyo.statusOf(account, transactionId)).toBe('status#pending');

    const killedAt = Date.now();
    await corebank('region', 'kill', 'ap-northeast-1');
    const failover = await corebank('failover', '--allow-data-loss');
    const released = /ReleaseLeasesOfLostRegion.*released (\d+) of the \d+ saga leases held in ap-northeast-1/.exec(failover);
    expect(Number(released?.[1])).toBeGreaterThanOrEqual(1);

    // Polled without a deadline of its own beyond the lease: the point is how soon it ends.
    let endedAt = 0;
    await waitFor(`saga ${transactionId} to end in Osaka`, async () => {
      const status = await osaka.statusOf(account, transactionId);
      if (status === 'status#pending') throw new Error('still pending');
      expect(status).toBe('status#success');
      endedAt = Date.now();
    }, LEASE_MS, 100);
    const tookMs = endedAt - killedAt;
    console.log(`saga held by Tokyo's dead worker ended in Osaka ${tookMs} ms after the kill (lease ${LEASE_MS} ms)`);
    expect(tookMs).toBeLessThan(LEASE_MS / 2);
    expect(await osaka.balance(account)).toBe(500);
    // The account's lock went with the saga's end: a new saga is accepted, not 429.
    expect((await osaka.deposit(account, 1)).status).toBe(200);
  }, 150_000);
});
