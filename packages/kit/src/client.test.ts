import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceClient, UpstreamUnavailableError } from './client.ts';

/** A server that answers /ok, never answers /silent, and stalls halfway through /stalled. */
let server: Server;
let baseUrl: string;
const stalled: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/ok') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: request.headers['x-service-token'] }));
    } else if (request.url === '/stalled') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"partial":');
      stalled.push(response);
    } else {
      stalled.push(response);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const response of stalled) response.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('service client', () => {
  it('sends the service token and parses the JSON reply', async () => {
    const client = createServiceClient({ baseUrl, serviceToken: 'secret' });
    expect(await client.get('/ok')).toEqual({ status: 200, body: { token: 'secret' } });
    await client.close();
  });

  it.each(['/silent', '/stalled'])('gives up on %s after its timeout with UpstreamUnavailableError', async (path) => {
    // The server never finishes these replies: only the client's timeout ends the call
    // (well within the test's own timeout).
    const client = createServiceClient({ baseUrl, timeoutMs: 200 });
    await expect(client.get(path)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    await client.close();
  });
});
