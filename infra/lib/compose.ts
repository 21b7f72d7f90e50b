/**
 * Generates services/docker-compose.yml (`npm run compose -w infra`): the single-region system
 * from this repository's images, as the seed's `cd services && docker compose up`. The table
 * definitions come from the transaction service itself, so the compose file cannot drift from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_MAIN_TABLE, DEFAULT_REGION, defaultParamTable, mainTableDefinition, paramTableDefinition } from '../../services/transaction/src/store/tables.ts';

export const COMPOSE_FILE = 'services/docker-compose.yml';
/** Every image listens on 8080 inside (services/Dockerfile: ENV PORT=8080); the host ports are the services' defaults. */
export const HOST_PORTS = { transaction: 3000, balance: 3001, count: 3002 } as const;

const DATABASE_URL = 'postgres://corebank:corebank@postgres:5432/postgres';
const healthCheck = {
  test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"],
  interval: '5s', timeout: '3s', retries: 20,
};
const build = (service: string, entry?: string) => ({
  context: '..', dockerfile: 'services/Dockerfile', args: entry ? { SERVICE: service, ENTRY: entry } : { SERVICE: service },
});
const stopFlagItem = JSON.stringify({ PK: { S: 'stopFlag' }, value: { S: 'false' } });

export function composeDefinition() {
  const paramTable = defaultParamTable(DEFAULT_REGION);
  const dynamoEnvironment = {
    AWS_REGION: DEFAULT_REGION, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local',
    DYNAMODB_ENDPOINT: 'http://dynamodb:8000', MAIN_TABLE: DEFAULT_MAIN_TABLE, PARAM_TABLE: paramTable,
    SERVICE_TOKEN: '${SERVICE_TOKEN:-compose-local-token}',
  };
  const migrate = (service: 'balance' | 'count') => ({
    image: `corebank-${service}`,
    build: build(service),
    command: ['sh', '-c', 'exec node "$ENTRY" migrate'],
    environment: { DATABASE_URL },
    depends_on: { postgres: { condition: 'service_healthy' } },
  });
  const database = (service: 'balance' | 'count') => ({
    image: `corebank-${service}`,
    environment: { DATABASE_URL, SERVICE_TOKEN: '${SERVICE_TOKEN:-compose-local-token}', PORT: '8080' },
    ports: [`${HOST_PORTS[service]}:8080`],
    healthcheck: healthCheck,
    depends_on: { [`${service}-migrate`]: { condition: 'service_completed_successfully' } },
  });
  const aws = (args: string) => `aws dynamodb ${args} --endpoint-url http://dynamodb:8000`;
  return {
    name: 'corebank',
    services: {
      postgres: {
        image: 'postgres:16.6',
        environment: { POSTGRES_USER: 'corebank', POSTGRES_PASSWORD: 'corebank', POSTGRES_DB: 'postgres' },
        healthcheck: { test: ['CMD', 'pg_isready', '-U', 'corebank', '-d', 'postgres'], interval: '2s', timeout: '3s', retries: 30 },
      },
      dynamodb: {
        image: 'amazon/dynamodb-local:2.5.4',
        command: ['-jar', 'DynamoDBLocal.jar', '-sharedDb', '-inMemory'],
        ports: ['8000:8000'],
      },
      'balance-migrate': migrate('balance'),
      'count-migrate': migrate('count'),
      'init-tables': {
        image: 'amazon/aws-cli:2.22.35',
        environment: { AWS_REGION: DEFAULT_REGION, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
        entrypoint: ['sh', '-c'],
        command: [[
          'set -e',
          `for i in $$(seq 60); do ${aws('list-tables')} >/dev/null && break; sleep 1; done`,
          `${aws('create-table')} --cli-input-json '${JSON.stringify(mainTableDefinition(DEFAULT_MAIN_TABLE))}' >/dev/null || true`,
          `${aws('create-table')} --cli-input-json '${JSON.stringify(paramTableDefinition(paramTable))}' >/dev/null || true`,
          `${aws('wait table-exists')} --table-name ${DEFAULT_MAIN_TABLE}`,
          `${aws('wait table-exists')} --table-name ${paramTable}`,
          `${aws('put-item')} --table-name ${paramTable} --item '${stopFlagItem}'`,
        ].join('\n')],
        depends_on: { dynamodb: { condition: 'service_started' } },
      },
      balance: database('balance'),
      count: database('count'),
      transaction: {
        image: 'corebank-transaction',
        build: build('transaction', 'dist/api-main.js'),
        environment: { ...dynamoEnvironment, PORT: '8080', WORKER_URL: 'http://transaction-worker:8080' },
        ports: [`${HOST_PORTS.transaction}:8080`],
        healthcheck: healthCheck,
        depends_on: { 'init-tables': { condition: 'service_completed_successfully' } },
      },
      'transaction-worker': {
        image: 'corebank-transaction',
        environment: {
          ...dynamoEnvironment, PORT: '8080', ENTRY: 'services/transaction/dist/worker-main.js',
          BALANCE_URL: 'http://balance:8080', COUNT_URL: 'http://count:8080',
        },
        healthcheck: healthCheck,
        depends_on: {
          'init-tables': { condition: 'service_completed_successfully' },
          balance: { condition: 'service_healthy' },
          count: { condition: 'service_healthy' },
          transaction: { condition: 'service_started' },
        },
      },
    },
  };
}

export function composeText(): string {
  return `# Generated by \`npm run compose -w infra\` (infra/lib/compose.ts); edit that, not this file.\n`
    + '# The whole single-region system from this repository\'s images, as the seed\'s local run:\n'
    + '#   cd services && docker compose build && docker compose up\n'
    + '# API: http://localhost:3000 (transaction), :3001 (balance), :3002 (count); DynamoDB Local :8000.\n'
    + stringify(composeDefinition(), { lineWidth: 0 });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const target = path.resolve(import.meta.dirname, '../..', COMPOSE_FILE);
  fs.writeFileSync(target, composeText());
  console.log(`wrote ${COMPOSE_FILE}`);
}
