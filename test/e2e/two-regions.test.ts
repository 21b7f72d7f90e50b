import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { OSAKA, TOKYO } from '../../local/src/environment/regions.ts';
import { startScratchSystem, type ScratchSystem } from '../../local/src/environment/scratch-system.ts';
import type { SystemStatus } from '../../local/src/cli/program.ts';
import type { ServiceName } from '../../local/src/environment/system.ts';
import { apiClient } from './api-client.ts';

let system: ScratchSystem;
let globalApi: ReturnType<typeof apiClient>;
let tokyo: ReturnType<typeof apiClient>;
let osaka: ReturnType<typeof apiClient>;
const newAccount = () => `two${randomUUID().replaceAll('-', '').slice(0, 16)}`;
/** The corebank command against this scratch system: it finds the ports in the data folder's endpoints.json. */
const corebank = (...args: string[]) => system.corebank(...args);
const status = async () => JSON.parse(await corebank('status', '--json')) as SystemStatus;

beforeAll(async () => {
  // Short leases, so that sagas a killed worker held are taken over within seconds.
  system = await startScratchSystem({ serviceEnv: { WORKER_POLL_MS: '200', WORKER_LEASE_MS: '9000', STOP_FLAG_TTL_MS: '1000' }, tmpPrefix: 'corebank-two-regions-' });
  globalApi = apiClient(system.globalEndpoint);
  tokyo = apiClient(system.regions[0]!.endpoint);
  osaka = apiClient(system.regions[1]!.endpoint);
}, 120_000);
afterAll(() => system?.stop(), 60_000);

const regionOf = (name: string) => system.regions.find((region) => region.spec.name === name)!;

/** Deposits through the global endpoint, retrying what the client would retry (a 5xx from the edge, a 429), same Idempotency-Key. */
async function depositWithRetry(account: string, quantity: number): Promise<string> {
  const key = randomUUID();
  let transactionId = '';
  await waitFor(`deposit for ${account}`, async () => {
    const reply = await globalApi.deposit(account, quantity, { 'Idempotency-Key': key });
    if (reply.status !== 200) throw new Error(`got ${reply.status} ${JSON.stringify(reply.body)}`);
    transactionId = reply.body.transactionId;
  }, 30_000, 100);
  return transactionId;
}

/** SIGKILLs instance `index` of a service and resolves once the supervisor has it healthy again; returns how long that took. */
async function killAndAwaitReturn(region: string, service: ServiceName, index = 0): Promise<number> {
  const killed = regionOf(region).pidOf(service, index)!;
  expect(killed).toBeGreaterThan(0);
  const killedAt = Date.now();
  process.kill(killed, 'SIGKILL');
  await waitFor(`${region} ${service}#${index} back`, async () => {
    const instance = system.supervisor.snapshot().find((each) => each.region === region && each.service === service)?.instances.find((each) => each.index === index);
    if (!instance || instance.pid === killed || instance.state !== 'healthy') throw new Error(`instance: ${JSON.stringify(instance)}`);
  }, 10_000, 50);
  return Date.now() - killedAt;
}

