import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from '@corebank/kit';

const execFileAsync = promisify(execFile);

/** Runs real curl, as a user of the Locust API would; returns status and body. */
export async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await execFileAsync('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Polls `check` until it returns a truthy value (the shared waitFor), and returns that value. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  let found: T | undefined;
  await waitFor(what, async () => {
    const value = await check();
    if (!value) throw new Error(`not yet: ${String(value)}`);
    found = value;
  }, timeoutMs);
  return found as T;
}
