import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from './dynamo.ts';

describe('createDynamoClients', () => {
  // Accepts connections and never answers: a DynamoDB behind a network that drops replies.
  const held = new Set<Socket>();
  let accepted = 0;
  const silent = createServer((socket) => {
    accepted++;
    held.add(socket);
    socket.once('close', () => held.delete(socket));
  });
  let endpoint = '';

  beforeAll(async () => {
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const address = silent.address();
    endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterAll(async () => {
    for (const socket of held) socket.destroy();
    silent.close();
    await once(silent, 'close');
  });

  it('fails a call that gets no answer within the request timeout instead of waiting for ever', async () => {
    const dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint, requestTimeoutMs: 200 });
    try {
      const call = dynamo.doc.send(new GetCommand({ TableName: 'corebank-main', Key: { PK: 'tx#x', SK: 'saga' } }));
      await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(accepted).toBeGreaterThan(0); // it did reach the silent server
    } finally {
      dynamo.destroy();
    }
  }, 10_000);
});
