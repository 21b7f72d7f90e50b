import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, waitFor, type App } from '@corebank/kit';
import { builtPathOf, ensureBuilt } from '../../bin/build.js';
import { startServiceProcess } from './processes.ts';
import {
  activeRegionOf,
  buildRoutingControlsApp,
  getRoutingControls,
  openRoutingControlStore,
  parseRoutingControlStates,
  routingControlArnOf,
  RoutingControlsError,
  setRoutingControl,
  watchRoutingControls,
  type RoutingControlStates,
} from './routing-controls.ts';

const TOKYO = 'ap-northeast-1';
const OSAKA = 'ap-northeast-3';
const ORDER = [TOKYO, OSAKA];
const INITIAL: RoutingControlStates = { [TOKYO]: 'On', [OSAKA]: 'Off' };

const root = mkdtempSync(join(tmpdir(), 'corebank-routing-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'case-'));
  file = join(dir, 'routing-controls.json');
});

describe('activeRegionOf', () => {
  it.each([
    [{ [TOKYO]: 'On', [OSAKA]: 'Off' }, TOKYO],
    [{ [TOKYO]: 'Off', [OSAKA]: 'On' }, OSAKA],
    [{ [TOKYO]: 'On', [OSAKA]: 'On' }, TOKYO],
    [{ [TOKYO]: 'Off', [OSAKA]: 'Off' }, undefined],
    [{}, undefined],
    [{ [OSAKA]: 'On' }, OSAKA],
    [{ 'us-east-1': 'On' }, undefined],
  ] as Array<[RoutingControlStates, string | undefined]>)('%j → %s', (states, active) => {
    expect(activeRegionOf(states, ORDER)).toBe(active);
  });

  it('prefers the first On region of the order given, not of the states', () => {
    expect(activeRegionOf({ [TOKYO]: 'On', [OSAKA]: 'On' }, [OSAKA, TOKYO])).toBe(OSAKA);
  });
});

describe('parseRoutingControlStates', () => {
  it('keeps the order given', () => {
    const states = parseRoutingControlStates(`${OSAKA}=Off, ${TOKYO}=On`);
    expect(states).toEqual({ [OSAKA]: 'Off', [TOKYO]: 'On' });
    expect(Object.keys(states)).toEqual([OSAKA, TOKYO]);
  });

  it.each(['', ',', `${TOKYO}=on`, `${TOKYO}`, `${TOKYO}=On=Off`, 'Tokyo=On'])('rejects "%s"', (text) => {
    expect(() => parseRoutingControlStates(text)).toThrow(/ROUTING_CONTROLS_INITIAL/);
  });
});

