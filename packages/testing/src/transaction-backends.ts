/**
 * Test-only helpers (never imported by a service): the real balance and count services
 * on fresh databases, each listening on a free port, and fresh DynamoDB tables.
 */
import { type App, createServiceClient, freePort } from '@corebank/kit';
import { buildBalanceApp, migrateBalance } from '@corebank/balance';
import { buildCountApp, migrateCount } from '@corebank/count';
import { dynamodbEndpoint, freshDatabase, freshTablePrefix } from './databases.ts';
import { createDynamoClients, ensureTables, periodOf, putStopFlag, type DynamoClients } from '@corebank/transaction';

export const TEST_SERVICE_TOKEN = 'transaction-test-token';

export async function listenOnFreePort(app: App): Promise<string> {
  const port = await freePort();
  await app.listen({ port, host: '127.0.0.1' });
  return `http://127.0.0.1:${port}`;
}

export interface Backends {
  dynamo: DynamoClients;
  dynamodbEndpoint: string;
  tables: { region: string; mainTable: string; paramTable: string };
  balanceUrl: string;
  countUrl: string;
  /** What a worker on these backends is built from: the tables, DynamoDB, balance and count, the token, no logs. */
  workerSettings: { region: string; mainTable: string; paramTable: string; dynamo: DynamoClients; balanceUrl: string; countUrl: string; serviceToken: string; logger: false };
  /** The same for a transaction API whose worker answers at `workerUrl`. */
  apiSettings(workerUrl: string): { region: string; mainTable: string; paramTable: string; dynamo: DynamoClients; workerUrl: string; serviceToken: string; logger: false };
  balanceOf(account: string): Promise<number>;
  countOf(account: string, period?: string): Promise<number>;
  /** A direct internal call to balance or count, as the worker makes it. */
  internalPut(service: 'balance' | 'count', path: string, account: string, body: unknown): Promise<number>;
  /** Stops the balance service's server: its port refuses connections until `startBalance`. */
  stopBalance(): Promise<void>;
  /** Starts the balance service again on the same port and database. */
  startBalance(): Promise<void>;
  close(): Promise<void>;
}

export async function startBackends(name: string): Promise<Backends> {
  const dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint: dynamodbEndpoint() });
  const prefix = freshTablePrefix(name);
  const tables = { region: 'ap-northeast-1', mainTable: `${prefix}-main`, paramTable: `${prefix}-param` };
  const [balanceDb, countDb] = await Promise.all([freshDatabase(`${name.replace(/-/g, '_')}_balance`), freshDatabase(`${name.replace(/-/g, '_')}_count`), ensureTables(dynamo.client, tables)]);
  await Promise.all([migrateBalance(balanceDb), migrateCount(countDb), putStopFlag(dynamo.doc, tables.paramTable, 'false')]);
  const buildBalance = () => buildBalanceApp({ databaseUrl: balanceDb, serviceToken: TEST_SERVICE_TOKEN, logger: false });
  let balanceApp: App | undefined = buildBalance();
  const countApp = buildCountApp({ databaseUrl: countDb, serviceToken: TEST_SERVICE_TOKEN, logger: false });
  const [balanceUrl, countUrl] = await Promise.all([listenOnFreePort(balanceApp), listenOnFreePort(countApp)]);
  const balancePort = Number(new URL(balanceUrl).port);
  const balance = createServiceClient({ baseUrl: balanceUrl, serviceToken: TEST_SERVICE_TOKEN });
  const count = createServiceClient({ baseUrl: countUrl, serviceToken: TEST_SERVICE_TOKEN });
  return {
    dynamo,
    dynamodbEndpoint: dynamodbEndpoint(),
    tables,
    balanceUrl,
    countUrl,
    workerSettings: { ...tables, dynamo, balanceUrl, countUrl, serviceToken: TEST_SERVICE_TOKEN, logger: false },
    apiSettings: (workerUrl) => ({ ...tables, dynamo, workerUrl, serviceToken: TEST_SERVICE_TOKEN, logger: false }),
    balanceOf: async (account) => (await balance.get<{ balance: number }>('/balance', { X_ACCOUNT_ID: account })).body.balance,
    countOf: async (account, period = periodOf(new Date())) => (await count.get<{ count: number }>(`/count/${account}/${period}`)).body.count,
    internalPut: async (service, path, account, body) => (await (service === 'balance' ? balance : count).put(path, body, { X_ACCOUNT_ID: account })).status,
    stopBalance: async () => {
      await balanceApp?.close();
      balanceApp = undefined;
    },
    startBalance: async () => {
      if (balanceApp) return;
      balanceApp = buildBalance();
      await balanceApp.listen({ port: balancePort, host: '127.0.0.1' });
    },
    close: async () => {
      await Promise.all([balance.close(), count.close()]);
      await Promise.all([balanceApp?.close(), countApp.close()]);
      dynamo.destroy();
    },
  };
}
