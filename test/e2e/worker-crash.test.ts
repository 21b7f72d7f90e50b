import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients, periodOf } from '@corebank/transaction';
import { waitFor } from '@corebank/kit';
import { MAIN_TABLE, TOKYO } from '../../local/src/environment/regions.ts';
import { startScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { apiClient } from './api-client.ts';

// A pause between saga steps (test-only), so that a SIGKILL lands in the middle of sagas.
const STEP_DELAY_MS = '150';
const ACCOUNTS = 24;
const DEPOSIT = 1000;
const WITHDRAWAL = 300;
const OVERDRAFT = 5000;

let system: Awaited<ReturnType<typeof startScratchSystem>>;
let api: ReturnType<typeof apiClient>;
let dynamo: ReturnType<typeof createDynamoClients>;

beforeAll(async () => {
  // A dead worker's sagas wait for its leases to lapse: keep them short (3 x the step timeout).
  system = await startScratchSystem({ serviceEnv: { SAGA_STEP_DELAY_MS: STEP_DELAY_MS, WORKER_POLL_MS: '200', WORKER_LEASE_MS: '9000' }, tmpPrefix: 'corebank-e2e-' });
  api = apiClient(system.globalEndpoint);
  dynamo = createDynamoClients({ region: TOKYO.name, endpoint: system.dynamodbEndpoint });
}, 180_000);
afterAll(async () => {
  dynamo?.destroy();
  await system?.stop();
}, 60_000);

/** Pending sagas and the step each is at, read straight from the main table. */
async function pendingSteps(): Promise<string[]> {
  const { Items = [] } = await dynamo.doc.send(
    new ScanCommand({ TableName: MAIN_TABLE, FilterExpression: 'SK = :saga AND #status = :pending', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':saga': 'saga', ':pending': 'status#pending' }, ConsistentRead: true }),
  );
  return Items.map((item) => String(item.step));
}

async function lockItems(): Promise<number> {
  const { Items = [] } = await dynamo.doc.send(new ScanCommand({ TableName: MAIN_TABLE, FilterExpression: 'SK = :lock', ExpressionAttributeValues: { ':lock': 'lock' }, ConsistentRead: true }));
  return Items.length;
}

describe('a worker killed with SIGKILL in the middle of sagas', () => {
  it('finishes every saga exactly once after the supervisor starts it again, and the money adds up', async () => {
    const tokyo = system.regions[0]!;
    const accounts = Array.from({ length: ACCOUNTS }, () => `crash${randomUUID().replaceAll('-', '').slice(0, 12)}`);
    const period = periodOf(new Date());

    const deposits = await Promise.all(accounts.map((account) => api.deposit(account, DEPOSIT)));
    expect(deposits.every((reply) => reply.status === 200)).toBe(true);
    await Promise.all(accounts.map((account, i) => api.finished(account, deposits[i]!.body.transactionId, 60_000)));

    // Every third account overdraws, so compensations are in flight when the worker dies too.
    const overdrawn = (i: number) => i % 3 === 0;
    const withdrawals = await Promise.all(accounts.map((account, i) => api.withdraw(account, overdrawn(i) ? OVERDRAFT : WITHDRAWAL)));
    expect(withdrawals.every((reply) => reply.status === 200)).toBe(true);

    // Kill while some sagas are between withdraw_count and withdraw_balance (or compensating).
    await waitFor('sagas past their first step', async () => {
      const steps = await pendingSteps();
      if (!steps.some((step) => step !== 'withdraw_count')) throw new Error(`steps: ${steps.join(',')}`);
    }, 30_000, 20);
    const killed = tokyo.pidOf('worker')!;
    process.kill(killed, 'SIGKILL');
    const stranded = await pendingSteps();
    expect(stranded.length).toBeGreaterThan(0);

    // The supervisor starts it again, as ECS would a crashed task.
    await waitFor('a new worker', async () => {
      const pid = tokyo.pidOf('worker');
      if (pid === undefined || pid === killed) throw new Error('not started again yet');
    }, 10_000, 50);
    const statuses = await Promise.all(accounts.map((account, i) => api.finished(account, withdrawals[i]!.body.transactionId, 90_000)));

    for (const [i, account] of accounts.entries()) {
      const expected = overdrawn(i) ? 'status#success_rollback' : 'status#success';
      expect(statuses[i], `saga of ${account}`).toBe(expected);
      expect(await api.balance(account)).toBe(overdrawn(i) ? DEPOSIT : DEPOSIT - WITHDRAWAL);
      expect(await api.count(account, period)).toBe(overdrawn(i) ? 0 : 1);
    }
    const balances = await Promise.all(accounts.map((account) => api.balance(account)));
    const succeeded = statuses.filter((status) => status === 'status#success').length;
    expect(balances.reduce((sum, balance) => sum + balance, 0)).toBe(ACCOUNTS * DEPOSIT - succeeded * WITHDRAWAL);
    expect(await pendingSteps()).toEqual([]);
    expect(await lockItems()).toBe(0);
  });
});
