/**
 * Child process for the throughput benchmark: the fake transaction API answering at once
 * (no pending polls). Prints its URL on stdout and exits when its parent disconnects.
 */
import { startFakeCorebank } from '@corebank/testing';

const server = await startFakeCorebank({ pendingPolls: 0 });
process.stdout.write(`${server.url}\n`);
const shutdown = () => void server.close().then(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('disconnect', shutdown);
