import { Agent } from 'undici';

export interface HttpRequest {
  method: 'GET' | 'POST';
  /** `http://host:port`, parsed once per host rather than once per request. */
  origin: string;
  /** Path including any base path of the host, e.g. `/transaction/deposit`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Send `Connection: close` so the next request opens a new connection (and resolves DNS again). */
  closeConnection?: boolean;
  timeoutMs: number;
  /** Aborts the request when the virtual user is stopped. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  body: string;
  bytes: number;
}

/** Raised when no complete response arrived within the request's timeout. */
export class RequestTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`Timeout: no response within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/** The one I/O edge of the engine; tests and benchmarks may pass their own. */
export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

export interface UndiciTransportOptions {
  /** Keep-alive connections per origin; high so that the client is never the bottleneck. */
  connectionsPerOrigin?: number;
  /** Limit for opening a TCP connection (the request timeout covers waiting for the answer). */
  connectTimeoutMs?: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * undici Agent with keep-alive and a high connection limit. One Agent serves any origin,
 * so changing the host between runs (or mid-run) needs no new transport.
 *
 * The request timeout works like python-requests' `timeout=` in the seed's Locust file:
 * it bounds the wait for the response headers and every wait for body data. undici's own
 * per-request timers are used because a timer and AbortController per request cost a
 * measurable share of the client's CPU at thousands of requests per second.
 */
export function createUndiciTransport(options: UndiciTransportOptions = {}): HttpTransport {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 1024,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 30_000,
    connect: { timeout: options.connectTimeoutMs ?? 3_000 },
  });

  return {
    async send(req: HttpRequest): Promise<HttpResponse> {
      const headers = req.closeConnection ? { ...req.headers, connection: 'close' } : req.headers;
      try {
        const response = await agent.request({
          origin: req.origin,
          path: req.path,
          method: req.method,
          headers,
          body: req.body,
          signal: req.signal,
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        });
        const body = await response.body.text();
        return { status: response.statusCode, body, bytes: Buffer.byteLength(body) };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && TIMEOUT_CODES.has(code)) throw new RequestTimeoutError(req.timeoutMs);
        throw error;
      }
    },
    close: () => agent.close(),
  };
}
