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
  const client = createServiceClient({ baseUrl: options.url, timeoutMs: options.timeoutMs ?? 2000, connections: 1 });
  try {
    const reply = await (options.method === 'GET' ? client.get<T>(options.path) : client[options.method === 'PUT' ? 'put' : 'post']<T>(options.path, options.body));
    if (reply.status !== 200) {
      const message = (reply.body as { message?: string } | null)?.message ?? `${options.what} answered ${reply.status}`;
      throw options.refused(reply.status, message);
    }
    return reply.body;
  } finally {
    await client.close();
  }
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
