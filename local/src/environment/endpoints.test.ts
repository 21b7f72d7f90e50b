import { METHODS, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type App, createService } from '@corebank/kit';
import { buildEndpoint, CLIENT_TIMEOUTS, ROUTED_PREFIXES, withoutHopByHop } from './endpoints.ts';

/** What reached a stand-in service: the edge's forwarded requests. */
interface Seen {
  service: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

// undici checks its timeouts on a timer of about 1 s resolution, so shorter ones are not kept.
const UPSTREAM_TIMEOUT_MS = 1000;
const seen: Seen[] = [];
const upstreams: App[] = [];
let endpoint: App;
let port: number;

/**
 * A stand-in for a service on the services' own Fastify bootstrap (so it answers with their
 * `connection: keep-alive` and `keep-alive: timeout=72`), adding hop-by-hop headers of its
 * own, recording every request it gets. `/transaction/slow` answers after the edge gave up.
 */
async function startUpstream(service: string): Promise<string> {
  const app = createService({ name: `stand-in${service}`, logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.all('/*', async (request, reply) => {
    seen.push({ service, method: request.method, url: request.url, headers: request.headers, body: typeof request.body === 'string' ? request.body : '' });
    if (request.url === '/transaction/slow') await new Promise((resolve) => setTimeout(resolve, UPSTREAM_TIMEOUT_MS * 4));
    return reply.header('x-upstream-hop', 'dropped').header('connection', 'keep-alive, x-upstream-hop').header('proxy-connection', 'keep-alive').send({ service });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  upstreams.push(app);
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

/** One HTTP/1.1 exchange on a raw socket: the reply's head, and whether the edge then closed the socket. */
function rawExchange(requestText: string): Promise<{ head: string; closedByServer: boolean; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (!answered && received.includes('\r\n\r\n') && /\r\n\r\n[\s\S]*\}$/.test(received)) {
        answered = true;
        // Give a closing server the moment it needs to send FIN; an open one keeps the socket.
        setTimeout(() => resolve({ head: received.split('\r\n\r\n')[0]!, closedByServer: socket.readableEnded, socket }), 200);
      }
    });
    socket.on('end', () => {
      if (!answered) resolve({ head: received.split('\r\n\r\n')[0] ?? '', closedByServer: true, socket });
    });
    socket.write(requestText);
  });
}

const headerOf = (head: string, name: string) =>
  head
    .split('\r\n')
    .slice(1)
    .filter((line) => line.toLowerCase().startsWith(`${name}:`))
    .map((line) => line.slice(name.length + 1).trim().toLowerCase());

/** Any method, any path (fetch refuses TRACE and friends), on a fresh connection; a body always has its length. */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

beforeAll(async () => {
  const region = Object.fromEntries(await Promise.all(ROUTED_PREFIXES.map(async (prefix) => [prefix.slice(1), await startUpstream(prefix)]))) as Record<string, string>;
  endpoint = buildEndpoint({ name: 'edge-test', regionOf: () => 'ap-northeast-1', pick: (_region, service) => region[service], inRotation: (_region, service) => region[service] !== undefined, upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS });
  await endpoint.listen({ port: 0, host: '127.0.0.1' });
  port = (endpoint.server.address() as { port: number }).port;
});
afterAll(async () => {
  await endpoint?.close();
  await Promise.all(upstreams.map((app) => app.close()));
});
beforeEach(() => {
  seen.length = 0;
});

describe('hop-by-hop headers (RFC 9110 §7.6.1)', () => {
  const deposit = (connection: string) =>
    [
      'POST /transaction/deposit HTTP/1.1',
      'Host: api.example.com',
      'X_ACCOUNT_ID: raw-socket',
      'Content-Type: application/json',
      'Content-Length: 17',
      `Connection: ${connection}`,
      '',
      '{"quantity":1000}',
    ].join('\r\n');

  it('answers a Connection: close request with connection: close and closes the socket', async () => {
    const { head, closedByServer, socket } = await rawExchange(deposit('close'));
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(headerOf(head, 'connection')).toEqual(['close']);
    expect(headerOf(head, 'keep-alive')).toEqual([]);
    expect(closedByServer).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.body).toBe('{"quantity":1000}');
    expect(seen[0]!.headers['x_account_id']).toBe('raw-socket');
  });

  it('keeps a keep-alive connection open, with its own keep-alive and none of the service’s hop-by-hop headers', async () => {
    const { head, closedByServer, socket } = await rawExchange(deposit('keep-alive'));
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(headerOf(head, 'connection')).toEqual(['keep-alive']);
    expect(headerOf(head, 'x-upstream-hop')).toEqual([]);
    expect(headerOf(head, 'proxy-connection')).toEqual([]);
    expect(closedByServer).toBe(false);
  });

  it('forwards none of the client’s hop-by-hop headers, nor those its Connection header names', async () => {
    const reply = await send('GET', '/balance', {
      X_ACCOUNT_ID: 'hop',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'proxy-connection': 'keep-alive',
      'x-client-hop': 'dropped',
      connection: 'close, x-client-hop',
    });
    expect(reply.status).toBe(200);
    expect(seen).toHaveLength(1);
    const forwarded = Object.keys(seen[0]!.headers);
    for (const name of ['keep-alive', 'te', 'trailer', 'proxy-connection', 'x-client-hop', 'upgrade', 'transfer-encoding']) expect(forwarded).not.toContain(name);
    expect(seen[0]!.headers['x_account_id']).toBe('hop');
  });

  it('strips Connection and every header it names, case-insensitively', () => {
    const headers = { connection: 'Close, X-Named', 'x-named': '1', 'keep-alive': 'timeout=72', upgrade: 'h2c', 'content-type': 'application/json' };
    expect(withoutHopByHop(headers)).toEqual({ 'content-type': 'application/json' });
  });
});

