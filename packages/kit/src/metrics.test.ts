import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '@corebank/testing';
import { createService } from './http.ts';
import { createPostgresService } from './postgres-service.ts';
import { instrumentAwsClient, registerCounter, registerGauge } from './metrics.ts';

/** The sample lines of `metric` in Prometheus text, without comments. */
const samples = (text: string, metric: string) => text.split('\n').filter((line) => line.startsWith(metric));

describe('GET /metrics', () => {
  const app = createService({ name: 'metrics-test', logger: false });
  app.get<{ Params: { id: string } }>('/accounts/:id', async (request) => ({ id: request.params.id }));
  app.get('/fail', async () => {
    throw new Error('boom');
  });
  afterAll(() => app.close());

  it('answers the request-duration histogram by method, route pattern and status code', async () => {
    await app.inject({ method: 'GET', url: '/accounts/a-1' });
    await app.inject({ method: 'GET', url: '/accounts/a-2' });
    await app.inject({ method: 'GET', url: '/fail' });
    await app.inject({ method: 'GET', url: '/nowhere/at/all' });
    const reply = await app.inject({ method: 'GET', url: '/metrics' });
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = reply.body;
    expect(text).toContain('# TYPE http_server_request_duration_seconds histogram');
    // One series for both accounts: the pattern, never the raw URL.
    expect(samples(text, 'http_server_request_duration_seconds_count')).toEqual(
      expect.arrayContaining([
        'http_server_request_duration_seconds_count{method="GET",route="/accounts/:id",status_code="200"} 2',
        'http_server_request_duration_seconds_count{method="GET",route="/fail",status_code="500"} 1',
        'http_server_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1',
      ]),
    );
    expect(text).not.toContain('a-1');
    expect(samples(text, 'http_server_request_duration_seconds_bucket{le="1",method="GET",route="/accounts/:id"').length).toBe(1);
    expect(text).not.toContain('route="/metrics"');
    // Node's default process metrics.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('keeps each app\'s requests apart', async () => {
    const other = createService({ name: 'metrics-other', logger: false });
    try {
      const text = (await other.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).not.toContain('route="/accounts/:id"');
    } finally {
      await other.close();
    }
  });

  it('serves gauges read at scrape time and counters a process registers', async () => {
    let backlog = 3;
    registerGauge('corebank_test_backlog', 'sagas waiting', () => backlog);
    registerGauge('corebank_test_stuck', 'stuck sagas by step', async () => [
      { labels: { step: 'debit' }, value: 2 },
      { labels: { step: 'credit' }, value: 0 },
    ], ['step']);
    const sagas = registerCounter('corebank_test_sagas_total', 'sagas finished', ['outcome']);
    sagas.inc({ outcome: 'completed' });
    sagas.inc({ outcome: 'completed' });
    expect(registerCounter('corebank_test_sagas_total', 'sagas finished', ['outcome'])).toBe(sagas);
    let text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('corebank_test_backlog 3');
    expect(text).toContain('corebank_test_stuck{step="debit"} 2');
    expect(text).toContain('corebank_test_sagas_total{outcome="completed"} 2');
    backlog = 7;
    text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('corebank_test_backlog 7');
  });
});

describe('PostgreSQL call durations', () => {
  let service: ReturnType<typeof createPostgresService>;
  beforeAll(async () => {
    service = createPostgresService({ name: 'metrics-pg', databaseUrl: await freshDatabase('kit_metrics'), logger: false });
  });
  afterAll(() => service.app.close());

  it('times pool.query by operation and outcome', async () => {
    await service.pool.query('SELECT 1');
    await expect(service.pool.query('SELECT * FROM no_such_table')).rejects.toThrow();
    const text = (await service.app.inject({ method: 'GET', url: '/metrics' })).body;
    const ok = samples(text, 'db_client_operation_duration_seconds_count{db_system="postgresql",operation="SELECT",outcome="ok"}');
    const failed = samples(text, 'db_client_operation_duration_seconds_count{db_system="postgresql",operation="SELECT",outcome="error"}');
    expect(Number(ok[0]?.split(' ')[1])).toBeGreaterThanOrEqual(1);
    expect(Number(failed[0]?.split(' ')[1])).toBeGreaterThanOrEqual(1);
  });
});

describe('DynamoDB call durations', () => {
  it('times every command an instrumented AWS SDK client sends, the document client\'s too, once each', async () => {
    const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient, ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    const { dynamodbEndpoint } = await import('@corebank/testing');
    const client = new DynamoDBClient({ region: 'ap-northeast-1', endpoint: dynamodbEndpoint(), credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    instrumentAwsClient(client);
    const documents = DynamoDBDocumentClient.from(client);
    const app = createService({ name: 'metrics-dynamo', logger: false });
    try {
      const count = async (operation: string, outcome: string) => {
        const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        const line = samples(text, `db_client_operation_duration_seconds_count{db_system="dynamodb",operation="${operation}",outcome="${outcome}"}`)[0];
        return Number(line?.split(' ')[1] ?? 0);
      };
      const listed = await count('ListTables', 'ok');
      const failedScans = await count('Scan', 'error');
      await client.send(new ListTablesCommand({}));
      await expect(documents.send(new ScanCommand({ TableName: 'no-such-table-metrics' }))).rejects.toThrow();
      expect(await count('ListTables', 'ok')).toBe(listed + 1);
      expect(await count('Scan', 'error')).toBe(failedScans + 1);
    } finally {
      await app.close();
      client.destroy();
    }
  });
});
