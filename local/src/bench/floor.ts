/**
 * `npm run bench:floor`: what the plumbing alone costs on this machine, with no saga logic
 * at all. It measures one HTTP exchange through the services' own bootstrap and client, and
 * one DynamoDB call through the saga store's client next to the same call sent as a bare
 * POST. Multiplied by what one saga of the bench's scenario crosses, that is the CPU per saga
 * below which no implementation of this architecture goes here. `npm run bench` prints what
 * the whole system uses.
 *
 *   npm run bench:floor -- [--seconds 5] [--in-flight 4]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createService, createServiceClient, freePort } from '@corebank/kit';
import { createDynamoClients } from '@corebank/transaction';
import { startDynamoDbLocal } from '../environment/dynamodb-local.ts';
import { callsFor, createKeyedTable, TRANSACT_WRITES_PER_SAGA } from './support.ts';
import { cpuByRole, cpuSince } from './process-cpu.ts';

/**
 * HTTP exchanges between the Node processes in one saga of the scenario (1 deposit, then
 * 3 withdrawals): POST and GET from the client to the endpoint and from the endpoint to the
 * API (4), the API's nudge to the worker (1), the steps to balance and count (1 for a
 * deposit, 2 for a withdrawal: 1.75).
 */
const HTTP_EXCHANGES_PER_SAGA = 6.75;

if (process.argv[2] === 'echo-server') {
  const app = createService({ name: 'floor-echo', logger: false });
  app.put('/echo', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  process.send?.(typeof address === 'object' && address ? address.port : 0);
  process.once('disconnect', () => void app.close());
} else {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, 'in-flight': { type: 'string', default: '4' } } });
  const measureMs = Number(values.seconds) * 1000;
  const inFlight = Number(values['in-flight']);
  if (!(measureMs > 0) || !Number.isInteger(inFlight) || inFlight < 1) {
    console.error('bench:floor: --seconds takes a positive number, --in-flight a positive integer');
    process.exit(2);
  }

  /** Runs `call` with `inFlight` at a time: a warm-up, then `measureMs` with the CPU of every process read before and after. */
  async function cpuPerCall(call: () => Promise<unknown>): Promise<Map<string, number>> {
    await callsFor(Math.min(2000, measureMs), inFlight, call);
    const before = cpuByRole(process.pid, 'client');
    const calls = await callsFor(measureMs, inFlight, call);
    const after = cpuByRole(process.pid, 'client');
    if (!before || !after) throw new Error('bench:floor reads CPU time from /proc, which this system does not have');
    return new Map(cpuSince(before, after).map(({ role, ms }) => [role, (ms * 1000) / calls]));
  }

  const micros = (value: number | undefined) => `${Math.round(value ?? 0)} µs`;

  console.log(`HTTP: kit client → kit service (Fastify), ${inFlight} in flight, ${measureMs / 1000} s ...`);
  const server = fork(fileURLToPath(import.meta.url), ['echo-server'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('message', (message) => resolve(Number(message)));
    server.once('exit', (code) => reject(new Error(`the echo server exited with ${code}`)));
  });
  const client = createServiceClient({ baseUrl: `http://127.0.0.1:${port}`, serviceToken: 'floor', connections: inFlight });
  const http = await cpuPerCall(() => client.put('/echo', { transactionId: 'floor', quantity: 1 }));
  await client.close();
  server.disconnect();
  // The echo server is the only other process this script started: its role reads as 'other'.
  const httpExchange = (http.get('client') ?? 0) + (http.get('other') ?? 0);

  console.log(`DynamoDB: the saga store's client → DynamoDB Local, ${inFlight} in flight, ${measureMs / 1000} s each ...`);
  const dynamodb = await startDynamoDbLocal({ port: await freePort() });
  const dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint: dynamodb.endpoint });
  const raw = new Pool(dynamodb.endpoint, { connections: inFlight });
  try {
    const TableName = 'floor';
    await createKeyedTable(dynamo.client, TableName);
    let n = 0;
    const update = () => ({
      TableName,
      Key: { PK: `tx#${n++ % 1000}`, SK: 'saga' },
      UpdateExpression: 'SET #step = :to, updatedAt = :at',
      ExpressionAttributeNames: { '#step': 'step' },
      ExpressionAttributeValues: { ':to': 'withdraw_balance', ':at': new Date().toISOString() },
    });
    const sdkUpdate = await cpuPerCall(() => dynamo.doc.send(new UpdateCommand(update())));
    // The same request without the SDK: DynamoDB Local needs an Authorization header but does not check it.
    const bareUpdate = await cpuPerCall(async () => {
      const { Key, ExpressionAttributeValues, ...rest } = update();
      const response = await raw.request({
        method: 'POST',
        path: '/',
        headers: {
          'x-amz-target': 'DynamoDB_20120810.UpdateItem',
          'content-type': 'application/x-amz-json-1.0',
          authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/ap-northeast-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: JSON.stringify({
          ...rest,
          Key: { PK: { S: Key.PK }, SK: { S: Key.SK } },
          ExpressionAttributeValues: { ':to': { S: ExpressionAttributeValues[':to'] }, ':at': { S: ExpressionAttributeValues[':at'] } },
        }),
      });
      await response.body.text();
    });
    const sdkTransact = await cpuPerCall(() => {
      const id = n++;
      return dynamo.doc.send(new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { PK: `tx#t${id}`, SK: 'saga', status: 'status#pending' }, ConditionExpression: 'attribute_not_exists(PK)' } },
          { Put: { TableName, Item: { PK: `account#t${id}`, SK: 'lock', transactionId: `t${id}` }, ConditionExpression: 'attribute_not_exists(PK)' } },
        ],
      }));
    });

    const sdkPerSaga = (TRANSACT_WRITES_PER_SAGA * (sdkTransact.get('client') ?? 0)) / 1000;
    const dynamoDbLocalPerSaga =
      (TRANSACT_WRITES_PER_SAGA * (sdkTransact.get('dynamodb-local') ?? 0)) / 1000;
    const httpPerSaga = (HTTP_EXCHANGES_PER_SAGA * httpExchange) / 1000;

    console.log('\nCPU per call (both ends, every process involved):');
    console.log(`  HTTP exchange, kit client → kit service       ${micros(httpExchange)} (client ${micros(http.get('client'))}, service ${micros(http.get('other'))})`);
    console.log(`  UpdateItem through the AWS SDK                ${micros(sdkUpdate.get('client'))} in Node + ${micros(sdkUpdate.get('dynamodb-local'))} in DynamoDB Local`);
    console.log(`  UpdateItem as a bare POST                     ${micros(bareUpdate.get('client'))} in Node + ${micros(bareUpdate.get('dynamodb-local'))} in DynamoDB Local`);
    console.log(`  2-item TransactWriteItems through the AWS SDK ${micros(sdkTransact.get('client'))} in Node + ${micros(sdkTransact.get('dynamodb-local'))} in DynamoDB Local`);
    console.log(`\nPlumbing floor of one saga: ${HTTP_EXCHANGES_PER_SAGA} HTTP exchanges ${httpPerSaga.toFixed(1)} ms` +
      ` + ${TRANSACT_WRITES_PER_SAGA} transact writes: AWS SDK ${sdkPerSaga.toFixed(1)} ms, DynamoDB Local ${dynamoDbLocalPerSaga.toFixed(1)} ms` +
      ` = ${(httpPerSaga + sdkPerSaga + dynamoDbLocalPerSaga).toFixed(1)} ms, before PostgreSQL and any saga logic.`);
  } finally {
    dynamo.destroy();
    await raw.close();
    await dynamodb.stop();
  }
}