describe('an edge, not a pipe', () => {
  const INTERNAL_PATHS = [
    '/balance/deposit',
    '/balance/withdraw',
    '/balance/cancel_deposit',
    '/balance/cancel_withdraw',
    '/count/withdraw',
    '/count/cancel_withdraw',
    '/worker/stats',
    '/sagas/4f1c2d7e-9b0a-4c3e-8f21-6a5b4c3d2e1f/nudge',
    '/transaction/deposit/../../balance/deposit',
    '/transaction/%2e%2e/balance/deposit',
  ];
  // CONNECT is a tunnel, not a request for a path; every other method Node can parse.
  const EVERY_METHOD = METHODS.filter((method) => method !== 'CONNECT');

  it.each(INTERNAL_PATHS)('answers every method on %s itself, with a 4xx in the JSON error shape', async (path) => {
    for (const method of EVERY_METHOD) {
      const reply = await send(method, path, { X_ACCOUNT_ID: 'edge', 'x-service-token': 'guessed', 'content-type': 'application/json' }, method === 'GET' || method === 'HEAD' ? undefined : '{"quantity":5}');
      expect([400, 404, 405], `${method} ${path}`).toContain(reply.status);
      if (method !== 'HEAD') expect(Object.keys(JSON.parse(reply.text)).sort(), `${method} ${path}`).toEqual(['error', 'message']);
    }
    expect(seen).toEqual([]);
  });

  it('answers other methods on the public paths with 405 and Allow', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', '/balance', 'GET, HEAD'],
      ['DELETE', '/count/a1/2026-11', 'GET, HEAD'],
      ['PUT', '/transaction/deposit', 'POST'],
      ['PATCH', '/transaction/withdraw', 'POST'],
      ['OPTIONS', '/transaction/withdraw', 'POST'],
      ['DELETE', '/transaction/4f1c2d7e-9b0a-4c3e-8f21-6a5b4c3d2e1f', 'GET, HEAD'],
      ['POST', '/health', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const reply = await send(method, path, { X_ACCOUNT_ID: 'edge' });
      expect(reply.status, `${method} ${path}`).toBe(405);
      expect(reply.headers.allow).toBe(allow);
      expect(JSON.parse(reply.text).error).toBe('method_not_allowed');
    }
    expect(seen).toEqual([]);
  });

  it('passes the public API to the right service, without the client’s x-service-token', async () => {
    const calls: Array<[string, string, string]> = [
      ['GET', '/balance', '/balance'],
      ['GET', '/count/a1/2026-11', '/count'],
      ['POST', '/transaction/deposit', '/transaction'],
      ['POST', '/transaction/withdraw', '/transaction'],
      ['GET', '/transaction/4f1c2d7e-9b0a-4c3e-8f21-6a5b4c3d2e1f?x=1', '/transaction'],
    ];
    for (const [method, path, service] of calls) {
      const reply = await send(method, path, { X_ACCOUNT_ID: 'edge', 'x-service-token': 'stolen', 'content-type': 'application/json' }, method === 'POST' ? '{"quantity":5}' : undefined);
      expect(reply.status, `${method} ${path}`).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ service });
    }
    expect(seen.map(({ service, method, url }) => [method, url, service])).toEqual(calls);
    for (const request of seen) expect(request.headers['x-service-token']).toBeUndefined();
  });

  it('answers 504 in the JSON error shape when a service does not answer in time', async () => {
    const started = Date.now();
    const reply = await send('GET', '/transaction/slow', { X_ACCOUNT_ID: 'edge' });
    expect(reply.status).toBe(504);
    expect(JSON.parse(reply.text).error).toBe('gateway_timeout');
    expect(Date.now() - started).toBeLessThan(UPSTREAM_TIMEOUT_MS * 3);
  });

  it('drops a client that trickles its headers (slow loris) within the headers timeout', async () => {
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    socket.on('error', () => {});
    const started = Date.now();
    socket.write('GET /balance HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 250);
    const closedAt = await closed;
    clearInterval(trickle);
    const bound = CLIENT_TIMEOUTS.headersTimeout + CLIENT_TIMEOUTS.connectionsCheckingInterval + 1000;
    expect(closedAt - started).toBeGreaterThanOrEqual(CLIENT_TIMEOUTS.headersTimeout - 100);
    expect(closedAt - started).toBeLessThan(bound);
    expect(seen).toEqual([]);
  }, 15_000);
});

