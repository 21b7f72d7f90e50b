import { Agent, request } from 'undici';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
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
}

/**
 * undici Agent with keep-alive and a high connection limit. One Agent serves any origin,
 * so changing the host between runs (or mid-run) needs no new transport.
 */
export function createUndiciTransport(options: UndiciTransportOptions = {}): HttpTransport {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 1024,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 30_000,
    // The per-request deadline below is the one that counts; these only keep undici's own
    // defaults (300 s) from outliving it.
    headersTimeout: 0,
    bodyTimeout: 0,
  });

  return {
    async send(req: HttpRequest): Promise<HttpResponse> {
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, req.timeoutMs);
      const onStop = () => controller.abort();
      req.signal?.addEventListener('abort', onStop, { once: true });
      const headers = req.closeConnection ? { ...req.headers, connection: 'close' } : req.headers;
      try {
        const response = await request(req.url, {
          dispatcher: agent,
          method: req.method,
          headers,
          body: req.body,
          signal: controller.signal,
        });
        const body = await response.body.text();
        return { status: response.statusCode, body, bytes: Buffer.byteLength(body) };
      } catch (error) {
        if (timedOut) throw new RequestTimeoutError(req.timeoutMs);
        throw error;
      } finally {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onStop);
      }
    },
    close: () => agent.close(),
  };
}
