import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamodbEndpoint, freshTablePrefix } from '@corebank/testing';
import { createDynamoClients, type DynamoClients } from './dynamo.ts';
import { ensureTables } from './tables.ts';
import { accountLockKey, createSagaStore, leaseOwnerPrefix, LeaseLostError, type CorruptSagaError, type SagaRecord, type SagaStore } from './saga-store.ts';

const prefix = freshTablePrefix('tx-store');
let dynamo: DynamoClients;
let tableCount = 0;

beforeAll(() => {
  dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint: dynamodbEndpoint() });
});
afterAll(() => dynamo?.destroy());

/** A store on a main table of its own, so that each test sees only its own sagas. */
async function freshStore(): Promise<{ store: SagaStore; mainTable: string; corrupt: CorruptSagaError[] }> {
  const mainTable = `${prefix}-main-${++tableCount}`;
  await ensureTables(dynamo.client, { mainTable, paramTable: `${prefix}-param` });
  const corrupt: CorruptSagaError[] = [];
  return { store: createSagaStore({ doc: dynamo.doc, mainTable, onCorruptItem: (error) => corrupt.push(error) }), mainTable, corrupt };
}

async function newSaga(store: SagaStore, accountId: string, kind: 'deposit' | 'withdraw' = 'deposit'): Promise<SagaRecord> {
  const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId, kind, quantity: 100 });
  if (created.outcome !== 'created') throw new Error(created.outcome);
  return created.saga;
}

const lockOf = async (mainTable: string, accountId: string) =>
  (await dynamo.doc.send(new GetCommand({ TableName: mainTable, Key: accountLockKey(accountId), ConsistentRead: true }))).Item;

describe('ending a saga', () => {
  it('is conditional on the step: a writer whose view of the step is stale cannot end it', async () => {
    const { store } = await freshStore();
    const saga = await newSaga(store, 's-step');
    const claimed = (await store.claimSaga(saga.transactionId, 'owner-1', 10_000))!;
    // Same owner id, two views: one recorded the compensation, the other still thinks deposit_balance.
    const compensating = await store.recordStep(claimed, 'owner-1', 'deposit_balance_comp', 10_000);
    await expect(store.finishSaga(claimed, 'owner-1', 'status#success')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.getSaga(saga.transactionId)).toMatchObject({ status: 'status#pending', step: 'deposit_balance_comp' });
    expect(await store.finishSaga(compensating, 'owner-1', 'status#success_rollback')).toMatchObject({ status: 'status#success_rollback' });
  });

  it('recognises a write repeated after it landed (an SDK retry) from the item its refusal returns', async () => {
    const { store, mainTable } = await freshStore();
    const saga = await newSaga(store, 's-repeat');
    const claimed = (await store.claimSaga(saga.transactionId, 'owner-1', 10_000))!;
    const compensating = await store.recordStep(claimed, 'owner-1', 'deposit_balance_comp', 10_000);
    expect(await store.recordStep(claimed, 'owner-1', 'deposit_balance_comp', 10_000)).toMatchObject({ step: 'deposit_balance_comp', leaseOwner: 'owner-1' });
    await expect(store.recordStep(claimed, 'owner-2', 'deposit_balance_comp', 10_000)).rejects.toBeInstanceOf(LeaseLostError);
    await store.finishSaga(compensating, 'owner-1', 'status#success_rollback');
    expect(await store.finishSaga(compensating, 'owner-1', 'status#success_rollback')).toMatchObject({ status: 'status#success_rollback', step: 'deposit_balance_comp' });
    await expect(store.finishSaga(compensating, 'owner-1', 'status#success')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await lockOf(mainTable, 's-repeat')).toBeUndefined();
  });
});

describe('ending a saga past a step not written down', () => {
  it('is conditional on the step the table holds, and records the last step run and the withdrawal count', async () => {
    const { store, mainTable } = await freshStore();
    const saga = await newSaga(store, 's-unrecorded', 'withdraw');
    const claimed = (await store.claimSaga(saga.transactionId, 'owner-1', 10_000))!;
    // withdraw_count ran and withdraw_balance after it, with the table still at withdraw_count.
    const ranOn: SagaRecord = { ...claimed, step: 'withdraw_balance', withdrawalCount: 2 };
    await expect(store.finishSaga(ranOn, 'owner-1', 'status#success')).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.finishSaga(ranOn, 'owner-1', 'status#success', 'withdraw_balance_comp')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.finishSaga(ranOn, 'owner-1', 'status#success', 'withdraw_count')).toMatchObject({ status: 'status#success', step: 'withdraw_balance' });
    expect(await store.getSaga(saga.transactionId)).toMatchObject({ status: 'status#success', step: 'withdraw_balance', withdrawalCount: 2 });
    // Repeated after it landed (an SDK retry): recognised, not refused.
    expect(await store.finishSaga(ranOn, 'owner-1', 'status#success', 'withdraw_count')).toMatchObject({ status: 'status#success', step: 'withdraw_balance' });
    expect(await lockOf(mainTable, 's-unrecorded')).toBeUndefined();
  });

  it('records the progress from the step the table holds, with the withdrawal count', async () => {
    const { store } = await freshStore();
    const saga = await newSaga(store, 's-progress', 'withdraw');
    const claimed = (await store.claimSaga(saga.transactionId, 'owner-1', 10_000))!;
    const ranOn: SagaRecord = { ...claimed, step: 'withdraw_balance', withdrawalCount: 3 };
    await expect(store.recordStep(ranOn, 'owner-1', 'withdraw_balance', 10_000, 3)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.recordStep(ranOn, 'owner-1', 'withdraw_balance', 10_000, 3, 'withdraw_count')).toMatchObject({ step: 'withdraw_balance', withdrawalCount: 3 });
    expect(await store.getSaga(saga.transactionId)).toMatchObject({ status: 'status#pending', step: 'withdraw_balance', withdrawalCount: 3, leaseOwner: 'owner-1' });
  });
});

