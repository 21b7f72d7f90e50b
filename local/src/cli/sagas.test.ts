import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients, createSagaStore, ensureTables, type SagaStore } from '@corebank/transaction';
import { dynamodbEndpoint, freshTablePrefix } from '@corebank/testing';
import { REPO_ROOT } from '../environment/processes.ts';

const run = promisify(execFile);
const mainTable = `${freshTablePrefix('cli-sagas')}-main`;
let dynamo: ReturnType<typeof createDynamoClients>;
let store: SagaStore;

const corebank = (...args: string[]) =>
  run(process.execPath, ['local/bin/corebank.js', ...args], { cwd: REPO_ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: dynamodbEndpoint(), MAIN_TABLE: mainTable } });

beforeAll(async () => {
  dynamo = createDynamoClients({ region: 'ap-northeast-1', endpoint: dynamodbEndpoint() });
  await ensureTables(dynamo.client, { mainTable, paramTable: `${mainTable}-param` });
  store = createSagaStore({ doc: dynamo.doc, mainTable });
});
afterAll(() => dynamo?.destroy());

describe('corebank sagas --stuck', () => {
  it('lists stuck sagas with account, id, step, last error and since when; --json too; --resume puts one back', async () => {
    expect((await corebank('--help')).stdout).toMatch(/sagas/);
    expect((await corebank('sagas', '--stuck')).stdout).toContain('no stuck sagas');

    const created = await store.createSaga({ transactionId: crypto.randomUUID(), accountId: 'cli-stuck', kind: 'withdraw', quantity: 10 });
    if (created.outcome !== 'created') throw new Error(created.outcome);
    const claimed = (await store.claimSaga(created.saga.transactionId, 'w', 10_000))!;
    const compensating = await store.recordStep(claimed, 'w', 'withdraw_count_comp', 10_000);
    const stuck = await store.markStuck(compensating, 'w', 'compensation refused with 404');

    const table = (await corebank('sagas', '--stuck')).stdout;
    expect(table).toContain(['cli-stuck', created.saga.transactionId, 'withdraw_count_comp', stuck.stuckSince, 'compensation refused with 404'].join('\t'));
    const listed = JSON.parse((await corebank('sagas', '--stuck', '--json')).stdout);
    expect(listed).toEqual([
      { accountId: 'cli-stuck', transactionId: created.saga.transactionId, kind: 'withdraw', step: 'withdraw_count_comp', lastError: 'compensation refused with 404', stuckSince: stuck.stuckSince },
    ]);

    expect((await corebank('sagas', '--resume', created.saga.transactionId)).stdout).toContain('resumed');
    expect(JSON.parse((await corebank('sagas', '--stuck', '--json')).stdout)).toEqual([]);
    await expect(corebank('sagas', '--resume', created.saga.transactionId)).rejects.toMatchObject({ stderr: expect.stringContaining('is not stuck') });
  }, 60_000);
});
