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
let squatter: Server | undefined;

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop()));
  squatter?.closeAllConnections();
  await new Promise((resolve) => (squatter ? squatter.close(resolve) : resolve(undefined)));
  rmSync(logDir, { recursive: true, force: true });
});

function startFixture(port: number): ServiceProcess {
  const service = startServiceProcess({ name: 'fixture', script: FIXTURE, env: { PORT: String(port) }, logFile: join(logDir, `fixture-${port}.log`) });
  started.push(service);
  return service;
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
    const port = await freePort();
    // Another program on the port, which answers but is not the fixture.
    squatter = createServer((_, response) => response.writeHead(503).end());
    await new Promise<void>((resolve) => squatter!.listen(port, '127.0.0.1', resolve));
    const service = startFixture(port);
    // A deadline far beyond the test's own timeout: only the exit can end the wait in time.
    const waiting = waitForServiceProcess(service, 'the fixture', healthy(port), undefined, 600_000);
    await expect(waiting).rejects.toThrow(new RegExp(`^the fixture exited at start \\(1\\): Error: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port} \\(see .*fixture-${port}\\.log\\)$`));
  });
});
