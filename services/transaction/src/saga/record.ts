/**
 * The saga record, defined once: the TypeScript type, the body in which the API hands a new
 * saga to the worker, and the check of an item read from the table all come from this schema.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { Compile } from 'typebox/compile';
import { AccountId, Period, Quantity, TransactionId } from '@corebank/kit';
import { PENDING, SAGA_KINDS, SAGA_STATUSES, SAGA_STEPS } from './machine.ts';

const fields = {
  transactionId: TransactionId,
  accountId: AccountId,
  kind: Type.Enum(SAGA_KINDS),
  quantity: Quantity,
  /** Fee period (month in Asia/Tokyo) fixed when the saga was created. */
  period: Period,
  status: Type.Enum(SAGA_STATUSES),
  /** The step to run next (or running now); for a finished saga, the last one run. */
  step: Type.Enum(SAGA_STEPS),
  withdrawalCount: Type.Optional(Type.Integer({ minimum: 1 })),
  /** How many leases have been granted on this saga (a hand-over at creation, then claims). */
  attempts: Type.Integer({ minimum: 0 }),
  leaseOwner: Type.Optional(Type.String()),
  /** Epoch milliseconds after which another worker may claim the saga. */
  leaseUntil: Type.Optional(Type.Integer()),
  /**
   * Set when a compensation exhausted its budget: the saga stays pending (and keeps the
   * account lock) until an operator resumes it; `lastError` is the last failure seen.
   */
  stuckSince: Type.Optional(Type.String()),
  lastError: Type.Optional(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  /**
   * The W3C traceparent of the request that created the saga (when tracing is on), so that
   * the worker's spans for it continue that request's trace: one deposit, one trace.
   */
  traceparent: Type.Optional(Type.String({ maxLength: 128 })),
};

/** One saga as the store keeps it. */
export const SagaRecord = Type.Object(fields);
export type SagaRecord = Static<typeof SagaRecord>;

const { stuckSince: _stuckSince, lastError: _lastError, ...newSagaFields } = fields;

/** A saga as the API hands it to the worker in a nudge: the record it just wrote, pending and leased. */
export const HandedOverSaga = Type.Object(
  {
    ...newSagaFields,
    status: Type.Literal(PENDING),
    leaseOwner: Type.String(),
    leaseUntil: Type.Integer(),
  },
  { additionalProperties: false },
);

export class CorruptSagaError extends Error {
  override name = 'CorruptSagaError';
  constructor(readonly key: string, message: string) {
    super(message);
  }
}

/** The schema compiled once: an interpreted check of every item a poll reads cost about 60 µs each. */
const sagaRecordCheck = Compile(SagaRecord);
const FIELD_NAMES = Object.keys(fields);

/**
 * Checks an item read from the table against the schema and returns it as a saga record: its
 * keys and index attributes dropped (the record is flat: only its own fields are kept), an
 * item written before `attempts` existed read as 0.
 */
export function toSagaRecord(item: Record<string, unknown>): SagaRecord {
  const saga: Record<string, unknown> = { attempts: 0 };
  for (const name of FIELD_NAMES) if (item[name] !== undefined) saga[name] = item[name];
  if (!sagaRecordCheck.Check(saga)) throw new CorruptSagaError(String(item.PK), `saga item ${String(item.PK)} is malformed`);
  return saga;
}
