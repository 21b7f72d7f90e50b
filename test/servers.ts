import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../local/src/environment/postgres.ts';
import { startDynamoDbLocal } from '../local/src/environment/dynamodb-local.ts';
import { freePort } from '@corebank/kit';

export interface TestServers {
  postgresAdminUrl: string;
  dynamodbEndpoint: string;
  stop(): Promise<void>;
}

/**
 * One PostgreSQL and one DynamoDB Local for a test run, in a temporary folder. If either
 * cannot start, the other is stopped (once it has settled) and the folder removed before
 * this rejects: a failed set-up leaves no process behind.
 */
export async function startTestServers(ports: { postgres?: number; dynamodb?: number } = {}): Promise<TestServers> {
  const runDir = mkdtempSync(join(tmpdir(), 'corebank-test-'));
  chmodSync(runDir, 0o755); // the server runs as the postgres user when tests run as root
  const [postgres, dynamodb] = await Promise.allSettled([
    startEmbeddedPostgres({ dataDir: join(runDir, 'postgres'), port: ports.postgres ?? (await freePort()), persistent: false }),
    startDynamoDbLocal({ port: ports.dynamodb ?? (await freePort()) }),
  ]);
  const stop = async () => {
    await Promise.all([postgres, dynamodb].map((started) => (started.status === 'fulfilled' ? started.value.stop() : undefined)));
    rmSync(runDir, { recursive: true, force: true });
  };
  if (postgres.status === 'rejected' || dynamodb.status === 'rejected') {
    await stop();
    throw postgres.status === 'rejected' ? postgres.reason : (dynamodb as PromiseRejectedResult).reason;
  }
  return { postgresAdminUrl: postgres.value.url('postgres'), dynamodbEndpoint: dynamodb.value.endpoint, stop };
}
