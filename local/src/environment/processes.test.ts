import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@corebank/kit';
import { startServiceProcess, waitForServiceProcess, type ServiceProcess } from './processes.ts';

const FIXTURE = 'local/test/fixtures/health-server.mjs';
const logDir = mkdtempSync(join(tmpdir(), 'corebank-processes-'));
const started: ServiceProcess[] = [];
const squatters: Server[] = [];

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop()));
  for (const squatter of squatters) squatter.closeAllConnections();
  await Promise.all(squatters.map((squatter) => new Promise((resolve) => squatter.close(resolve))));
  rmSync(logDir, { recursive: true, force: true });
});

function startFixture(port: number): ServiceProcess {
  const service = startServiceProcess({ name: 'fixture', script: FIXTURE, env: { PORT: String(port) }, logFile: join(logDir, `fixture-${port}.log`) });
  started.push(service);
  return service;
}

/** Another program on a free port, answering every request with `status`; resolves with the port. */
async function squat(status: number): Promise<number> {
  const port = await freePort();
  const squatter = createServer((_, response) => response.writeHead(status).end());
  squatters.push(squatter);
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  return port;
}

const healthy = (port: number) => async () => {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
  if (!response.ok) throw new Error(`answered ${response.status}`);
};

describe('waitForServiceProcess', () => {
  it('resolves once the process answers', async () => {
    const port = await freePort();
    await waitForServiceProcess(startFixture(port), 'the fixture', healthy(port));
  });

  it('fails as soon as the process exits, with the line of its log that says why', async () => {
    const port = await squat(503);
    // A deadline far beyond the test's own timeout: only the exit can end the wait in time.
    const waiting = waitForServiceProcess(startFixture(port), 'the fixture', healthy(port), undefined, 600_000);
    await expect(waiting).rejects.toThrow(new RegExp(`^the fixture exited at start \\(1\\): Error: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port} \\(see .*fixture-${port}\\.log\\)$`));
  });

  it('fails for a process that has exited even when the program on its port answers the check', async () => {
    const port = await squat(200);
    const service = startFixture(port);
    await service.exited;
    await expect(waitForServiceProcess(service, 'the fixture', healthy(port))).rejects.toThrow(/^the fixture exited at start \(1\): Error: listen EADDRINUSE/);
  });
});
