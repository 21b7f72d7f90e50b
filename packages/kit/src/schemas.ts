import { Type } from '@fastify/type-provider-typebox';
import { ACCOUNT_ID_PATTERN } from './account.ts';

/** The largest amount one request may move: 10^12 yen. */
export const MAX_QUANTITY = 1_000_000_000_000;

export const Quantity = Type.Integer({ minimum: 1, maximum: MAX_QUANTITY });
export const AccountId = Type.String({ pattern: ACCOUNT_ID_PATTERN });
/** An RFC 4122 UUID, hex in 8-4-4-4-12 groups: anything looser reaches PostgreSQL's `::uuid` cast as a 500. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** A transaction id: the API issues v4 UUIDs, and every route that takes one checks it with this. */
export const TransactionId = Type.String({ pattern: UUID_PATTERN });
export const Period = Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$' });

export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() });
