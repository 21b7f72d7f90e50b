import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { createFaultProxy, HANDSHAKE_RTO_MS, retransmissionDelay, type FaultProxy } from './fault-proxy.ts';

describe('retransmissionDelay', () => {
  /** Draws these numbers in turn, then 0.99 (never lost). */
  const draws = (...values: number[]) => () => values.shift() ?? 0.99;

  it('waits the timeout per loss, doubling it after each, and nothing without a loss', () => {
    expect(retransmissionDelay(30, 200, draws(0.5))).toBe(0);
    expect(retransmissionDelay(30, 200, draws(0.1))).toBe(200);
    expect(retransmissionDelay(30, 200, draws(0.1, 0.2))).toBe(200 + 400);
    expect(retransmissionDelay(30, 1000, draws(0.1, 0.2, 0.29))).toBe(1000 + 2000 + 4000);
  });

  it('is bounded even when every draw loses', () => {
    expect(retransmissionDelay(99, 200, () => 0)).toBe(200 * (2 ** 6 - 1));
    expect(retransmissionDelay(0, 200, () => 0)).toBe(0);
  });
});

/** One GET on a fresh connection: its status and how long it took, or 'timeout'. */
function timedGet(url: string, timeoutMs: number): Promise<{ status: number; body: string; ms: number } | 'timeout'> {
  const started = performance.now();
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } }).then(
    async (response) => ({ status: response.status, body: await response.text(), ms: performance.now() - started }),
    (error: Error) => {
      if (error.name === 'TimeoutError') return 'timeout';
      throw error;
    },
  );
}

describe('fault proxy', () => {
  let target: Server;
  let proxy: FaultProxy;
  // Long enough that a loaded machine's own delays never look like a fault's.
  const RTO = 1_000;

  beforeAll(async () => {
    target = createServer((request, response) => {
      response.setHeader('content-type', 'text/plain');
      response.end(`echo ${request.url}`);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const address = target.address();
    proxy = await createFaultProxy({ targetPort: typeof address === 'object' && address ? address.port : 0, retransmissionTimeoutMs: RTO });
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => target.close(resolve));
  });

  it('forwards unchanged without a fault', async () => {
    const reply = await timedGet(`${proxy.url}/plain`, 2_000);
    expect(reply).toMatchObject({ status: 200, body: 'echo /plain' });
  });

  it('adds the latency to each direction and clears it', async () => {
    proxy.inject({ kind: 'latency', ms: 400 });
    const slow = await timedGet(`${proxy.url}/slow`, 5_000);
    expect(slow).not.toBe('timeout');
    if (slow === 'timeout') return;
    expect(slow.body).toBe('echo /slow');
    // Request and answer each wait 400 ms.
    expect(slow.ms).toBeGreaterThanOrEqual(800);
    proxy.clear();
    const fast = await timedGet(`${proxy.url}/fast`, 3_000);
    expect(fast !== 'timeout' && fast.ms).toBeLessThan(800);
  });

  it('at 100 % loss lets nothing through; a lower rate delivers what was held, intact', async () => {
    proxy.inject({ kind: 'packet-loss', percent: 100 });
    try {
      expect(await timedGet(`${proxy.url}/lossy`, 3 * RTO)).toBe('timeout');
      const patient = timedGet(`${proxy.url}/lossy`, 10_000);
      await sleep(2 * RTO);
      proxy.inject({ kind: 'packet-loss', percent: 1 });
      const reply = await patient;
      expect(reply).toMatchObject({ status: 200, body: 'echo /lossy' });
      expect(reply !== 'timeout' && reply.ms).toBeGreaterThanOrEqual(2 * RTO);
    } finally {
      proxy.clear('packet-loss');
    }
  });

  it('at 0 % loss adds nothing', async () => {
    proxy.inject({ kind: 'packet-loss', percent: 0 });
    const reply = await timedGet(`${proxy.url}/none`, 2_000);
    expect(reply !== 'timeout' && reply.ms).toBeLessThan(RTO);
    proxy.clear();
  });

  it('delays a new connection by the handshake timeout when its SYN is lost', async () => {
    const address = target.address();
    // The handshake's draw loses, then nothing else does.
    const drawsOnce = [0];
    const lossy = await createFaultProxy({ targetPort: typeof address === 'object' && address ? address.port : 0, retransmissionTimeoutMs: 200, random: () => drawsOnce.shift() ?? 0.99 });
    try {
      lossy.inject({ kind: 'packet-loss', percent: 30 });
      const reply = await timedGet(`${lossy.url}/syn`, 5_000);
      expect(reply).toMatchObject({ status: 200, body: 'echo /syn' });
      expect(reply !== 'timeout' && reply.ms).toBeGreaterThanOrEqual(HANDSHAKE_RTO_MS - 5);
    } finally {
      await lossy.close();
    }
  });

  it('blackholes: accepts the connection, never answers, keeps it open; clearing delivers what it held', async () => {
    proxy.inject({ kind: 'blackhole' });
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /held HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await timedGet(`${proxy.url}/blackholed`, 400)).toBe('timeout');
    expect(received).toBe('');
    expect(socket.destroyed).toBe(false);
    expect(proxy.connectionCount()).toBeGreaterThanOrEqual(1);

    proxy.clear();
    await waitFor('the held request answered', async () => {
      if (!received.includes('echo /held')) throw new Error(received);
    }, 3_000, 20);
    expect(received).toMatch(/^HTTP\/1.1 200 OK/);
    socket.destroy();
  });

  it('clears a fault by itself after its duration', async () => {
    const active = proxy.inject({ kind: 'latency', ms: 50 }, 200);
    expect(active.until! - active.since).toBe(200);
    expect(proxy.active()).toHaveLength(1);
    await waitFor('the latency to clear itself', async () => {
      if (proxy.active().length > 0) throw new Error('still active');
    }, 2_000, 20);
  });

  it('refuses a fault out of range', () => {
    expect(() => proxy.inject({ kind: 'packet-loss', percent: 101 })).toThrow(RangeError);
    expect(() => proxy.inject({ kind: 'latency', ms: -1 })).toThrow(RangeError);
    expect(proxy.active()).toEqual([]);
  });
});
