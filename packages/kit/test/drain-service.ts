/**
 * A service run as its own process by http-drain.test.ts: POST /slow?ms=N answers after N
 * ms, and prints `started` when a request has begun, so the test can send SIGTERM mid-request.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createService, runService } from '../src/http.ts';
import { envInt } from '../src/config.ts';

const app = createService({ name: 'drain-test', logger: false });
app.post('/slow', async (request) => {
  const ms = Number((request.query as { ms?: string }).ms ?? 0);
  process.stdout.write('started\n');
  await sleep(ms);
  return { done: true, ms };
});
await runService(app, { port: envInt('PORT') });
process.stdout.write('listening\n');
