import { Type } from '@fastify/type-provider-typebox';
import { ACCOUNT_ID_PATTERN } from './account.ts';

/** The largest amount one request may move: 10^12 yen. */
export const MAX_QUANTITY = 1_000_000_000_000;

export const Quantity = Type.Integer({ minimum: 1, maximum: MAX_QUANTITY });
export const AccountId = Type.String({ pattern: ACCOUNT_ID_PATTERN });
export const TransactionId = Type.String({ pattern: '^[0-9a-fA-F-]{36}$' });
export const Period = Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$' });

export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() });
