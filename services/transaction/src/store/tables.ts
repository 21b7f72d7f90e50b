import { CreateTableCommand, ResourceInUseException, waitUntilTableExists, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const DEFAULT_REGION = 'ap-northeast-1';
export const DEFAULT_MAIN_TABLE = 'corebank-main';

/** Each region has its own param table: corebank-param-ap-northeast-1, ...-3. */
export const defaultParamTable = (region: string) => `corebank-param-${region}`;

/** Sparse index of pending sagas, polled by the worker to recover abandoned ones. */
export const PENDING_INDEX = 'GSI1';
/** The index's partition of pending sagas (GSI1PK), which workers poll. */
export const PENDING_PK = 'pending';
/** Stuck sagas move from the pending partition to this one: no worker claims them. */
export const STUCK_PK = 'stuck';

export const STOP_FLAG_KEY = 'stopFlag';
export type StopFlagValue = 'true' | 'false';

export interface TableNames {
  mainTable: string;
  paramTable: string;
}

export function mainTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'PK', AttributeType: 'S' },
      { AttributeName: 'SK', AttributeType: 'S' },
      { AttributeName: 'GSI1PK', AttributeType: 'S' },
      { AttributeName: 'GSI1SK', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: PENDING_INDEX,
        KeySchema: [
          { AttributeName: 'GSI1PK', KeyType: 'HASH' },
          { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

export function paramTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }],
  };
}

/** Creates the main and param tables unless they exist, and waits until both are ACTIVE. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all([
    ensureTable(client, mainTableDefinition(names.mainTable)),
    ensureTable(client, paramTableDefinition(names.paramTable)),
  ]);
}

async function ensureTable(client: DynamoDBClient, definition: CreateTableCommandInput): Promise<void> {
  const name = definition.TableName!;
  try {
    await client.send(new CreateTableCommand(definition));
  } catch (error) {
    // Already there, or another process created it a moment ago.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  // Indexes given to CreateTable are built while the table is CREATING: ACTIVE covers them.
  await waitUntilTableExists({ client, minDelay: 1, maxDelay: 5, maxWaitTime: 60 }, { TableName: name });
}

/** Writes the region's stopFlag exactly as the seed's `aws dynamodb put-item` does: a string. */
export async function putStopFlag(doc: DynamoDBDocumentClient, paramTable: string, value: boolean | StopFlagValue): Promise<void> {
  const text: StopFlagValue = value === true || value === 'true' ? 'true' : 'false';
  await doc.send(new PutCommand({ TableName: paramTable, Item: { PK: STOP_FLAG_KEY, value: text } }));
}

/**
 * Reads the region's stopFlag (consistent read). Returns undefined when the item is absent;
 * any value other than the string "true" counts as open, like the seed.
 */
export async function getStopFlag(doc: DynamoDBDocumentClient, paramTable: string): Promise<StopFlagValue | undefined> {
  const { Item } = await doc.send(new GetCommand({ TableName: paramTable, Key: { PK: STOP_FLAG_KEY }, ConsistentRead: true }));
  if (!Item) return undefined;
  return Item.value === 'true' ? 'true' : 'false';
}
