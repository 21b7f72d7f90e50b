import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Type } from '@fastify/type-provider-typebox';
import { createService, accountIdOf, badRequest, requireServiceToken, Quantity } from './index.ts';

const app = createService({ name: 'kit-test', logger: false });
app.post('/echo', { schema: { body: Type.Object({ quantity: Quantity }, { additionalProperties: false }) } }, async (request) => ({
  account: accountIdOf(request),
  quantity: request.body.quantity,
}));
app.get('/boom', async () => {
  throw new Error('secret detail');
});
app.get('/teapot', async () => {
  throw badRequest('no tea here', 'no_tea');
});
app.register(async (internal) => {
  internal.addHook('onRequest', requireServiceToken('s3cret'));
  internal.put('/internal', async () => ({ ok: true }));
});
afterAll(() => app.close());

const post = (payload: string, headers: Record<string, string> = { x_account_id: 'acct-1' }) =>
  app.inject({ method: 'POST', url: '/echo', payload, headers: { 'content-type': 'application/json', ...headers } });

describe('createService', () => {
  it('accepts a valid body and reads X_ACCOUNT_ID', async () => {
    const reply = await post('{"quantity": 1000}');
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ account: 'acct-1', quantity: 1000 });
  });

  it.each([
    ['malformed JSON', '{"quantity": '],
    ['a string quantity', '{"quantity": "100"}'],
    ['a float', '{"quantity": 1.5}'],
    ['zero', '{"quantity": 0}'],
    ['a negative', '{"quantity": -5}'],
    ['a huge number', '{"quantity": 1e13}'],
    ['null', '{"quantity": null}'],
    ['an unknown field', '{"quantity": 1, "extra": {}}'],
    ['an empty body', ''],
  ])('answers 400 {error, message} for %s', async (_name, payload) => {
    const reply = await post(payload);
    expect(reply.statusCode).toBe(400);
    expect(Object.keys(reply.json()).sort()).toEqual(['error', 'message']);
  });

  it('answers 400 when X_ACCOUNT_ID is missing or empty', async () => {
    expect((await post('{"quantity": 1}', {})).json().error).toBe('missing_account');
    expect((await post('{"quantity": 1}', { x_account_id: ' ' })).statusCode).toBe(400);
  });

  it('hides 5xx details', async () => {
    const reply = await app.inject({ method: 'GET', url: '/boom' });
    expect(reply.statusCode).toBe(500);
    expect(reply.body).not.toContain('secret');
    expect(reply.json()).toEqual({ error: 'internal', message: 'internal server error' });
  });

  it('passes HttpError codes through and answers JSON 404s', async () => {
    expect((await app.inject({ method: 'GET', url: '/teapot' })).json()).toEqual({ error: 'no_tea', message: 'no tea here' });
    const missing = await app.inject({ method: 'GET', url: '/nowhere' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('not_found');
  });

  it('guards internal routes with the service token', async () => {
    expect((await app.inject({ method: 'PUT', url: '/internal' })).statusCode).toBe(403);
    expect((await app.inject({ method: 'PUT', url: '/internal', headers: { 'x-service-token': 'wrong!' } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'PUT', url: '/internal', headers: { 'x-service-token': 's3cret' } })).statusCode).toBe(200);
  });

  it('answers GET /health', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok', service: 'kit-test' });
  });

  it('answers a request Node cannot parse with the JSON error shape', async () => {
    const service = createService({ name: 'kit-parse-test', logger: false });
    await service.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = service.server.address() as { port: number };
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('NOT A REQUEST\r\n\r\n'));
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString()));
        socket.on('end', () => resolve(received));
        socket.on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'bad_request', message: 'malformed HTTP request' });
    } finally {
      await service.close();
    }
  });
});
