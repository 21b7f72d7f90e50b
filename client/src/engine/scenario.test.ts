import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { createLoadRunner, type LoadRunner } from './load-runner.ts';

interface SeenPost {
  path: string;
  key: string | undefined;
}

/**
 * A corebank stand-in on a real socket whose first answer to every new Idempotency-Key is
 * `firstAnswer` (a server error, or a connection cut before any answer); the repeat with the
 * same key gets the transactionId, and every poll says the saga succeeded.
 */
async function flakyApi(firstAnswer: 'cut' | 503): Promise<{ server: Server; host: string; posts: SeenPost[] }> {
  const posts: SeenPost[] = [];
  const answered = new Map<string, string>();
  const server = createServer((request: IncomingMessage, response) => {
    request.resume();
    if (request.method === 'POST') {
      const key = request.headers['idempotency-key'] as string | undefined;
      posts.push({ path: request.url!, key });
      if (key && !answered.has(key)) {
        answered.set(key, randomUUID());
        if (firstAnswer === 'cut') return void request.socket.destroy();
        response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable","message":"try again"}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ transactionId: answered.get(key!) ?? randomUUID() }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"status#success"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, host: `http://127.0.0.1:${address.port}`, posts };
}

describe('the load client\'s POSTs', () => {
  let runner: LoadRunner | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await runner?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it.each(['cut', 503] as const)('carry one Idempotency-Key per saga, sent again on the retry after a %s', async (firstAnswer) => {
    const api = await flakyApi(firstAnswer);
    server = api.server;
    runner = createLoadRunner({ host: api.host, users: 1, spawnRate: 1, pollIntervalMs: 0 });
    runner.start();
    await waitFor('two sagas', async () => {
      if (runner!.stats().completedSagas < 2) throw new Error('not yet');
    }, 10_000, 20);
    await runner.stop();

    expect(api.posts.every((post) => typeof post.key === 'string' && post.key.length > 0)).toBe(true);
    // Each saga's key arrives exactly twice in a row: the first try and its retry.
    const keys = api.posts.map((post) => post.key);
    const distinct = [...new Set(keys)];
    expect(distinct.length).toBeGreaterThanOrEqual(2);
    for (const key of distinct.slice(0, -1)) expect(keys.filter((k) => k === key)).toHaveLength(2);
    for (let i = 0; i + 1 < keys.length; i += 2) expect(keys[i + 1]).toBe(keys[i]);
    expect(api.posts[0]!.path).toBe('/transaction/deposit');
    expect(runner.stats().completedSagas).toBeGreaterThanOrEqual(2);
  });
});

describe('a saga\'s latency', () => {
  let runner: LoadRunner | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await runner?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('ends where the server says the saga ended, not at the poll that saw it', async () => {
    // Every saga "ends" 30 ms after its POST arrived; the client looks only 300 ms later.
    const endedAt = new Map<string, string>();
    server = createServer((request, response) => {
      request.resume();
      if (request.method === 'POST') {
        const transactionId = randomUUID();
        endedAt.set(transactionId, new Date(Date.now() + 30).toISOString());
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ transactionId }));
        return;
      }
      const transactionId = request.url!.split('/').at(-1)!;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'status#success', updatedAt: endedAt.get(transactionId) }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    runner = createLoadRunner({ host: `http://127.0.0.1:${(server.address() as { port: number }).port}`, users: 1, spawnRate: 1, pollIntervalMs: 300 });
    runner.start();
    await waitFor('three sagas', async () => {
      if (runner!.stats().completedSagas < 3) throw new Error('not yet');
    }, 10_000, 20);
    const { p50Ms, maxMs } = runner.stats().sagaLatency;
    expect(p50Ms).toBeGreaterThanOrEqual(30);
    expect(maxMs).toBeLessThan(100);
  });
});
