/** What the two benches share: `npm run bench` (bench.ts) and `npm run bench:floor` (bench-floor.ts). */
import { CreateTableCommand, waitUntilTableExists, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The saga store's transactional writes per saga: one to create it, one to end it. */
export const TRANSACT_WRITES_PER_SAGA = 2;

/** Calls `call` with `inFlight` calls at a time until `ms` have passed; returns how many completed. */
export async function callsFor(ms: number, inFlight: number, call: () => Promise<unknown>): Promise<number> {
  let calls = 0;
  const deadline = Date.now() + ms;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (Date.now() < deadline) {
      await call();
      calls++;
    }
  }));
  return calls;
}

/** A table keyed like the main table (PK, SK) but without its index: DynamoDB measured on its own. */
export async function createKeyedTable(client: DynamoDBClient, TableName: string): Promise<void> {
  await client.send(new CreateTableCommand({
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }, { AttributeName: 'SK', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
  }));
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName });
}
