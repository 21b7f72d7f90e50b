import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the corebank transaction API, for tests and the throughput benchmark.
 * Deposits and withdrawals answer a new transaction id; a status turns terminal after
 * `pendingPolls` polls. Every `unavailableEvery`-th POST answers 503 and every
 * `rollbackEvery`-th saga ends in `status#success_rollback`, so failure statistics can be
 * exercised deterministically.
 */
export interface FakeCorebankOptions {
  port?: number;
  pendingPolls?: number;
  unavailableEvery?: number;
  rollbackEvery?: number;
}

export interface FakeCorebankCounts {
  deposits: number;
  withdrawals: number;
  polls: number;
  closeHeaders: number;
  missingAccountHeader: number;
}

export interface FakeCorebank {
  url: string;
  counts: FakeCorebankCounts;
  close(): Promise<void>;
}

interface Saga {
  accountId: string;
  pollsLeft: number;
  rollback: boolean;
}

export function createFakeCorebankHandler(options: FakeCorebankOptions = {}) {
  const pendingPolls = options.pendingPolls ?? 2;
  const sagas = new Map<string, Saga>();
  const counts: FakeCorebankCounts = { deposits: 0, withdrawals: 0, polls: 0, closeHeaders: 0, missingAccountHeader: 0 };
  let posts = 0;
  let sagaCount = 0;

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const accountId = req.headers['x_account_id'];
    if (req.headers.connection === 'close') counts.closeHeaders += 1;
    if (typeof accountId !== 'string' || !accountId) {
      counts.missingAccountHeader += 1;
      return send(res, 400, { error: 'missing_account', message: 'X_ACCOUNT_ID header is required' });
    }
    const url = req.url ?? '';
    if (req.method === 'POST' && (url === '/transaction/deposit' || url === '/transaction/withdraw')) {
      posts += 1;
      if (options.unavailableEvery && posts % options.unavailableEvery === 0) {
        return send(res, 503, { error: 'region_closed', message: 'the region is closed' });
      }
      let quantity: unknown;
      try {
        quantity = (JSON.parse(body) as { quantity?: unknown }).quantity;
      } catch {
        return send(res, 400, { error: 'bad_json', message: 'malformed JSON' });
      }
      if (!Number.isInteger(quantity)) return send(res, 400, { error: 'bad_quantity', message: 'quantity must be an integer' });
      if (url.endsWith('deposit')) counts.deposits += 1;
      else counts.withdrawals += 1;
      sagaCount += 1;
      const transactionId = randomUUID();
      sagas.set(transactionId, { accountId, pollsLeft: pendingPolls, rollback: Boolean(options.rollbackEvery && sagaCount % options.rollbackEvery === 0) });
      return send(res, 200, { transactionId });
    }
    const match = /^\/transaction\/([^/]+)$/.exec(url);
    if (req.method === 'GET' && match) {
      counts.polls += 1;
      const saga = sagas.get(decodeURIComponent(match[1]!));
      if (!saga || saga.accountId !== accountId) return send(res, 404, { error: 'not_found', message: 'unknown transaction' });
      const updatedAt = new Date().toISOString();
      if (saga.pollsLeft > 0) {
        saga.pollsLeft -= 1;
        return send(res, 200, { status: 'status#pending', updatedAt });
      }
      sagas.delete(decodeURIComponent(match[1]!));
      return send(res, 200, { status: saga.rollback ? 'status#success_rollback' : 'status#success', updatedAt });
    }
    send(res, 404, { error: 'not_found', message: `no route ${req.method} ${url}` });
  }

  return {
    counts,
    listener(req: IncomingMessage, res: ServerResponse): void {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => handle(req, res, body));
    },
  };
}

export async function startFakeCorebank(options: FakeCorebankOptions = {}): Promise<FakeCorebank> {
  const handler = createFakeCorebankHandler(options);
  const server = createServer({ keepAliveTimeout: 30_000 }, handler.listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: handler.counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
