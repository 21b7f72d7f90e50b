/**
 * The supervisor against real processes: a tiny HTTP server (local/test/fixtures) launched the
 * way the local system launches services, killed with SIGKILL as an OOM kill would.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { App } from '@corebank/kit';
import { freePort, waitFor } from '@corebank/kit';
import { isProcessAlive, startServiceProcess } from './processes.ts';
import { createSupervisor, type Supervisor, type SupervisorEvent, type SupervisorOptions } from './supervisor.ts';
import { buildSupervisorApp, getServiceStatus, getTargets, scaleService, SupervisorApiError, watchTargets } from './supervisor-api.ts';

const REGION = 'ap-northeast-1';
const FIXTURE = 'local/test/fixtures/health-server.mjs';
const BACKOFF = { initialMs: 300, maxMs: 1000, stableMs: 30_000 };
const READY_AFTER_MS = 300;

const logDir = mkdtempSync(join(tmpdir(), 'corebank-supervisor-'));
afterAll(() => rmSync(logDir, { recursive: true, force: true }));

const running: Supervisor[] = [];
const apps: App[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(running.splice(0).map((supervisor) => supervisor.stop()));
});

const url = (port: number) => `http://127.0.0.1:${port}`;
const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

async function supervise(services: Array<{ service: string; ports: number; desired?: number; env?: Record<string, string> }>, extra: Partial<SupervisorOptions> = {}) {
  const events: Array<SupervisorEvent & { at: number; targets: string[] }> = [];
  const pids = new Set<number>();
  const envOf = new Map(services.map((spec) => [spec.service, spec.env ?? {}]));
  const specs = await Promise.all(
    services.map(async (spec) => ({
      region: REGION,
      service: spec.service,
      ports: await Promise.all(Array.from({ length: spec.ports }, () => freePort())),
      desired: spec.desired ?? 1,
    })),
  );
  let supervisor: Supervisor | undefined;
  supervisor = createSupervisor({
    services: specs,
    launch: (region, service, port) => {
      const child = startServiceProcess({
        name: `${region}/${service}:${port}`,
        script: FIXTURE,
        env: { PORT: String(port), READY_AFTER_MS: String(READY_AFTER_MS), ...envOf.get(service) },
        logFile: join(logDir, `${service}-${port}.log`),
      });
      if (child.pid) pids.add(child.pid);
      return child;
    },
    tickMs: 25,
    healthIntervalMs: 200,
    healthTimeoutMs: 500,
    backoff: BACKOFF,
    stopGraceMs: 2000,
    onEvent: (event) => events.push({ ...event, at: Date.now(), targets: supervisor?.targets(event.region, event.service) ?? [] }),
    ...extra,
  });
  running.push(supervisor);
  return { supervisor, events, pids, portsOf: (service: string) => specs.find((spec) => spec.service === service)!.ports };
}

const statusOf = (supervisor: Supervisor, service: string) => supervisor.snapshot().find((status) => status.service === service)!;

describe('the supervisor with real processes', () => {
  it('restarts an instance killed with SIGKILL after its backoff, and puts it back in rotation only once it answers', async () => {
    const { supervisor, events, portsOf } = await supervise([{ service: 'balance', ports: 2 }]);
    const [port] = portsOf('balance');
    await waitFor('the first instance in rotation', async () => expect(supervisor.targets(REGION, 'balance')).toEqual([url(port!)]), 30_000, 20);
    const firstPid = statusOf(supervisor, 'balance').instances[0]!.pid!;
    expect(isProcessAlive(firstPid)).toBe(true);

    process.kill(firstPid, 'SIGKILL');
    await waitFor('the restarted instance in rotation', async () => {
      const instance = statusOf(supervisor, 'balance').instances[0]!;
      expect(instance).toMatchObject({ state: 'healthy', restarts: 1 });
      expect(instance.pid).not.toBe(firstPid);
    }, 30_000, 20);
    expect(isProcessAlive(firstPid)).toBe(false);
    expect(supervisor.targets(REGION, 'balance')).toEqual([url(port!)]);

    const after = (type: SupervisorEvent['type'], from: number) => events.findIndex((event, i) => i > from && event.type === type);
    const exited = after('exited', -1);
    const restarted = after('started', exited);
    const healthy = after('healthy', restarted);
    expect([exited, restarted, healthy].every((i) => i >= 0)).toBe(true);
    expect(events[exited]).toMatchObject({ code: 'SIGKILL', restartInMs: BACKOFF.initialMs, targets: [] });
    expect(events[restarted]).toMatchObject({ restart: true, targets: [] });
    expect(events[healthy]!.targets).toEqual([url(port!)]);
    const waited = events[restarted]!.at - events[exited]!.at;
    expect(waited).toBeGreaterThanOrEqual(BACKOFF.initialMs);
    expect(waited).toBeLessThan(BACKOFF.initialMs + 2000);
    // The fixture fails its health check for its first READY_AFTER_MS: the supervisor did not take it early.
    expect(events[healthy]!.at - events[restarted]!.at).toBeGreaterThanOrEqual(READY_AFTER_MS);
  });

  it('takes an instance that fails its health check out of rotation without restarting it, and back in once it answers', async () => {
    const sickFile = join(logDir, 'count-sick');
    const { supervisor, events } = await supervise([{ service: 'count', ports: 1, env: { SICK_FILE: sickFile } }]);
    await waitFor('count in rotation', async () => expect(supervisor.targets(REGION, 'count')).toHaveLength(1), 30_000, 20);
    const pid = statusOf(supervisor, 'count').instances[0]!.pid;

    writeFileSync(sickFile, '');
    await waitFor('count out of rotation', async () => expect(statusOf(supervisor, 'count').instances[0]!.state).toBe('unhealthy'), 30_000, 20);
    expect(supervisor.targets(REGION, 'count')).toEqual([]);
    expect(statusOf(supervisor, 'count')).toMatchObject({ running: 1, healthy: 0 });

    rmSync(sickFile);
    await waitFor('count back in rotation', async () => expect(supervisor.targets(REGION, 'count')).toHaveLength(1), 30_000, 20);
    expect(statusOf(supervisor, 'count').instances[0]).toMatchObject({ pid, restarts: 0 });
    expect(events.map((event) => event.type)).toEqual(['started', 'healthy', 'unhealthy', 'healthy']);
  });

  it('backs off further with each quick crash, and never puts a crashing instance in rotation', async () => {
    const { supervisor, events } = await supervise([{ service: 'count', ports: 1, env: { CRASH: 'true' } }]);
    await waitFor('three crashes', async () => expect(events.filter((event) => event.type === 'exited').length).toBeGreaterThanOrEqual(3), 30_000, 20);
    const exits = events.filter((event) => event.type === 'exited');
    expect(exits.slice(0, 3).map((event) => [event.type === 'exited' && event.code, event.type === 'exited' && event.restartInMs])).toEqual([
      [1, 300],
      [1, 600],
      [1, 1000],
    ]);
    expect(events.some((event) => event.type === 'healthy')).toBe(false);
    expect(supervisor.targets(REGION, 'count')).toEqual([]);
    expect(statusOf(supervisor, 'count').instances[0]!.restarts).toBeGreaterThanOrEqual(2);
  });

  it('scales to 2 on distinct ports, both in rotation, then to 0 with nothing left running', async () => {
    const { supervisor, pids, portsOf } = await supervise([{ service: 'transaction', ports: 3 }]);
    const ports = portsOf('transaction');
    await waitFor('one instance', async () => expect(supervisor.targets(REGION, 'transaction')).toHaveLength(1), 30_000, 20);

    expect(supervisor.setDesiredCount(REGION, 'transaction', 2)).toMatchObject({ desired: 2, running: 2 });
    await waitFor('two instances in rotation', async () => expect(supervisor.targets(REGION, 'transaction')).toEqual([url(ports[0]!), url(ports[1]!)]), 30_000, 20);
    const status = statusOf(supervisor, 'transaction');
    expect(status).toMatchObject({ desired: 2, running: 2, healthy: 2 });
    const answering = await Promise.all(status.instances.map(async (instance) => ((await (await fetch(`${url(instance.port)}/health`)).json()) as { pid: number }).pid));
    expect(answering).toEqual(status.instances.map((instance) => instance.pid));
    expect(new Set(answering).size).toBe(2);

    supervisor.setDesiredCount(REGION, 'transaction', 0);
    expect(supervisor.targets(REGION, 'transaction')).toEqual([]);
    await waitFor('no instance', async () => expect(statusOf(supervisor, 'transaction')).toEqual({ region: REGION, service: 'transaction', desired: 0, running: 0, healthy: 0, instances: [] }), 30_000, 20);
    expect([...pids].filter(isProcessAlive)).toEqual([]);
    expect(await Promise.all(ports.map(portIsFree))).toEqual([true, true, true]);

    supervisor.setDesiredCount(REGION, 'transaction', 1);
    await waitFor('back to one', async () => expect(supervisor.targets(REGION, 'transaction')).toEqual([url(ports[0]!)]), 30_000, 20);
  });

  it('scaled in, an instance leaves the targets at once and keeps answering through the deregistration delay; stop() does not wait for it', async () => {
    const DELAY_MS = 3000;
    const { supervisor, portsOf } = await supervise([{ service: 'transaction', ports: 2, desired: 2 }], { deregistrationDelayMs: DELAY_MS });
    const ports = portsOf('transaction');
    await waitFor('two instances in rotation', async () => expect(supervisor.targets(REGION, 'transaction')).toHaveLength(2), 30_000, 20);
    const leavingPid = statusOf(supervisor, 'transaction').instances[1]!.pid!;

    const scaledAt = Date.now();
    supervisor.setDesiredCount(REGION, 'transaction', 1);
    expect(supervisor.targets(REGION, 'transaction')).toEqual([url(ports[0]!)]);
    // A request the endpoints sent before their next poll of the targets is still answered.
    expect((await fetch(`${url(ports[1]!)}/health`)).status).toBe(200);
    await waitFor('the instance to stop', async () => expect(isProcessAlive(leavingPid)).toBe(false), 30_000, 20);
    expect(Date.now() - scaledAt).toBeGreaterThanOrEqual(DELAY_MS);

    supervisor.setDesiredCount(REGION, 'transaction', 2);
    await waitFor('two again', async () => expect(supervisor.targets(REGION, 'transaction')).toHaveLength(2), 30_000, 20);
    const pid = statusOf(supervisor, 'transaction').instances[1]!.pid!;
    supervisor.setDesiredCount(REGION, 'transaction', 1);
    const stoppingAt = Date.now();
    await supervisor.stop();
    expect(isProcessAlive(pid)).toBe(false);
    expect(Date.now() - stoppingAt).toBeLessThan(DELAY_MS);
  });

  it('stop() leaves no process and no port behind, even with instances still starting', async () => {
    const { supervisor, pids, portsOf } = await supervise([
      { service: 'balance', ports: 3, desired: 2 },
      { service: 'worker', ports: 1 },
    ]);
    await waitFor('the instances in rotation', async () => expect(supervisor.allTargets()[REGION]).toMatchObject({ balance: [expect.any(String), expect.any(String)], worker: [expect.any(String)] }), 30_000, 20);
    // Instance 1 being stopped, instance 2 just launched, when the supervisor itself stops.
    supervisor.setDesiredCount(REGION, 'balance', 1);
    supervisor.setDesiredCount(REGION, 'balance', 3);
    expect(statusOf(supervisor, 'balance').instances.map((instance) => instance.state)).toEqual(['healthy', 'stopping', 'starting']);
    expect(pids.size).toBe(4);

    await supervisor.stop();
    expect([...pids].filter(isProcessAlive)).toEqual([]);
    expect(await Promise.all([...portsOf('balance'), ...portsOf('worker')].map(portIsFree))).toEqual([true, true, true, true]);
    expect(supervisor.snapshot().every((status) => status.instances.length === 0)).toBe(true);
  });
});

describe('the supervisor control API', () => {
  async function serve() {
    const { supervisor, portsOf } = await supervise([
      { service: 'balance', ports: 3 },
      { service: 'count', ports: 1, desired: 0 },
    ]);
    const app = buildSupervisorApp({ supervisor, logger: false });
    apps.push(app);
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    return { supervisor, portsOf, api: url(port) };
  }

  it('reports desired and running counts, scales, and lists the healthy targets', async () => {
    const { api, portsOf } = await serve();
    const ports = portsOf('balance');
    await waitFor('balance in rotation', async () => expect((await getTargets(api))[REGION]).toEqual({ balance: [url(ports[0]!)], count: [] }), 30_000, 20);

    const statuses = await getServiceStatus(api);
    expect(statuses.map(({ service, desired, running, healthy }) => ({ service, desired, running, healthy }))).toEqual([
      { service: 'balance', desired: 1, running: 1, healthy: 1 },
      { service: 'count', desired: 0, running: 0, healthy: 0 },
    ]);
    expect(statuses[0]!.instances).toEqual([{ index: 0, port: ports[0], pid: expect.any(Number), state: 'healthy', restarts: 0 }]);

    expect(await scaleService(api, REGION, 'balance', 2)).toMatchObject({ desired: 2, running: 2, healthy: 1 });
    await waitFor('two balance targets', async () => expect((await getTargets(api))[REGION]!.balance).toEqual([url(ports[0]!), url(ports[1]!)]), 30_000, 20);
  });

  it('is watched by the endpoints, which take turns among the healthy instances and keep the last targets while it is away', async () => {
    const { api, portsOf } = await serve();
    const ports = portsOf('balance');
    const watch = watchTargets({ url: api, intervalMs: 50 });
    try {
      await watch.ready();
      expect(watch.pick(REGION, 'count')).toBeUndefined();
      expect(watch.pick('ap-northeast-3', 'balance')).toBeUndefined();
      await scaleService(api, REGION, 'balance', 2);
      await waitFor('two balance targets', async () => expect(watch.current()[REGION]!.balance).toHaveLength(2), 30_000, 20);
      const picks = Array.from({ length: 4 }, () => watch.pick(REGION, 'balance'));
      expect(picks.sort()).toEqual([url(ports[0]!), url(ports[0]!), url(ports[1]!), url(ports[1]!)].sort());

      await apps.pop()!.close();
      await watch.refresh();
      expect(watch.current()[REGION]!.balance).toEqual([url(ports[0]!), url(ports[1]!)]);
    } finally {
      watch.stop();
    }
  });

  it.each([
    ['a count above the limit', 'balance', { desiredCount: 5 }, 400],
    ['a count above the service\'s ports', 'count', { desiredCount: 2 }, 400],
    ['a negative count', 'balance', { desiredCount: -1 }, 400],
    ['a string count', 'balance', { desiredCount: '2' }, 400],
    ['a fractional count', 'balance', { desiredCount: 1.5 }, 400],
    ['an extra field', 'balance', { desiredCount: 1, force: true }, 400],
    ['an unknown service', 'ledger', { desiredCount: 1 }, 404],
  ])('rejects %s with {error, message} and changes nothing', async (_what, service, body, status) => {
    const { api, supervisor } = await serve();
    const reply = await fetch(`${api}/regions/${REGION}/services/${service}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(reply.status).toBe(status);
    expect(await reply.json()).toEqual({ error: expect.any(String), message: expect.any(String) });
    expect(supervisor.snapshot().map((entry) => entry.desired)).toEqual([1, 0]);
  });

  it('answers an unknown region with 404 through the client', async () => {
    const { api } = await serve();
    const error = await scaleService(api, 'us-east-1', 'balance', 1).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SupervisorApiError);
    expect(error).toMatchObject({ status: 404, message: 'no service balance in region us-east-1' });
  });
});
