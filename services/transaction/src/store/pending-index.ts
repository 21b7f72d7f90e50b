import { paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PENDING } from '../saga/machine.ts';
import { CorruptSagaError, toSagaRecord, type SagaRecord } from '../saga/record.ts';
import { PENDING_INDEX, PENDING_PK, STUCK_PK } from './tables.ts';

export interface PendingIndexOptions {
  doc: DynamoDBDocumentClient;
  mainTable: string;
  now: () => Date;
  /** Told of a malformed item met in the index (it is skipped, the rest go on). */
  onCorruptItem?: (error: CorruptSagaError) => void;
}

/**
 * Reads of the sparse index of unfinished sagas: the pending partition, which workers poll to
 * recover abandoned sagas, and the stuck one, which operators and alarms watch.
 */
export function createPendingIndex(options: PendingIndexOptions) {
  const { doc, mainTable, now } = options;

  /** The pages of one partition of the index, oldest first, `pageSize` items a page. */
  const partition = (partitionKey: string, pageSize?: number, select?: 'COUNT', ownerPrefix?: string) =>
    paginateQuery(
      { client: doc, ...(pageSize !== undefined ? { pageSize } : {}) },
      {
        TableName: mainTable,
        IndexName: PENDING_INDEX,
        KeyConditionExpression: 'GSI1PK = :partition',
        ExpressionAttributeValues: { ':partition': partitionKey, ...(ownerPrefix !== undefined ? { ':owner': ownerPrefix } : {}) },
        ...(ownerPrefix !== undefined ? { FilterExpression: 'begins_with(leaseOwner, :owner)' } : {}),
        ScanIndexForward: true,
        ...(select ? { Select: select } : {}),
      },
    );

  /** Stuck sagas, longest stuck first (a malformed item is reported and skipped). */
  async function listStuckSagas(limit = 1000): Promise<SagaRecord[]> {
    const found: SagaRecord[] = [];
    for await (const page of partition(STUCK_PK, Math.min(limit, 1000))) {
      for (const item of page.Items ?? []) {
        const saga = readItem(item);
        if (saga) found.push(saga);
      }
      if (found.length >= limit) break;
    }
    return found.slice(0, limit);
  }

  /** How many sagas are stuck now: the figure an alarm watches (0 in a healthy system). */
  async function countStuckSagas(): Promise<number> {
    let total = 0;
    for await (const page of partition(STUCK_PK, undefined, 'COUNT')) total += page.Count ?? 0;
    return total;
  }

  /** An index item as a saga, or undefined (reported) when it is malformed. */
  function readItem(item: Record<string, unknown>): SagaRecord | undefined {
    try {
      return toSagaRecord(item);
    } catch (error) {
      if (!(error instanceof CorruptSagaError)) throw error;
      options.onCorruptItem?.(error);
      return undefined;
    }
  }

  /**
   * Pending sagas, oldest first, that `owner` may claim now: lease free, expired or its own.
   * Reads the sparse pending index (eventually consistent; the claim re-checks).
   */
  async function listClaimableSagas(owner: string, limit: number, maxPages = 5): Promise<SagaRecord[]> {
    const at = now().getTime();
    const found: SagaRecord[] = [];
    let pages = 0;
    for await (const page of partition(PENDING_PK, Math.max(limit * 4, 25))) {
      for (const item of page.Items ?? []) {
        // One malformed item must not stop the recovery of every other saga.
        const saga = readItem(item);
        if (!saga || saga.status !== PENDING || saga.stuckSince !== undefined) continue;
        if (saga.leaseUntil === undefined || saga.leaseUntil < at || saga.leaseOwner === owner) found.push(saga);
        if (found.length >= limit) break;
      }
      if (++pages >= maxPages || found.length >= limit) break;
    }
    return found;
  }

  /** Every pending saga whose lease owner starts with `ownerPrefix`, expired or not (every page). */
  async function listLeasedBy(ownerPrefix: string): Promise<SagaRecord[]> {
    const found: SagaRecord[] = [];
    for await (const page of partition(PENDING_PK, 1000, undefined, ownerPrefix)) {
      for (const item of page.Items ?? []) {
        const saga = readItem(item);
        if (saga?.status === PENDING && saga.leaseOwner?.startsWith(ownerPrefix)) found.push(saga);
      }
    }
    return found;
  }

  return { listClaimableSagas, listStuckSagas, countStuckSagas, listLeasedBy };
}
