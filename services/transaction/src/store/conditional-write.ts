import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionalCheckFailedException, TransactionCanceledException, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** How many times a transaction cancelled by a conflict with another one is tried in all. */
const TRANSACTION_CONFLICT_ATTEMPTS = 4;

type Item = Record<string, unknown>;

/**
 * A conditional write was refused. `failed` maps each refused write (its index in the
 * transaction; 0 for a single write) to the item as it stood then, or undefined if there was
 * none: each write asks for ReturnValuesOnConditionCheckFailure 'ALL_OLD', so the reason for
 * the refusal comes with it and needs no second read.
 */
export class ConditionFailedError extends Error {
  override name = 'ConditionFailedError';
  constructor(readonly failed: ReadonlyMap<number, Item | undefined>, options?: ErrorOptions) {
    super(`the condition of write ${[...failed.keys()].join(', ')} failed`, options);
  }

  failedAt(index = 0): boolean {
    return this.failed.has(index);
  }

  /** The item that write `index` found, if its condition failed and the item existed. */
  itemAt(index = 0): Item | undefined {
    return this.failed.get(index);
  }
}

/**
 * Sends a conditional write (a single one or a transaction) and translates the SDK's two
 * shapes of refusal into ConditionFailedError, as Powertools' idempotency layer does with
 * the item returned on failure. A transaction cancelled only because another one was writing
 * the same items is tried again, with jitter, a few times; then its error is thrown as is
 * (see isTransactionConflict).
 */
export async function sendConditional<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConditionFailedError(new Map([[0, itemOf(error.Item)]]), { cause: error });
      if (!(error instanceof TransactionCanceledException)) throw error;
      const failed = new Map<number, Item | undefined>();
      (error.CancellationReasons ?? []).forEach((reason, index) => {
        if (reason.Code === 'ConditionalCheckFailed') failed.set(index, itemOf(reason.Item));
      });
      if (failed.size > 0) throw new ConditionFailedError(failed, { cause: error });
      if (!isTransactionConflict(error) || attempt >= TRANSACTION_CONFLICT_ATTEMPTS) throw error;
      await sleep(5 * attempt + Math.random() * 10);
    }
  }
}

/** `write`'s result, or `otherwise(the item found)` when its (single) condition failed. */
export async function unlessConditionFails<T, U>(write: Promise<T>, otherwise: (current: Item | undefined) => U | Promise<U>): Promise<T | U> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof ConditionFailedError && error.failedAt(0)) return otherwise(error.itemAt(0));
    throw error;
  }
}

/** A transaction still cancelled by conflicts with others after its retries. */
export function isTransactionConflict(error: unknown): boolean {
  return error instanceof TransactionCanceledException && (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict');
}

function itemOf(item: Record<string, AttributeValue> | undefined): Item | undefined {
  return item && Object.keys(item).length > 0 ? unmarshall(item) : undefined;
}
