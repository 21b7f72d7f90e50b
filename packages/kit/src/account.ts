import type { FastifyRequest } from 'fastify';
import { badRequest } from './errors.ts';

/** The account is named by this header, with an underscore, as in the seed. */
export const ACCOUNT_HEADER = 'X_ACCOUNT_ID';

/** What an account id may be: in the header, and in paths such as GET /count/{accountId}/{period}. */
export const ACCOUNT_ID_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$';
const ACCOUNT_ID = new RegExp(ACCOUNT_ID_PATTERN);

/** Reads and validates `X_ACCOUNT_ID`; a missing, empty or odd id is a 400. */
export function accountIdOf(request: FastifyRequest): string {
  const raw = request.headers[ACCOUNT_HEADER.toLowerCase()];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.trim() === '') {
    throw badRequest(`header ${ACCOUNT_HEADER} is required`, 'missing_account');
  }
  if (!ACCOUNT_ID.test(value)) {
    throw badRequest(`header ${ACCOUNT_HEADER} must be 1-128 letters, digits or ._:@-`, 'invalid_account');
  }
  return value;
}

/**
 * Canaries (the automatic failover's synthetic clients) deposit to accounts of their own,
 * `canary-<origin>`: never a customer's, and left out of the money checks' totals.
 */
export const CANARY_ACCOUNT_PREFIX = 'canary-';
export const canaryAccountId = (origin: string) => `${CANARY_ACCOUNT_PREFIX}${origin}`;
export const isCanaryAccount = (accountId: string) => accountId.startsWith(CANARY_ACCOUNT_PREFIX);