describe('the pending index', () => {
  it('skips a malformed item and reports it, and still lists the good sagas', async () => {
    const { store, mainTable, corrupt } = await freshStore();
    // Oldest in the index, so that it comes first in every poll.
    await dynamo.doc.send(new PutCommand({ TableName: mainTable, Item: { PK: 'tx#broken', SK: 'saga', GSI1PK: 'pending', GSI1SK: '2000-01-01T00:00:00.000Z', kind: 'loan' } }));
    const good = await newSaga(store, 's-good');
    const claimable = await store.listClaimableSagas('w', 10);
    expect(claimable.map((saga) => saga.transactionId)).toEqual([good.transactionId]);
    expect(corrupt.map((error) => error.key)).toEqual(['tx#broken']);
  });
});

describe('a stuck saga', () => {
  it('stays pending with its lock, leaves the pending index, is listed and counted, and can be resumed', async () => {
    const { store, mainTable } = await freshStore();
    const saga = await newSaga(store, 's-stuck');
    const claimed = (await store.claimSaga(saga.transactionId, 'owner-1', 10_000))!;
    const compensating = await store.recordStep(claimed, 'owner-1', 'deposit_balance_comp', 10_000);
    await expect(store.markStuck(claimed, 'owner-1', 'stale step')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.countStuckSagas()).toBe(0);

    const stuck = await store.markStuck(compensating, 'owner-1', 'compensation refused with 403');
    expect(stuck.leaseOwner).toBeUndefined();
    const stored = await store.getSaga(saga.transactionId);
    expect(stored).toMatchObject({ status: 'status#pending', step: 'deposit_balance_comp', lastError: 'compensation refused with 403', stuckSince: stuck.stuckSince });
    expect(stored?.leaseOwner).toBeUndefined();
    expect(await lockOf(mainTable, 's-stuck')).toMatchObject({ transactionId: saga.transactionId });
    expect((await store.createSaga({ transactionId: crypto.randomUUID(), accountId: 's-stuck', kind: 'deposit', quantity: 1 })).outcome).toBe('account_busy');

    // No worker picks it up: not claimable by polling, nor by a nudge's claim.
    expect(await store.listClaimableSagas('anyone', 10)).toEqual([]);
    expect(await store.claimSaga(saga.transactionId, 'anyone', 10_000)).toBeNull();
    expect((await store.listStuckSagas()).map((s) => [s.transactionId, s.accountId, s.step, s.lastError])).toEqual([
      [saga.transactionId, 's-stuck', 'deposit_balance_comp', 'compensation refused with 403'],
    ]);
    expect(await store.countStuckSagas()).toBe(1);

    expect(await store.resumeStuckSaga(saga.transactionId)).toBe(true);
    expect(await store.resumeStuckSaga(saga.transactionId)).toBe(false);
    expect(await store.countStuckSagas()).toBe(0);
    const [resumable] = await store.listClaimableSagas('anyone', 10);
    expect(resumable).toMatchObject({ transactionId: saga.transactionId, step: 'deposit_balance_comp' });
    expect(resumable?.stuckSince).toBeUndefined();
    const reclaimed = (await store.claimSaga(saga.transactionId, 'anyone', 10_000))!;
    await store.finishSaga(reclaimed, 'anyone', 'status#success_rollback');
    expect(await lockOf(mainTable, 's-stuck')).toBeUndefined();
  });
});

describe('fencing a lost region', () => {
  it('releases the leases held by the region\'s owners only, and the lost owner\'s later writes fail', async () => {
    const { store } = await freshStore();
    const tokyoWorker = `${leaseOwnerPrefix('ap-northeast-1')}worker-1-abcd`;
    const tokyoHandOver = `${leaseOwnerPrefix('ap-northeast-1')}handover-0123456789`;
    const osakaWorker = `${leaseOwnerPrefix('ap-northeast-3')}worker-1-ef01`;
    const [byWorker, byHandOver, byOsaka, unleased] = await Promise.all(['f-1', 'f-2', 'f-3', 'f-4'].map((account) => newSaga(store, account)));
    const held = (await store.claimSaga(byWorker!.transactionId, tokyoWorker, 60_000))!;
    await store.claimSaga(byHandOver!.transactionId, tokyoHandOver, 60_000);
    await store.claimSaga(byOsaka!.transactionId, osakaWorker, 60_000);

    expect(await store.releaseLeasesOfRegion('ap-northeast-1')).toEqual({ held: 2, released: 2 });
    // Osaka's worker may take them at once; Osaka's own lease and the unleased saga are untouched.
    const claimable = (await store.listClaimableSagas(osakaWorker, 10)).map((saga) => saga.transactionId).sort();
    expect(claimable).toEqual([byWorker, byHandOver, byOsaka, unleased].map((saga) => saga!.transactionId).sort());
    expect((await store.getSaga(byOsaka!.transactionId))?.leaseOwner).toBe(osakaWorker);
    expect(await store.claimSaga(byWorker!.transactionId, osakaWorker, 60_000)).toMatchObject({ leaseOwner: osakaWorker });
    await expect(store.recordStep(held, tokyoWorker, 'deposit_balance_comp', 60_000)).rejects.toBeInstanceOf(LeaseLostError);
    // Nothing left to release, and a lease taken since by another owner is not released.
    expect(await store.releaseLeasesOfRegion('ap-northeast-1')).toEqual({ held: 0, released: 0 });
  });
});
