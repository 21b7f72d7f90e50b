/**
 * The README's `aws dynamodb put-item` line, run as written with Debian's AWS CLI against
 * a DynamoDB Local of its own (only the port differs), next to the `corebank param` lines
 * it stands beside: both must act on the same param table.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbLocal, type DynamoDbLocalHandle } from '../../local/src/environment/dynamodb-local.ts';
import { freePort } from '@corebank/kit';
import { REPO_ROOT } from '../../local/src/environment/processes.ts';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const README_ENDPOINT = 'http://localhost:8000';

/** The README's put-item command: the one code span that runs `aws dynamodb put-item` against DynamoDB Local. */
function readmePutItem(): string {
  const spans = [...readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').matchAll(/`([^`]*aws dynamodb put-item --endpoint-url [^`]*)`/g)].map((match) => match[1]!);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

let dynamodb: DynamoDbLocalHandle;
let endpoint: string;
const home = mkdtempSync(join(tmpdir(), 'corebank-awscli-'));
// Nothing of the caller's AWS setup (profiles, keys, a pyenv `aws` shim): the command alone must suffice.
const bareEnv = { PATH: '/usr/bin:/bin', HOME: home };

const corebank = (...args: string[]) =>
  run(process.execPath, ['local/bin/corebank.js', ...args], { cwd: REPO_ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: endpoint } });

beforeAll(async () => {
  if (!existsSync(AWS)) throw new Error(`${AWS} is missing: apt-get install -y awscli (.ci/run installs it)`);
  const port = await freePort();
  dynamodb = await startDynamoDbLocal({ port });
  endpoint = `http://localhost:${port}`;
  await corebank('init-tables');
}, 120_000);
afterAll(async () => {
  await dynamodb?.stop();
  rmSync(home, { recursive: true, force: true });
}, 30_000);

describe("the README's parameter commands against DynamoDB Local", () => {
  it('reopens a closed region with the README’s aws dynamodb put-item, as `corebank param get` then reads', async () => {
    expect((await corebank('param', 'put', 'stopFlag', 'true', '--region', 'ap-northeast-1')).stdout).toContain('stopFlag = "true"');
    expect((await corebank('param', 'get', 'stopFlag')).stdout).toContain('stopFlag = "true"');

    const command = readmePutItem();
    expect(command).toContain(README_ENDPOINT);
    await run('/bin/sh', ['-c', command.replace(README_ENDPOINT, endpoint)], { env: bareEnv });

    expect((await corebank('param', 'get', 'stopFlag')).stdout).toContain('ap-northeast-1: stopFlag = "false"');
  }, 60_000);

  it('fails loudly, not silently, when the table does not exist', async () => {
    const command = readmePutItem().replace(README_ENDPOINT, endpoint).replace('corebank-param-ap-northeast-1', 'corebank-param-nowhere');
    await expect(run('/bin/sh', ['-c', command], { env: bareEnv })).rejects.toThrow(/ResourceNotFoundException/);
  }, 60_000);
});
