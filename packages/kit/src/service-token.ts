import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { forbidden } from './errors.ts';

/** Internal endpoints (PUT /balance/*, PUT /count/*) require this header. */
export const SERVICE_TOKEN_HEADER = 'x-service-token';

/** An onRequest hook that answers 403 unless the request carries the shared service token. */
export function requireServiceToken(token: string) {
  const expected = Buffer.from(token);
  return async (request: FastifyRequest) => {
    const raw = request.headers[SERVICE_TOKEN_HEADER];
    const given = Buffer.from(typeof raw === 'string' ? raw : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw forbidden('this endpoint is internal: a valid service token is required');
    }
  };
}
