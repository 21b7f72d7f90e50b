import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_MAIN_TABLE, defaultParamTable, mainTableDefinition, paramTableDefinition } from '../../services/transaction/src/store/tables.ts';
import { DEFAULT_API_PORT } from '../../services/transaction/src/config.ts';
import { COMPOSE_FILE, HOST_PORTS, composeText } from '../lib/compose.ts';

// No Docker engine here: the compose file is checked statically against the services' own settings.
const root = path.resolve(import.meta.dirname, '../..');
const text = fs.readFileSync(path.join(root, COMPOSE_FILE), 'utf8');
const compose = parse(text);
const services = compose.services as Record<string, any>;
const dockerfile = fs.readFileSync(path.join(root, 'services/Dockerfile'), 'utf8');

describe('services/docker-compose.yml', () => {
  it('is the generated one (npm run compose -w infra)', () => {
    expect(text).toBe(composeText());
  });

  it('runs the databases from pinned postgres and amazon/dynamodb-local images, DynamoDB Local with -sharedDb as the seed', () => {
    expect(services.postgres.image).toMatch(/^postgres:\d+\.\d+$/);
    expect(services.postgres.healthcheck.test).toContain('pg_isready');
    expect(services.dynamodb.image).toMatch(/^amazon\/dynamodb-local:\d+\.\d+\.\d+$/);
    expect(services.dynamodb.command).toContain('-sharedDb');
    expect(services.dynamodb.ports).toEqual(['8000:8000']);
  });

  it('builds the services from services/Dockerfile with the build arguments its comments give', () => {
    expect(services.balance['image']).toBe('corebank-balance');
    expect(services['balance-migrate'].build).toEqual({ context: '..', dockerfile: 'services/Dockerfile', args: { SERVICE: 'balance' } });
    expect(services['count-migrate'].build).toEqual({ context: '..', dockerfile: 'services/Dockerfile', args: { SERVICE: 'count' } });
    expect(services.transaction.build).toEqual({ context: '..', dockerfile: 'services/Dockerfile', args: { SERVICE: 'transaction', ENTRY: 'dist/api-main.js' } });
    expect(dockerfile).toContain('--build-arg SERVICE=transaction --build-arg ENTRY=dist/api-main.js');
    expect(services['transaction-worker'].environment.ENTRY).toBe('services/transaction/dist/worker-main.js');
    // the bundles are built from these entry points (local/bin/build.js)
    for (const entry of ['services/transaction/src/api-main.ts', 'services/transaction/src/worker-main.ts', 'services/balance/src/main.ts', 'services/count/src/main.ts']) {
      expect(fs.existsSync(path.join(root, entry)), entry).toBe(true);
    }
  });

  it('publishes each service on its default port, mapped to the image\'s PORT', () => {
    const imagePort = dockerfile.match(/ENV .*\bPORT=(\d+)/)![1];
    expect(HOST_PORTS.transaction).toBe(DEFAULT_API_PORT);
    for (const [service, port] of Object.entries(HOST_PORTS)) {
      expect(services[service].ports).toEqual([`${port}:${imagePort}`]);
      expect(services[service].environment.PORT).toBe(imagePort);
    }
    expect(services['transaction-worker'].ports).toBeUndefined();
  });

  it('migrates both databases and creates the tables in one-shot services that the services wait for', () => {
    for (const service of ['balance', 'count']) {
      expect(services[`${service}-migrate`].command.join(' ')).toBe('sh -c exec node "$ENTRY" migrate');
      expect(services[`${service}-migrate`].depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(services[service].depends_on).toEqual({ [`${service}-migrate`]: { condition: 'service_completed_successfully' } });
      expect(services[service].environment.DATABASE_URL).toMatch(/^postgres:\/\/\w+:\w+@postgres:5432\/postgres$/);
    }
    for (const service of ['transaction', 'transaction-worker']) {
      expect(services[service].depends_on['init-tables']).toEqual({ condition: 'service_completed_successfully' });
    }
    expect(services['transaction-worker'].depends_on.balance).toEqual({ condition: 'service_healthy' });
    expect(services['transaction-worker'].depends_on.count).toEqual({ condition: 'service_healthy' });
  });

  it('creates the tables exactly as the transaction service defines them, and opens the region as the seed does', () => {
    const script: string = services['init-tables'].command[0];
    const inputs = [...script.matchAll(/--cli-input-json '([^']+)'/g)].map((m) => JSON.parse(m[1]!));
    const paramTable = defaultParamTable('ap-northeast-1');
    expect(inputs).toEqual([mainTableDefinition(DEFAULT_MAIN_TABLE), paramTableDefinition(paramTable)]);
    expect(script).toContain(`put-item --endpoint-url http://dynamodb:8000 --table-name ${paramTable} --item '{"PK":{"S":"stopFlag"},"value":{"S":"false"}}'`);
    expect(services['init-tables'].image).toMatch(/^amazon\/aws-cli:\d+\.\d+\.\d+$/);
  });

  it('configures the transaction API and worker with the variables they read', () => {
    const api = services.transaction.environment;
    expect(api).toMatchObject({ MAIN_TABLE: DEFAULT_MAIN_TABLE, PARAM_TABLE: defaultParamTable('ap-northeast-1'), DYNAMODB_ENDPOINT: 'http://dynamodb:8000', WORKER_URL: 'http://transaction-worker:8080' });
    const worker = services['transaction-worker'].environment;
    expect(worker).toMatchObject({ BALANCE_URL: 'http://balance:8080', COUNT_URL: 'http://count:8080' });
    for (const env of [api, worker, services.balance.environment, services.count.environment]) expect(env.SERVICE_TOKEN).toBeTruthy();
  });

  it('health-checks every long-running service on GET /health at its PORT', () => {
    for (const service of ['balance', 'count', 'transaction', 'transaction-worker']) {
      expect(services[service].healthcheck.test.join(' '), service).toContain("'+process.env.PORT+'/health'");
    }
  });
});
