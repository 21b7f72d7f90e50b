import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Asks the OS for a free loopback port (tests and scratch systems use this so that parallel runs never clash). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Polls until `check` resolves, or fails with `what` after the deadline; at once when `signal`
 * aborts or `check` throws an error that `isFinal` says no retry can mend.
 */
export async function waitFor(
  what: string,
  check: () => Promise<unknown>,
  timeoutMs = 30_000,
  intervalMs = 100,
  signal?: AbortSignal,
  isFinal: (error: unknown) => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    try {
      await check();
      return;
    } catch (error) {
      if (isFinal(error)) throw error;
      lastError = error;
    }
    await sleep(intervalMs, undefined, signal ? { signal } : {}).catch(() => signal?.throwIfAborted());
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}
