import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from './waiting.ts';

const SCRIPT = fileURLToPath(new URL('../test/drain-service.ts', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Runs the fixture service as its own process, as a container runs a service. */
async function startService(env: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], { env: { ...process.env, PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor('the service to listen', async () => {
    if (!output.includes('listening')) throw new Error('not yet');
  }, 20_000, 20);
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    exited,
    /** Resolves once the service has begun `count` requests. */
    started: (count: number) => waitFor('the request to be in flight', async () => {
      if (output.split('started').length - 1 < count) throw new Error('not yet');
    }, 10_000, 10),
  };
}

describe('SIGTERM', () => {
  it('drains a POST in flight: the client gets its 200, then the process exits', async () => {
    const service = await startService();
    const inFlight = fetch(`${service.url}/slow?ms=1500`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    await service.started(1);
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({ done: true, ms: 1500 });
    expect(await service.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
  });

  it('stops accepting at once, and cuts a request longer than the drain timeout', async () => {
    const service = await startService({ SHUTDOWN_DRAIN_MS: '500' });
    const tooLong = fetch(`${service.url}/slow?ms=30000`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then(
      (reply) => reply.status,
      (error: Error) => error,
    );
    await service.started(1);
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    await waitFor('the listener to close', async () => {
      const refused = await fetch(`${service.url}/health`).then(() => false, () => true);
      if (!refused) throw new Error('still accepting');
    }, 5_000, 20);
    expect(await tooLong).toBeInstanceOf(Error);
    await service.exited;
    expect(Date.now() - signalled).toBeLessThan(5_000);
  });

  it('does not wait for connections that carry no request: one that sent nothing, one idle between requests', async () => {
    const service = await startService();
    const port = Number(new URL(service.url).port);
    // A client pool's spare connection: open, nothing sent.
    const silent = connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => silent.once('connect', resolve));
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    // A keep-alive connection that served a request, and one that is still being served.
    const pool = new Agent({ keepAliveTimeout: 60_000 });
    const served = await request(`${service.url}/slow?ms=0`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, dispatcher: pool });
    await served.body.text();
    const inFlight = request(`${service.url}/slow?ms=800`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, dispatcher: pool });
    await service.started(2);
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    const reply = await inFlight;
    expect(reply.statusCode).toBe(200);
    expect(await reply.body.json()).toEqual({ done: true, ms: 800 });
    // A clean drain (exit 0), well inside the 20 s drain timeout that such connections used to use up.
    expect(await service.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(5_000);
    await silentClosed;
    await pool.close();
  });
});
