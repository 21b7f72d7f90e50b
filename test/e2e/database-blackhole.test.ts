/**
 * `corebank fault blackhole --database` end to end: Tokyo's services lose their database node
 * (connections accepted, never answered) while the node itself, its replication and the other
 * region go on. A saga accepted meanwhile waits — its forward step retries within its budget —
 * and ends `status#success` once the blackhole is cleared; nothing is lost or applied twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { controlPlaneClient } from '../../local/src/environment/control-plane.ts';
import { startScratchSystem, type ScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { parseFaultArgs } from '../../local/src/environment/faults/faults.ts';
import { apiClient } from './api-client.ts';

let system: ScratchSystem;
let control: ReturnType<typeof controlPlaneClient>;

beforeAll(async () => {
  system = await startScratchSystem({ tmpPrefix: 'corebank-dbhole-', monitor: false, serviceEnv: { WORKER_POLL_MS: '200' } });
  control = controlPlaneClient(system.controlPlane);
}, 120_000);
afterAll(async () => {
  await control?.close();
  await system?.stop();
}, 60_000);

describe('blackhole of a region’s database', () => {
  it('holds Tokyo’s sagas while its services cannot reach the node, and lets them end once cleared', async () => {
    const tokyo = apiClient(system.regions[0]!.endpoint);
    const account = `dbhole${Date.now()}`;
    const first = await tokyo.deposit(account, 1000);
    expect(await tokyo.finished(account, first.body.transactionId)).toBe('status#success');

    const fault = await control.applyFault(parseFaultArgs(['blackhole', '--database']));
    expect(fault.description).toMatch(/blackhole of ap-northeast-1's database/);
    try {
      // The API writes the saga to DynamoDB, so the POST is accepted; its balance step cannot end.
      const held = await tokyo.deposit(account, 500);
      expect(held.status).toBe(200);
      const balanceRead = fetch(`${system.regions[0]!.endpoint}/balance`, { headers: { X_ACCOUNT_ID: account }, signal: AbortSignal.timeout(2_000) });
      await expect(balanceRead).rejects.toThrow(/timeout|aborted/i);
      expect(await tokyo.statusOf(account, held.body.transactionId)).toBe('status#pending');

      expect((await control.clearFaults()).map((each) => each.id)).toEqual([fault.id]);
      expect(await tokyo.finished(account, held.body.transactionId, 60_000)).toBe('status#success');
      await waitFor('the balance to read 1500', async () => expect(await tokyo.balance(account)).toBe(1500), 10_000, 100);
    } finally {
      await control.clearFaults();
    }
  }, 120_000);
});