describe('upstreams from the supervisor and the routing controls', () => {
  it('answers 503 no_healthy_upstream with no target in rotation, 503 no_active_region with every control Off, and GET /health only when every service has a target', async () => {
    const upstream = await startUpstream('/balance');
    let targets: Record<string, string | undefined> = { balance: upstream };
    let region: string | undefined = 'ap-northeast-3';
    const edge = buildEndpoint({ name: 'routing-test', regionOf: () => region, pick: (named, service) => (named === 'ap-northeast-3' ? targets[service] : undefined), inRotation: (named, service) => named === 'ap-northeast-3' && targets[service] !== undefined });
    await edge.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(edge.server.address() as { port: number }).port}`;
    const get = async (path: string) => {
      const response = await fetch(`${base}${path}`, { headers: { X_ACCOUNT_ID: 'routing' } });
      return { status: response.status, body: (await response.json()) as { error?: string; service?: string } };
    };
    try {
      expect(await get('/balance')).toEqual({ status: 200, body: { service: '/balance' } });
      expect((await get('/count/routing/2026-11')).body.error).toBe('no_healthy_upstream');
      expect((await get('/health')).status).toBe(503);
      targets = { balance: upstream, count: upstream, transaction: upstream };
      expect((await get('/health')).status).toBe(200);
      targets = {};
      expect(await get('/balance')).toMatchObject({ status: 503, body: { error: 'no_healthy_upstream' } });
      region = undefined;
      expect(await get('/balance')).toMatchObject({ status: 503, body: { error: 'no_active_region' } });
    } finally {
      await edge.close();
    }
  });
});
