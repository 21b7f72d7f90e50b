/**
 * The nudge: right after the API creates a saga, it POSTs /sagas/{id}/nudge to the worker,
 * handing the saga over under a one-off lease token so that the worker starts it without a
 * claim write. The worker holds its reply until the saga ends (up to NUDGE_HOLD_MS) and then
 * names the end, which is how the API learns it without another request.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { TransactionId } from '@corebank/kit';
import { HandedOverSaga } from '../saga/record.ts';

/** How long the worker holds a nudge's reply, waiting for the saga to end. */
export const NUDGE_HOLD_MS = 5_000;
/** The API's timeout for a nudge: well past the hold, so a held reply is not cut off. */
export const NUDGE_TIMEOUT_MS = 2 * NUDGE_HOLD_MS;
/**
 * How long a new saga stays leased to the API's hand-over token. If the nudge is lost, any
 * worker may claim the saga once this has passed (a failed nudge hands the lease back at once).
 */
export const HAND_OVER_LEASE_MS = NUDGE_TIMEOUT_MS;
/**
 * Nudges held open at once: each waits for its saga's end, so there must be room for every
 * saga a worker runs at a time (WORKER_CONCURRENCY, 64 by default) and more.
 */
export const NUDGE_CONNECTIONS = 256;

export const nudgePath = (transactionId: string) => `/sagas/${transactionId}/nudge`;

export const NudgeParams = Type.Object({ transactionId: TransactionId });

/**
 * Body of POST /sagas/{id}/nudge. Empty: the worker claims the saga. With a hand-over:
 * the saga was created leased to `leaseToken`, and the worker runs it under that token.
 */
export const NudgeBody = Type.Union([
  Type.Object({}, { additionalProperties: false }),
  Type.Object({ leaseToken: Type.String({ minLength: 16, maxLength: 128 }), saga: HandedOverSaga }, { additionalProperties: false }),
]);
export type NudgeBody = Static<typeof NudgeBody>;

export const NudgeReply = Type.Object({
  transactionId: Type.String(),
  result: Type.String(),
  /** Present when the saga ended here while the nudge was held. */
  status: Type.Optional(Type.String()),
  updatedAt: Type.Optional(Type.String()),
});
export type NudgeReply = Static<typeof NudgeReply>;
