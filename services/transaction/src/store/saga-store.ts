import {
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { firstStep, PENDING, type FinalStatus, type SagaKind, type SagaStep } from '../saga/machine.ts';
import { periodOf } from '../saga/period.ts';
import { CorruptSagaError, toSagaRecord, type SagaRecord } from '../saga/record.ts';
import { ConditionFailedError, isTransactionConflict, sendConditional, unlessConditionFails } from './conditional-write.ts';
import { createPendingIndex } from './pending-index.ts';
import { PENDING_PK, STUCK_PK } from './tables.ts';

export { CorruptSagaError, toSagaRecord, type SagaRecord };

export interface NewSaga {
  transactionId: string;
  accountId: string;
  kind: SagaKind;
  quantity: number;
  idempotencyKey?: string;
  /**
   * Create the saga already leased to this owner (a hand-over token the API sends with its
   * nudge), so that the nudged worker starts it without a claim write.
   */
  handOverLease?: { owner: string; durationMs: number };
  /** The creating request's trace context, kept with the saga for the worker's spans. */
  traceparent?: string;
}

export type CreateSagaResult =
  | { outcome: 'created'; saga: SagaRecord }
  /** The idempotency key was used before with the same request: its transaction. */
  | { outcome: 'replayed'; transactionId: string }
  /** The idempotency key was used before for a different request. */
  | { outcome: 'idempotency_mismatch'; transactionId: string }
  /** Another saga of the account is in flight. */
  | { outcome: 'account_busy' };

/** The saga is no longer this worker's (its lease went to another, or it already ended). */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor(readonly transactionId: string, readonly owner: string, detail: string) {
    super(`saga ${transactionId} is no longer leased by ${owner}: ${detail}`);
  }
}

/** Idempotency keys are kept this long (an `expiresAt` TTL attribute, epoch seconds). */
export const IDEMPOTENCY_KEY_TTL_SECONDS = 7 * 24 * 3600;

const SAGA_SK = 'saga';
const LOCK_SK = 'lock';

/**
 * Every lease owner (a worker's id, an API's hand-over token) starts with its region and a
 * slash, so that the failover after a region's loss can tell which leases that region's
 * workers held and release them (releaseLeasesOfRegion) instead of waiting for them to lapse.
 */
export const leaseOwnerPrefix = (region: string) => `${region}/`;

export const sagaKey = (transactionId: string) => ({ PK: `tx#${transactionId}`, SK: SAGA_SK });
export const accountLockKey = (accountId: string) => ({ PK: `account#${accountId}`, SK: LOCK_SK });
export const idempotencyKeyItemKey = (accountId: string, key: string) => ({ PK: `account#${accountId}`, SK: `idem#${key}` });

export interface SagaStoreOptions {
  doc: DynamoDBDocumentClient;
  mainTable: string;
  now?: () => Date;
  /** Told of a malformed item met in the pending index (it is skipped, the rest go on). */
  onCorruptItem?: (error: CorruptSagaError) => void;
}

export type SagaStore = ReturnType<typeof createSagaStore>;

/**
 * The DynamoDB repository of sagas. Creating a saga and ending it are one transaction each
 * (they take and release the account lock); step progress and leases are single
 * conditional updates. Methods return null for "not there" and throw LeaseLostError when a
 * worker no longer owns the saga it is writing.
 */
