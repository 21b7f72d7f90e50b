import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { deliver } from './delivery.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A target that answers the statuses given in turn (then 204), and records each body. */
async function target(statuses: number[]) {
  const bodies: unknown[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      bodies.push(JSON.parse(text));
      response.statusCode = statuses.shift() ?? 204;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/events`, bodies };
}

const FAST = [10, 20, 40];

describe('deliver', () => {
  it('retries a 5xx and a 429 until the target accepts, sending the same message each time', async () => {
    const { url, bodies } = await target([503, 429, 500]);
    const failures: string[] = [];
    expect(await deliver(url, { alarmName: 'canary-us-west-2' }, { retryDelaysMs: FAST, onFailure: (reason, attempt, willRetry) => failures.push(`${attempt} ${reason} ${willRetry}`) })).toBe(true);
    expect(bodies).toEqual(Array(4).fill({ alarmName: 'canary-us-west-2' }));
    expect(failures).toEqual(['1 refused with 503 true', '2 refused with 429 true', '3 refused with 500 true']);
  });

  it('gives up after its last retry, and at once on a 4xx', async () => {
    const down = await target([503, 503, 503, 503, 503]);
    expect(await deliver(down.url, {}, { retryDelaysMs: FAST })).toBe(false);
    expect(down.bodies).toHaveLength(1 + FAST.length);

    const refusing = await target([400]);
    const failures: boolean[] = [];
    expect(await deliver(refusing.url, {}, { retryDelaysMs: FAST, onFailure: (_reason, _attempt, willRetry) => failures.push(willRetry) })).toBe(false);
    expect(refusing.bodies).toHaveLength(1);
    expect(failures).toEqual([false]);
  });

  it('retries a target that cannot be reached, and stops when aborted', async () => {
    const { url } = await target([]);
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    const stop = new AbortController();
    const attempts: number[] = [];
    const delivered = deliver(url, {}, { retryDelaysMs: [60_000], signal: stop.signal, onFailure: (_reason, attempt) => attempts.push(attempt) });
    await waitFor('the first attempt to fail', async () => expect(attempts).toEqual([1]), 5000, 5);
    stop.abort();
    expect(await delivered).toBe(false);
    expect(attempts).toEqual([1]);
  });
});
