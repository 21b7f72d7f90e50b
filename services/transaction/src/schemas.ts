import { Type, type Static } from '@fastify/type-provider-typebox';
import { Period, Quantity, TransactionId } from '@corebank/kit';
import { SAGA_STEPS } from './saga/machine.ts';

const Literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((value) => Type.Literal(value)));

/** A saga as the API hands it to the worker in a nudge (the record it just wrote). */
export const HandedOverSaga = Type.Object(
  {
    transactionId: TransactionId,
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
