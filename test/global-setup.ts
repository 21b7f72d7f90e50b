import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../local/src/postgres.ts';
import { startDynamoDbLocal } from '../local/src/dynamodb-local.ts';
import { freePort } from '../local/src/ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the run's PostgreSQL server; tests create their own databases on it. */
    postgresAdminUrl: string;
    /** Endpoint of the run's DynamoDB Local; tests create their own tables on it. */
    dynamodbEndpoint: string;
  }
}

/** Starts one PostgreSQL and one DynamoDB Local for the whole run, and stops them after. */
export default async function setup(project: TestProject) {
  const runDir = mkdtempSync(join(tmpdir(), 'corebank-test-'));
  chmodSync(runDir, 0o755); // the server runs as the postgres user when tests run as root
  const dataDir = join(runDir, 'postgres');
  const [postgres, dynamodb] = await Promise.all([
    startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false }),
    startDynamoDbLocal({ port: await freePort() }),
  ]);
  project.provide('postgresAdminUrl', postgres.url('postgres'));
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  return async () => {
    await Promise.all([postgres.stop(), dynamodb.stop()]);
    rmSync(runDir, { recursive: true, force: true });
  };
}