describe('the routing control store', () => {
  it('writes the initial states when the file does not exist', () => {
    const store = openRoutingControlStore(file, INITIAL);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(INITIAL);
    expect(store.list()).toEqual([
      { RoutingControlName: TOKYO, RoutingControlState: 'On' },
      { RoutingControlName: OSAKA, RoutingControlState: 'Off' },
    ]);
  });

  it('creates the file\'s folder on a first start', () => {
    const nested = join(dir, 'data', 'routing-controls.json');
    openRoutingControlStore(nested, INITIAL);
    expect(JSON.parse(readFileSync(nested, 'utf8'))).toEqual(INITIAL);
  });

  it('keeps what the file says over the initial states, and leaves no temp file', () => {
    openRoutingControlStore(file, INITIAL).set(TOKYO, 'Off');
    const reopened = openRoutingControlStore(file, INITIAL);
    expect(reopened.get(TOKYO)?.RoutingControlState).toBe('Off');
    expect(reopened.get(OSAKA)?.RoutingControlState).toBe('Off');
    expect(readdirSync(dir)).toEqual(['routing-controls.json']);
  });

  it('gives a region the file does not know its initial state, and ignores regions no longer configured', () => {
    writeFileSync(file, JSON.stringify({ [TOKYO]: 'Off', 'us-east-1': 'On' }));
    const store = openRoutingControlStore(file, INITIAL);
    expect(store.list().map((control) => [control.RoutingControlName, control.RoutingControlState])).toEqual([
      [TOKYO, 'Off'],
      [OSAKA, 'Off'],
    ]);
    expect(store.get('us-east-1')).toBeUndefined();
  });

  it('refuses an unknown region without touching the file', () => {
    const store = openRoutingControlStore(file, INITIAL);
    const before = readFileSync(file, 'utf8');
    expect(store.set('us-east-1', 'On')).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it.each(['{not json', '[]', '{"ap-northeast-1":"on"}', 'null'])('names a damaged file (%s) instead of guessing', (content) => {
    writeFileSync(file, content);
    expect(() => openRoutingControlStore(file, INITIAL)).toThrow(/routing controls file .* fix or delete it/);
  });
});

describe('the routing controls API', () => {
  const apps: App[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });
  const serve = async () => {
    const app = buildRoutingControlsApp({ store: openRoutingControlStore(file, INITIAL), logger: false });
    apps.push(app);
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    return { app, url: `http://127.0.0.1:${port}` };
  };

  it('lists, reads and switches controls, as a failover would', async () => {
    const { url } = await serve();
    expect(await getRoutingControls(url)).toEqual(INITIAL);

    expect(await setRoutingControl(url, TOKYO, 'Off')).toEqual({ RoutingControlName: TOKYO, RoutingControlState: 'Off' });
    await setRoutingControl(url, OSAKA, 'On');
    const states = await getRoutingControls(url);
    expect(states).toEqual({ [TOKYO]: 'Off', [OSAKA]: 'On' });
    expect(activeRegionOf(states, ORDER)).toBe(OSAKA);

    const one = await fetch(`${url}/routingcontrols/${OSAKA}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ RoutingControlName: OSAKA, RoutingControlState: 'On' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ [TOKYO]: 'Off', [OSAKA]: 'On' });
  });

  it('is watched by the global endpoint, which keeps the last states while the service is away', async () => {
    const { app, url } = await serve();
    const watch = watchRoutingControls({ url, regionOrder: ORDER, intervalMs: 50 });
    try {
      await watch.ready();
      expect(watch.activeRegion()).toBe(TOKYO);
      await setRoutingControl(url, TOKYO, 'Off');
      await waitFor('no active region', async () => expect(watch.activeRegion()).toBeUndefined(), 5000, 20);
      await setRoutingControl(url, OSAKA, 'On');
      await waitFor('Osaka active', async () => expect(watch.activeRegion()).toBe(OSAKA), 5000, 20);
      await app.close();
      await watch.refresh();
      expect(watch.states()).toEqual({ [TOKYO]: 'Off', [OSAKA]: 'On' });
    } finally {
      watch.stop();
    }
  });

  it('has no active region for a watcher that never got an answer', async () => {
    const watch = watchRoutingControls({ url: `http://127.0.0.1:${await freePort()}`, regionOrder: ORDER });
    await watch.ready();
    watch.stop();
    expect(watch.activeRegion()).toBeUndefined();
  });

  it('answers an unknown region with 404 through the client too', async () => {
    const { url } = await serve();
    const reply = await fetch(`${url}/routingcontrols/us-east-1`);
    expect(reply.status).toBe(404);
    expect(await reply.json()).toEqual({ error: 'not_found', message: 'no routing control for region us-east-1' });
    await expect(setRoutingControl(url, 'us-east-1', 'On')).rejects.toThrow(RoutingControlsError);
    await expect(setRoutingControl(url, 'us-east-1', 'On')).rejects.toMatchObject({ status: 404 });
  });

  it.each([
    ['a lower-case state', { RoutingControlState: 'on' }],
    ['a missing state', {}],
    ['an extra field', { RoutingControlState: 'On', Region: TOKYO }],
    ['a boolean', { RoutingControlState: true }],
  ])('rejects %s with 400 and changes nothing', async (_what, body) => {
    const { url } = await serve();
    const reply = await fetch(`${url}/routingcontrols/${OSAKA}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
    expect((await getRoutingControls(url))[OSAKA]).toBe('Off');
  });

  it('rejects malformed JSON and a malformed region name with 400', async () => {
    const { url } = await serve();
    const malformed = await fetch(`${url}/routingcontrols/${OSAKA}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"RoutingControlState":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'malformed_body' });
    const badName = await fetch(`${url}/routingcontrols/Tokyo%20Region`);
    expect(badName.status).toBe(400);
    expect(await badName.json()).toMatchObject({ error: 'invalid_request' });
  });
});

// The real AWS CLI against the local cluster, as an operator would drive ARC (`.ci/run` installs it).
describe.runIf(existsSync('/usr/bin/aws'))('the AWS CLI against the routing controls', () => {
  const apps: App[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });
  const aws = (endpoint: string, ...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env = { PATH: process.env.PATH ?? '', HOME: dir, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: TOKYO, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
      execFile('/usr/bin/aws', ['route53-recovery-cluster', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('lists, reads and updates the controls as it does on ARC', async () => {
    const app = buildRoutingControlsApp({ store: openRoutingControlStore(file, INITIAL), logger: false });
    apps.push(app);
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    const endpoint = `http://127.0.0.1:${port}`;

    const updated = await aws(endpoint, 'update-routing-control-state', '--routing-control-arn', routingControlArnOf(TOKYO), '--routing-control-state', 'Off');
    expect(updated).toMatchObject({ code: 0 });
    expect(await getRoutingControls(endpoint)).toEqual({ [TOKYO]: 'Off', [OSAKA]: 'Off' });

    const got = await aws(endpoint, 'get-routing-control-state', '--routing-control-arn', routingControlArnOf(TOKYO));
    expect(JSON.parse(got.stdout)).toEqual({ RoutingControlArn: routingControlArnOf(TOKYO), RoutingControlName: TOKYO, RoutingControlState: 'Off' });

    const listed = await aws(endpoint, 'list-routing-controls');
    expect(JSON.parse(listed.stdout).RoutingControls.map((control: { RoutingControlName: string; RoutingControlState: string }) => [control.RoutingControlName, control.RoutingControlState])).toEqual([
      [TOKYO, 'Off'],
      [OSAKA, 'Off'],
    ]);

    const missing = await aws(endpoint, 'get-routing-control-state', '--routing-control-arn', routingControlArnOf('us-east-1'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('ResourceNotFoundException');
  });
});

describe('the ARC wire protocol', () => {
  const apps: App[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('takes the region name as the ARN, and answers bad protocol input with 400 {error, message}', async () => {
    const app = buildRoutingControlsApp({ store: openRoutingControlStore(file, INITIAL), logger: false });
    apps.push(app);
    const send = (target: string, body: string) =>
      app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `ToggleCustomerAPI.${target}` }, body });

    const update = await send('UpdateRoutingControlState', JSON.stringify({ RoutingControlArn: OSAKA, RoutingControlState: 'On' }));
    expect([update.statusCode, update.json()]).toEqual([200, {}]);
    expect(openRoutingControlStore(file, INITIAL).get(OSAKA)?.RoutingControlState).toBe('On');

    for (const [target, body, type] of [
      ['UpdateRoutingControlState', JSON.stringify({ RoutingControlArn: OSAKA, RoutingControlState: 'on' }), undefined],
      ['UpdateRoutingControlState', JSON.stringify({ RoutingControlArn: OSAKA }), 'ValidationException'],
      ['GetRoutingControlState', '{}', 'ValidationException'],
      ['GetRoutingControlState', '{"RoutingControlArn":', undefined],
      ['DeleteRoutingControl', '{}', 'UnknownOperationException'],
    ] as const) {
      const reply = await send(target, body);
      expect(reply.statusCode, `${target} ${body}`).toBe(400);
      expect(reply.json()).toMatchObject({ error: expect.any(String), message: expect.any(String), ...(type ? { __type: type } : {}) });
    }
    expect(openRoutingControlStore(file, INITIAL).get(OSAKA)?.RoutingControlState).toBe('On');
  });
});

describe('the routing controls process', () => {
  // The process runs its bundle, as under `npm start`.
  const ROUTING_CONTROLS_BUNDLE = builtPathOf('local/src/environment/routing-controls-main.ts');
  beforeAll(() => ensureBuilt({ workspaces: ['local'] }), 120_000);

  it('keeps its states across a restart, as they must across `npm start`s', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const start = () =>
      startServiceProcess({
        name: 'routing-controls',
        script: ROUTING_CONTROLS_BUNDLE,
        env: { PORT: String(port), ROUTING_CONTROLS_FILE: file, ROUTING_CONTROLS_INITIAL: `${TOKYO}=On,${OSAKA}=Off`, LOG_LEVEL: 'warn' },
        logFile: join(dir, 'routing-controls.log'),
      });

    const first = start();
    try {
      await waitFor('routing controls', () => getRoutingControls(url), 30_000);
      await setRoutingControl(url, TOKYO, 'Off');
      await setRoutingControl(url, OSAKA, 'On');
    } finally {
      await first.stop();
    }
    expect(await first.exited).toBe(0);

    const second = start();
    try {
      await waitFor('routing controls after the restart', () => getRoutingControls(url), 30_000);
      expect(await getRoutingControls(url)).toEqual({ [TOKYO]: 'Off', [OSAKA]: 'On' });
    } finally {
      await second.stop();
    }
  });

  it('stops with one line naming a bad setting', async () => {
    const child = startServiceProcess({
      name: 'routing-controls',
      script: ROUTING_CONTROLS_BUNDLE,
      env: { PORT: String(await freePort()), ROUTING_CONTROLS_FILE: file, ROUTING_CONTROLS_INITIAL: 'Tokyo=yes' },
      logFile: join(dir, 'bad.log'),
    });
    expect(await child.exited).toBe(2);
    expect(readFileSync(join(dir, 'bad.log'), 'utf8').trim()).toBe('routing-controls: ROUTING_CONTROLS_INITIAL: "Tokyo=yes" is not <region>=On or <region>=Off');
  });
});
