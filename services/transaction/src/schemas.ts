import { Type, type Static } from '@fastify/type-provider-typebox';
import { Period, Quantity } from '@corebank/kit';
import { SAGA_STEPS } from './saga/machine.ts';

/** Any RFC 4122 UUID (the API issues v4); a transaction id in a path must look like one. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const Literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((value) => Type.Literal(value)));

/** A saga as the API hands it to the worker in a nudge (the record it just wrote). */
export const HandedOverSaga = Type.Object(
  {
    transactionId: Type.String({ pattern: UUID_PATTERN }),
    accountId: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Literals(['deposit', 'withdraw'] as const),
    quantity: Quantity,
    period: Period,
    status: Type.Literal('status#pending'),
    step: Literals(SAGA_STEPS),
    withdrawalCount: Type.Optional(Type.Integer({ minimum: 1 })),
    attempts: Type.Integer({ minimum: 0 }),
    leaseOwner: Type.String(),
    leaseUntil: Type.Integer(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);

/**
 * Body of POST /sagas/{id}/nudge. Empty: the worker claims the saga. With a hand-over:
 * the saga was created leased to `leaseToken`, and the worker runs it under that token.
 */
export const NudgeBody = Type.Union([
  Type.Object({}, { additionalProperties: false }),
  Type.Object({ leaseToken: Type.String({ minLength: 16, maxLength: 128 }), saga: HandedOverSaga }, { additionalProperties: false }),
]);
export type NudgeBody = Static<typeof NudgeBody>;
