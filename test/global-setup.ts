import type { TestProject } from 'vitest/node';
import { startTestServers } from './servers.ts';

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
  const servers = await startTestServers();
  project.provide('postgresAdminUrl', servers.postgresAdminUrl);
  project.provide('dynamodbEndpoint', servers.dynamodbEndpoint);
  return () => servers.stop();
}
