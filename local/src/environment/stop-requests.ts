/** The signals that stop a program in a terminal: Ctrl-C, `kill`, the terminal closing. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * For the commands that run a local system until stopped (`corebank start`, the bench, the
 * drill): calls `onStop` once, on SIGINT, SIGTERM or SIGHUP, or when the process that started
 * this one has ended. The last is how a SIGTERM to `npm start` shows here: npm passes it to the
 * `sh -c` that runs the script, which ends without passing it on. Later requests are ignored (a
 * second Ctrl-C does not cut the stop short). Returns a function that stops listening.
 */
export function onStopRequest(onStop: (why: string) => void, parentCheckMs = 500): () => void {
  const parent = process.ppid;
  let requested = false;
  const request = (why: string) => {
    if (requested) return;
    requested = true;
    onStop(why);
  };
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => request(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) request('the process that started it ended');
  }, parentCheckMs).unref();
  return () => {
    clearInterval(parentWatch);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/**
 * Starts a system that runs until a stop request. A request while `start` runs aborts it (the
 * start stops what it has started, then rejects) and the process exits 130. One that comes once
 * it runs goes to `whenRunning`. Resolves with the system and a function that stops listening.
 * One listener for both phases, so no request can fall between them.
 */
export async function startUntilStopRequest<S>(
  start: (signal: AbortSignal) => Promise<S>,
  whenRunning: (system: S, why: string) => void,
): Promise<{ system: S; stopListening: () => void }> {
  const starting = new AbortController();
  let system: S | undefined;
  let interruptedBy: string | undefined;
  const stopListening = onStopRequest((why) => {
    if (system !== undefined) return whenRunning(system, why);
    console.log(`\ninterrupted (${why}): stopping what has started ...`);
    interruptedBy = why;
    starting.abort(new Error('interrupted'));
  });
  try {
    system = await start(starting.signal);
  } catch (error) {
    if (starting.signal.aborted) {
      console.log('stopped.');
      process.exit(130);
    }
    stopListening();
    throw error;
  }
  // A request that came as the start was ending found nothing left to abort: it stops the system now.
  if (interruptedBy !== undefined) whenRunning(system, interruptedBy);
  return { system, stopListening };
}
