import { Type, type Static } from '@fastify/type-provider-typebox';
import { HandedOverSaga } from './saga/record.ts';

/**
 * Body of POST /sagas/{id}/nudge. Empty: the worker claims the saga. With a hand-over:
 * the saga was created leased to `leaseToken`, and the worker runs it under that token.
 */
export const NudgeBody = Type.Union([
  Type.Object({}, { additionalProperties: false }),
  Type.Object({ leaseToken: Type.String({ minLength: 16, maxLength: 128 }), saga: HandedOverSaga }, { additionalProperties: false }),
]);
export type NudgeBody = Static<typeof NudgeBody>;
