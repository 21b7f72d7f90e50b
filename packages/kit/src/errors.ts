/**
 * The one error shape. Every 4xx and 5xx leaves a service as `{error, message}`; handlers
 * throw these and the central error handler in http.ts turns them into replies.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const badRequest = (message: string, code = 'bad_request') => new HttpError(400, code, message);
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const conflict = (code: string, message: string) => new HttpError(409, code, message);
export const tooManyRequests = (message: string) => new HttpError(429, 'saga_in_flight', message);
export const serviceUnavailable = (message: string, code = 'region_closed') => new HttpError(503, code, message);

export interface ErrorBody {
  error: string;
  message: string;
}
