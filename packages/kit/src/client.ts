import { Pool } from 'undici';
import { SERVICE_TOKEN_HEADER } from './service-token.ts';
import { tracedCall } from './telemetry.ts';

/** The call could not be completed (refused, reset, timed out): worth retrying. */
export class UpstreamUnavailableError extends Error {
  override name = 'UpstreamUnavailableError';
  constructor(readonly target: string, options?: { cause?: unknown }) {
    super(`${target} did not answer`, options);
  }
}

/** Why a call failed, for a message: what lay under an UpstreamUnavailableError (refused, reset, timed out), else the error's own message. */
export function failureReason(error: unknown): string {
  const cause = error instanceof UpstreamUnavailableError ? error.cause : undefined;
  return cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
}

export interface ServiceReply<T = unknown> {
  status: number;
  body: T;
}

export interface ServiceClientOptions {
  baseUrl: string;
  /** Sent as x-service-token on every call. */
  serviceToken?: string;
  timeoutMs?: number;
  connections?: number;
}

/**
 * A small JSON client for service-to-service calls over a keep-alive pool. It never throws
 * for an HTTP status: callers decide what a 4xx means. It throws UpstreamUnavailableError
 * when no answer came, so that retry policy can tell the two apart.
 */
export function createServiceClient(options: ServiceClientOptions) {
  const timeout = options.timeoutMs ?? 3000;
  const target = new URL(options.baseUrl);
  const pool = new Pool(options.baseUrl, {
    connections: options.connections ?? 64,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    keepAliveTimeout: 10_000,
  });

  async function request<T>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) {
    const allHeaders: Record<string, string> = { accept: 'application/json', ...headers };
    if (options.serviceToken) allHeaders[SERVICE_TOKEN_HEADER] = options.serviceToken;
    if (body !== undefined) allHeaders['content-type'] = 'application/json';
    try {
      return await tracedCall(
        method,
        { 'http.request.method': method, 'server.address': target.hostname, 'server.port': Number(target.port), 'url.full': `${options.baseUrl}${path}` },
        async (traceHeaders) => {
          const response = await pool.request({
            method,
            path,
            headers: { ...allHeaders, ...traceHeaders },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(timeout),
          });
          const text = await response.body.text();
          return { status: response.statusCode, body: (text ? JSON.parse(text) : null) as T } satisfies ServiceReply<T>;
        },
        (reply) => reply.status,
      );
    } catch (error) {
      if (error instanceof SyntaxError) throw error;
      throw new UpstreamUnavailableError(`${method} ${options.baseUrl}${path}`, { cause: error });
    }
  }

  return {
    get: <T>(path: string, headers?: Record<string, string>) => request<T>('GET', path, undefined, headers),
    put: <T>(path: string, body: unknown, headers?: Record<string, string>) => request<T>('PUT', path, body, headers),
    post: <T>(path: string, body: unknown, headers?: Record<string, string>) => request<T>('POST', path, body, headers),
    close: () => pool.close(),
  };
}

export type ServiceClient = ReturnType<typeof createServiceClient>;
