import { createServiceClient } from '@corebank/kit';

/** A local control API (routing controls, the supervisor) refused a call: its status and message. */
export class ControlApiError extends Error {
  override name = 'ControlApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One JSON call to a local control API. Any answer but 200 throws what `refused` makes of
 * its status and message (the API's own `message`, or `what answered N`).
 */
export async function callControlApi<T>(options: {
  url: string;
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  body?: unknown;
  what: string;
  refused: (status: number, message: string) => Error;
  /** How long the call may take (2 s). */
  timeoutMs?: number;
}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 2000;
  // A GET (the endpoints' polls, four a second each) reuses one kept-alive connection per API;
  // a change gets a connection of its own, as before.
  const client = options.method === 'GET' ? keptAliveClient(options.url, timeoutMs) : createServiceClient({ baseUrl: options.url, timeoutMs, connections: 1 });
  try {
    const reply = await (options.method === 'GET' ? client.get<T>(options.path) : client[options.method === 'PUT' ? 'put' : 'post']<T>(options.path, options.body));
    if (reply.status !== 200) {
      const message = (reply.body as { message?: string } | null)?.message ?? `${options.what} answered ${reply.status}`;
      throw options.refused(reply.status, message);
    }
    return reply.body;
  } finally {
    if (options.method !== 'GET') await client.close();
  }
}

/**
 * One client per API and timeout for GETs, kept for the life of the process: a poll no longer
 * opens and closes a TCP connection each time. Its idle socket does not keep a process (a
 * `corebank` command) alive, and closes after the kit client's keep-alive timeout (10 s,
 * shorter than the APIs' own).
 */
const getClients = new Map<string, ReturnType<typeof createServiceClient>>();
function keptAliveClient(url: string, timeoutMs: number) {
  const key = `${url} ${timeoutMs}`;
  let client = getClients.get(key);
  if (!client) getClients.set(key, (client = createServiceClient({ baseUrl: url, timeoutMs, connections: 1 })));
  return client;
}

/**
 * Polls `read` every `intervalMs` and keeps the last answer when a poll fails, as DNS and an
 * ALB keep serving while their control plane is away; before the first answer, `initial`.
 */
export function pollLastKnown<T>(read: () => Promise<T>, initial: T, intervalMs: number) {
  let value = initial;
  const refresh = async () => {
    try {
      value = await read();
    } catch {
      // keep the last known value
    }
  };
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  const first = refresh();
  return {
    /** Resolves after the first poll, answered or not. */
    ready: () => first,
    /** Polls now (the timer does it every intervalMs). */
    refresh,
    current: () => value,
    stop: () => clearInterval(timer),
  };
}