describe('both regions as the deployment stands before a failover', () => {
  it('answers on both regional endpoints; Osaka is closed; a deposit through the global endpoint is readable on Osaka within a second', async () => {
    const account = newAccount();
    expect((await fetch(`${system.regions[0]!.endpoint}/health`)).status).toBe(200);
    expect((await fetch(`${system.regions[1]!.endpoint}/health`)).status).toBe(200);
    const closed = await osaka.deposit(account, 10);
    expect(closed.status).toBe(503);
    expect(closed.body.error).toBe('region_closed');

    const reply = await globalApi.deposit(account, 1000);
    expect(reply.status).toBe(200);
    expect(await globalApi.finished(account, reply.body.transactionId)).toBe('status#success');
    const endedAt = Date.now();
    await waitFor('the balance on Osaka', async () => expect(await osaka.balance(account)).toBe(1000), 1000, 20);
    expect(Date.now() - endedAt).toBeLessThan(1000);
    expect(await tokyo.balance(account)).toBe(1000);
  });

  it('has PostgreSQL itself refuse a write on Osaka\'s database connection (SQLSTATE 25006)', async () => {
    const client = new pg.Client({ connectionString: regionOf(OSAKA.name).databaseUrls.balance });
    await client.connect();
    try {
      const write = client.query('CREATE TABLE refused_on_standby (id int)');
      await expect(write).rejects.toMatchObject({ code: '25006' });
      expect((await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')).rows[0]!.recovery).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('reports both regions in `corebank status --json` and as a table', async () => {
    const reported = await status();
    expect(reported.activeRegion).toBe(TOKYO.name);
    expect(reported.regions.map((region) => region.region)).toEqual([TOKYO.name, OSAKA.name]);
    const [t, o] = reported.regions;
    expect(t).toMatchObject({ stopFlag: false, routingControl: 'On', database: 'primary', replicationLagBytes: null });
    expect(o).toMatchObject({ stopFlag: true, routingControl: 'Off', database: 'standby' });
    expect(typeof o!.replicationLagBytes).toBe('number');
    for (const region of reported.regions) {
      expect(Object.keys(region.services).sort()).toEqual(['balance', 'count', 'transaction', 'worker']);
      for (const service of Object.values(region.services)) expect(service).toMatchObject({ desired: 1, running: 1, healthy: 1 });
    }
    const table = await corebank('status');
    expect(table).toContain(`Tokyo (${TOKYO.name})  open`);
    expect(table).toContain(`Osaka (${OSAKA.name})  closed`);
    expect(table).toMatch(/database standby, replication lag \d+ bytes/);
  });
});

describe('the supervisor', () => {
  it('starts a SIGKILLed worker, balance and count again within 10 s under load, and every saga ends', async () => {
    const accounts = Array.from({ length: 12 }, newAccount);
    let loading = true;
    const sagas: Array<{ account: string; transactionId: string }> = [];
    const load = (async () => {
      for (let round = 0; loading && round < 200; round += 1) {
        await Promise.all(accounts.map(async (account) => sagas.push({ account, transactionId: await depositWithRetry(account, 10) })));
      }
    })();
    try {
      for (const service of ['worker', 'balance', 'count'] as const) {
        const back = await killAndAwaitReturn(TOKYO.name, service);
        expect(back, `${service} back within 10 s`).toBeLessThan(10_000);
      }
    } finally {
      loading = false;
      await load;
    }
    const ends = await Promise.all(sagas.map(({ account, transactionId }) => globalApi.finished(account, transactionId, 60_000)));
    expect(new Set(ends)).toEqual(new Set(['status#success']));
    const byAccount = new Map<string, number>();
    for (const { account } of sagas) byAccount.set(account, (byAccount.get(account) ?? 0) + 10);
    for (const [account, expected] of byAccount) expect(await globalApi.balance(account)).toBe(expected);
  }, 90_000);

  it('scales the worker to 0 and back to 1 leaving no saga stuck', async () => {
    const accounts = Array.from({ length: 6 }, newAccount);
    const before = await Promise.all(accounts.map((account) => depositWithRetry(account, 100)));
    expect(await corebank('scale', TOKYO.name, 'worker', '0')).toContain('desired 0');
    await waitFor('no worker running', async () => expect((await status()).regions[0]!.services.worker!.running).toBe(0), 15_000, 200);
    // Accepted while no worker runs: they wait, pending, for the next one.
    const during = await Promise.all(accounts.map((account) => globalApi.deposit(account, 1)));
    expect(await corebank('scale', TOKYO.name, 'worker', '1')).toContain('desired 1');
    for (const [i, account] of accounts.entries()) {
      expect(await globalApi.finished(account, before[i]!, 30_000)).toBe('status#success');
      if (during[i]!.status === 200) expect(await globalApi.finished(account, during[i]!.body.transactionId, 30_000)).toBe('status#success');
    }
    expect(JSON.parse(await corebank('sagas', '--stuck', '--json'))).toEqual([]);
  }, 60_000);

  it('keeps every retried request with 2 balance instances when one is SIGKILLed', async () => {
    const account = newAccount();
    await globalApi.finished(account, await depositWithRetry(account, 500));
    await corebank('scale', TOKYO.name, 'balance', '2');
    await waitFor('2 healthy balance instances', async () => expect(system.supervisor.snapshot().find((each) => each.region === TOKYO.name && each.service === 'balance')!.healthy).toBe(2), 15_000, 100);
    let reading = true;
    let retried = 0;
    const answers: number[] = [];
    const readers = Array.from({ length: 4 }, async () => {
      while (reading) {
        let attempt = 0;
        for (;;) {
          const reply = await tokyo.call('GET', '/balance', account);
          if (reply.status === 200) {
            answers.push(reply.body.balance);
            break;
          }
          attempt += 1;
          retried += 1;
          if (attempt >= 10) throw new Error(`GET /balance still ${reply.status} after 10 tries`);
        }
      }
    });
    try {
      await killAndAwaitReturn(TOKYO.name, 'balance', 1);
    } finally {
      reading = false;
    }
    await Promise.all(readers);
    expect(answers.length).toBeGreaterThan(0);
    expect(new Set(answers)).toEqual(new Set([500]));
    expect(retried).toBeLessThan(answers.length);
    await corebank('scale', TOKYO.name, 'balance', '1');
  }, 60_000);
});

describe('routing controls', () => {
  it('moves the global endpoint to Osaka and back with `corebank routing set`, and keeps the states across a restart', async () => {
    const account = newAccount();
    await corebank('routing', 'set', TOKYO.name, 'Off');
    expect(await corebank('routing', 'set', OSAKA.name, 'On')).toContain(`${OSAKA.name}: routing control On`);
    // Osaka is still closed (stopFlag true): the global endpoint now answers with its 503.
    await waitFor('the global endpoint on Osaka', async () => {
      const reply = await globalApi.deposit(account, 10);
      expect(reply.status).toBe(503);
      expect(reply.body.error).toBe('region_closed');
    }, 5000, 100);
    expect(await corebank('routing', 'get')).toContain(`active region: ${OSAKA.name}`);

    await corebank('routing', 'set', OSAKA.name, 'Off');
    await waitFor('no active region', async () => expect((await globalApi.deposit(account, 10)).body.error).toBe('no_active_region'), 5000, 100);
    await corebank('routing', 'set', TOKYO.name, 'On');
    await waitFor('the global endpoint back on Tokyo', async () => expect((await globalApi.deposit(account, 10)).status).toBe(200), 5000, 100);

    // A state set now is what the next start finds.
    await corebank('routing', 'set', OSAKA.name, 'On');
    await system.restart();
    const states = await corebank('routing', 'get');
    expect(states).toContain(`${TOKYO.name}\tOn`);
    expect(states).toContain(`${OSAKA.name}\tOn`);
    expect((await status()).activeRegion).toBe(TOKYO.name);
  }, 90_000);
});