export function createSagaStore(options: SagaStoreOptions) {
  const { doc, mainTable: TableName } = options;
  const now = options.now ?? (() => new Date());
  const index = createPendingIndex({ doc, mainTable: TableName, now, ...(options.onCorruptItem ? { onCorruptItem: options.onCorruptItem } : {}) });

  /** A conditional update of one item; a refusal comes back as ConditionFailedError with the item as it stood. */
  const update = (input: Omit<UpdateCommandInput, 'TableName'>) =>
    sendConditional(() => doc.send(new UpdateCommand({ TableName, ReturnValuesOnConditionCheckFailure: 'ALL_OLD', ...input })));

  /** The condition every write by a lease holder carries: the saga is pending and leased to `owner` (at `step`, if given). */
  const heldBy = (owner: string, step?: SagaStep) => ({
    ConditionExpression: `#status = :pending AND leaseOwner = :me${step === undefined ? '' : ' AND #step = :step'}`,
    ExpressionAttributeNames: { '#status': 'status', ...(step === undefined ? {} : { '#step': 'step' }) },
    ExpressionAttributeValues: { ':pending': PENDING, ':me': owner, ...(step === undefined ? {} : { ':step': step }) },
  });

  async function createSaga(input: NewSaga): Promise<CreateSagaResult> {
    const createdAt = now();
    const at = createdAt.toISOString();
    const saga: SagaRecord = {
      transactionId: input.transactionId,
      accountId: input.accountId,
      kind: input.kind,
      quantity: input.quantity,
      period: periodOf(createdAt),
      status: PENDING,
      step: firstStep(input.kind),
      attempts: input.handOverLease ? 1 : 0,
      ...(input.handOverLease
        ? { leaseOwner: input.handOverLease.owner, leaseUntil: createdAt.getTime() + input.handOverLease.durationMs }
        : {}),
      createdAt: at,
      updatedAt: at,
      ...(input.traceparent ? { traceparent: input.traceparent } : {}),
    };
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [];
    if (input.idempotencyKey !== undefined) {
      items.push({
        Put: {
          TableName,
          Item: {
            ...idempotencyKeyItemKey(input.accountId, input.idempotencyKey),
            transactionId: input.transactionId,
            kind: input.kind,
            quantity: input.quantity,
            createdAt: at,
            expiresAt: Math.floor(createdAt.getTime() / 1000) + IDEMPOTENCY_KEY_TTL_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      });
    }
    const idempotencyIndex = input.idempotencyKey !== undefined ? 0 : -1;
    const lockIndex = items.length;
    items.push({
      Put: {
        TableName,
        Item: { ...accountLockKey(input.accountId), transactionId: input.transactionId, createdAt: at },
        ConditionExpression: 'attribute_not_exists(PK)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    });
    items.push({
      Put: {
        TableName,
        Item: { ...sagaKey(input.transactionId), ...saga, GSI1PK: PENDING_PK, GSI1SK: at },
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    });

    try {
      await sendConditional(() => doc.send(new TransactWriteCommand({ TransactItems: items })));
      return { outcome: 'created', saga };
    } catch (error) {
      const previous = error instanceof ConditionFailedError && idempotencyIndex >= 0 ? error.itemAt(idempotencyIndex) : undefined;
      if (previous) {
        const sameRequest = previous.kind === input.kind && previous.quantity === input.quantity;
        return { outcome: sameRequest ? 'replayed' : 'idempotency_mismatch', transactionId: String(previous.transactionId) };
      }
      if (error instanceof ConditionFailedError && error.failedAt(lockIndex)) return { outcome: 'account_busy' };
      // A request for the same account is being written right now.
      if (isTransactionConflict(error)) return { outcome: 'account_busy' };
      throw error;
    }
  }

  async function getSaga(transactionId: string): Promise<SagaRecord | null> {
    const { Item } = await doc.send(new GetCommand({ TableName, Key: sagaKey(transactionId), ConsistentRead: true }));
    return Item ? toSagaRecord(Item) : null;
  }

  /**
   * Takes the lease of a pending saga whose lease is free, expired or already ours.
   * Returns the saga as claimed, or null when it is finished, unknown or leased by another.
   */
  async function claimSaga(transactionId: string, owner: string, leaseMs: number): Promise<SagaRecord | null> {
    const at = now().getTime();
    const claimed = update({
      Key: sagaKey(transactionId),
      UpdateExpression: 'SET leaseOwner = :me, leaseUntil = :until, attempts = if_not_exists(attempts, :zero) + :one',
      ConditionExpression:
        '#status = :pending AND attribute_not_exists(stuckSince) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :me)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':me': owner, ':until': at + leaseMs, ':now': at, ':zero': 0, ':one': 1, ':pending': PENDING },
      ReturnValues: 'ALL_NEW',
    }).then(({ Attributes }) => (Attributes ? toSagaRecord(Attributes) : null));
    return unlessConditionFails(claimed, () => null);
  }

  /** Extends the lease of a saga this worker holds. */
  async function renewLease(saga: SagaRecord, owner: string, leaseMs: number): Promise<SagaRecord> {
    const leaseUntil = now().getTime() + leaseMs;
    const lease = heldBy(owner);
    await unlessConditionFails(
      update({ Key: sagaKey(saga.transactionId), UpdateExpression: 'SET leaseUntil = :until', ...lease, ExpressionAttributeValues: { ...lease.ExpressionAttributeValues, ':until': leaseUntil } }),
      () => {
        throw new LeaseLostError(saga.transactionId, owner, 'lease renewal refused');
      },
    );
    return { ...saga, leaseUntil };
  }

  /**
   * Records that the saga moved on from `from` (the step the table holds; `saga.step` unless
   * the worker ran on without writing it down) and `to` runs next (with the withdrawal count
   * once known), extending the lease in the same write.
   */
  async function recordStep(saga: SagaRecord, owner: string, to: SagaStep, leaseMs: number, withdrawalCount?: number, from: SagaStep = saga.step): Promise<SagaRecord> {
    const moment = now();
    const updatedAt = moment.toISOString();
    const leaseUntil = moment.getTime() + leaseMs;
    const lease = heldBy(owner, from);
    const values: Record<string, unknown> = { ...lease.ExpressionAttributeValues, ':to': to, ':updatedAt': updatedAt, ':until': leaseUntil };
    let updateExpression = 'SET #step = :to, updatedAt = :updatedAt, leaseUntil = :until';
    if (withdrawalCount !== undefined) {
      updateExpression += ', withdrawalCount = :count';
      values[':count'] = withdrawalCount;
    }
    const recorded = update({ Key: sagaKey(saga.transactionId), UpdateExpression: updateExpression, ...lease, ExpressionAttributeValues: values }).then(
      (): SagaRecord => ({ ...saga, step: to, updatedAt, leaseUntil, ...(withdrawalCount !== undefined ? { withdrawalCount } : {}) }),
    );
    return unlessConditionFails(recorded, (item) => {
      // An SDK retry of a write that did land looks like this too: the item found tells.
      const current = item && toSagaRecord(item);
      if (current && current.status === PENDING && current.leaseOwner === owner && current.step === to) return current;
      throw new LeaseLostError(saga.transactionId, owner, `expected step ${from}, found ${current?.step ?? 'no saga'}`);
    });
  }

  /**
   * Ends the saga and releases the account lock in one transaction, recording the last step
   * run (`saga.step`) and the withdrawal count. The end is conditioned on the lease owner and
   * on the step the table holds (`recordedStep`: the step the caller just ran, or the one
   * before it when the worker ran on without writing it down), so a writer whose view is
   * stale (an owner id used twice, a retry after another worker moved on) cannot end it.
   * Returns the finished saga; throws LeaseLostError when another worker owns it or it ended
   * differently.
   */
  async function finishSaga(saga: SagaRecord, owner: string, status: FinalStatus, recordedStep: SagaStep = saga.step): Promise<SagaRecord> {
    const updatedAt = now().toISOString();
    const lease = heldBy(owner, recordedStep);
    const count = saga.withdrawalCount === undefined ? {} : { ':count': saga.withdrawalCount };
    const endSaga = {
      TableName,
      Key: sagaKey(saga.transactionId),
      UpdateExpression: `SET #status = :final, updatedAt = :updatedAt, #step = :last${saga.withdrawalCount === undefined ? '' : ', withdrawalCount = :count'} REMOVE GSI1PK, GSI1SK, leaseOwner, leaseUntil`,
      ...lease,
      ExpressionAttributeNames: { ...lease.ExpressionAttributeNames, '#step': 'step' },
      ExpressionAttributeValues: { ...lease.ExpressionAttributeValues, ':final': status, ':updatedAt': updatedAt, ':last': saga.step, ...count },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    const releaseAccountLock = {
      TableName,
      Key: accountLockKey(saga.accountId),
      ConditionExpression: 'transactionId = :tx',
      ExpressionAttributeValues: { ':tx': saga.transactionId },
    };
    const finished: SagaRecord = { ...saga, status, updatedAt, leaseOwner: undefined, leaseUntil: undefined };
    try {
      await sendConditional(() => doc.send(new TransactWriteCommand({ TransactItems: [{ Update: endSaga }, { Delete: releaseAccountLock }] })));
      return finished;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      if (error.failedAt(0)) {
        const current = error.itemAt(0);
        if (current?.status === status && current.step === saga.step) return toSagaRecord(current); // our earlier attempt landed
        throw new LeaseLostError(saga.transactionId, owner, `cannot end saga in status ${String(current?.status ?? 'unknown')}`);
      }
      // The lock is gone or names another saga: end this saga without touching the lock.
      await unlessConditionFails(update(endSaga), () => {
        throw new LeaseLostError(saga.transactionId, owner, 'lease lost while ending the saga');
      });
      return finished;
    }
  }

  /**
   * Parks a saga whose compensation exhausted its budget: still pending, lease released,
   * account lock kept (no money moves), moved from the pending index to the stuck one with
   * the last error and since when. Conditioned like every step write on owner and step.
   */
  async function markStuck(saga: SagaRecord, owner: string, lastError: string): Promise<SagaRecord> {
    const stuckSince = now().toISOString();
    const lease = heldBy(owner, saga.step);
    await unlessConditionFails(
      update({
        Key: sagaKey(saga.transactionId),
        UpdateExpression: 'SET stuckSince = :since, lastError = :error, updatedAt = :since, GSI1PK = :stuck, GSI1SK = :since REMOVE leaseOwner, leaseUntil',
        ...lease,
        ExpressionAttributeValues: { ...lease.ExpressionAttributeValues, ':since': stuckSince, ':error': lastError, ':stuck': STUCK_PK },
      }),
      () => {
        throw new LeaseLostError(saga.transactionId, owner, 'lease lost while marking the saga stuck');
      },
    );
    const { leaseOwner: _owner, leaseUntil: _until, ...rest } = saga;
    return { ...rest, stuckSince, lastError, updatedAt: stuckSince };
  }

  /**
   * Puts a stuck saga back in the pending index (after an operator fixed the cause): the
   * next recovery poll resumes it at its recorded compensation, with a fresh budget.
   */
  async function resumeStuckSaga(transactionId: string): Promise<boolean> {
    const resumed = update({
      Key: sagaKey(transactionId),
      UpdateExpression: 'SET GSI1PK = :pending_pk, GSI1SK = createdAt REMOVE stuckSince, lastError',
      ConditionExpression: '#status = :pending AND attribute_exists(stuckSince)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':pending_pk': PENDING_PK, ':pending': PENDING },
    }).then(() => true);
    return unlessConditionFails(resumed, () => false);
  }

  /** Gives the lease back (graceful shutdown) so another worker may resume at once. */
  async function releaseLease(transactionId: string, owner: string): Promise<boolean> {
    const lease = heldBy(owner);
    const released = update({
      Key: sagaKey(transactionId),
      UpdateExpression: 'SET leaseUntil = :zero REMOVE leaseOwner',
      ...lease,
      ExpressionAttributeValues: { ...lease.ExpressionAttributeValues, ':zero': 0 },
    }).then(() => true);
    return unlessConditionFails(released, () => false);
  }

  /**
   * Fences a lost region: releases every lease of a pending saga held by one of `region`'s
   * owners (its workers, its API's hand-over tokens), so that a worker of the surviving region
   * resumes those sagas at its next poll rather than after WORKER_LEASE_MS. Each release is
   * conditioned on the owner still being the one read, so a lease another worker took since
   * is left alone. Safe because a step the new worker runs again is answered from the
   * services' ledgers (idempotent on the transactionId), and every later write of the lost
   * worker (were it not quite dead) carries its owner in its condition and fails.
   */
  async function releaseLeasesOfRegion(region: string): Promise<{ held: number; released: number }> {
    const held = await index.listLeasedBy(leaseOwnerPrefix(region));
    const released = await Promise.all(held.map((saga) => releaseLease(saga.transactionId, saga.leaseOwner!)));
    return { held: held.length, released: released.filter(Boolean).length };
  }

  return {
    createSaga,
    getSaga,
    claimSaga,
    renewLease,
    recordStep,
    finishSaga,
    markStuck,
    resumeStuckSaga,
    releaseLease,
    releaseLeasesOfRegion,
    ...index,
  };
}
