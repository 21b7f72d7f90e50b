import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import {
  accountIdOf,
  badRequest,
  createService,
  createServiceClient,
  ErrorReply,
  HttpError,
  notFound,
  Quantity,
  serviceUnavailable,
  tooManyRequests,
  TransactionId,
  type App,
  type ServiceOptions,
} from '@corebank/kit';
import { PENDING, SAGA_STATUSES, type FinalStatus, type SagaKind } from './saga/machine.ts';
import { openRegionStores, type RegionStoresOptions } from './store/region-stores.ts';
import type { SagaRecord } from './saga/record.ts';
import type { SagaStore } from './store/saga-store.ts';
import { createStatusBoard, type SagaStatusEntry } from './status-board.ts';
import type { ApiConfig } from './config.ts';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
const IDEMPOTENCY_KEY = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;
/** Longer than the worker holds a nudge's reply for the saga's end (DEFAULT_NUDGE_HOLD_MS). */
const NUDGE_TIMEOUT_MS = 10_000;
/**
 * Nudges held open at once: each waits for its saga's end, so there must be room for every
 * saga a worker runs at a time (WORKER_CONCURRENCY, 64 by default) and more.
 */
const NUDGE_CONNECTIONS = 256;
/**
 * With a worker to nudge, a new saga is created leased to a one-off token that the nudge
 * hands to the worker, which starts it without a claim write. If the nudge is lost, any
 * worker may claim the saga once this has passed (a failed nudge hands the lease back at once).
 */
export const HAND_OVER_LEASE_MS = 10_000;

export interface TransactionApiOptions extends ApiConfig, Pick<RegionStoresOptions, 'dynamo' | 'onCorruptItem'> {
  logger?: ServiceOptions['logger'];
}

const TransactionRequest = Type.Object({ quantity: Quantity }, { additionalProperties: false });
const TransactionCreated = Type.Object({ transactionId: Type.String() });
const TransactionStatus = Type.Object({
  status: Type.Enum(SAGA_STATUSES),
  updatedAt: Type.String(),
});
const TransactionParams = Type.Object({ transactionId: TransactionId });

/**
 * The public transaction API: starts deposit and withdrawal sagas and answers their
 * status. One saga per account at a time (429), closed while the region's stopFlag is
 * "true" (503), idempotent on the Idempotency-Key header.
 */
export function buildTransactionApi(options: TransactionApiOptions): App {
  const { store, stopFlag, close: closeStores } = openRegionStores(options);
  const { statusFreshMs, statusHoldMs } = options;
  const statusBoard = createStatusBoard({ pendingFreshMs: statusFreshMs });

  /** From memory when it is fresh enough, else from the table (and then remembered). */
  async function currentStatus(transactionId: string): Promise<SagaStatusEntry | null> {
    const known = statusBoard.lookup(transactionId);
    if (known) return known;
    const saga = await store.getSaga(transactionId);
    if (saga) statusBoard.remember(transactionId, saga);
    return saga;
  }
  const app = createService({ name: 'transaction', ...(options.logger !== undefined ? { logger: options.logger } : {}) });
  const nudgeWorker = createWorkerNudger(options, store, app.log, (saga, ended) =>
    statusBoard.remember(saga.transactionId, { accountId: saga.accountId, ...ended }),
  );

  app.addHook('onClose', async () => {
    await nudgeWorker.close();
    closeStores();
  });

  async function requireOpenRegion() {
    let closed: boolean;
    try {
      closed = await stopFlag.isRegionClosed();
    } catch (error) {
      throw new HttpError(503, 'stop_flag_unavailable', 'the region state cannot be read right now', { cause: error });
    }
    if (closed) throw serviceUnavailable('this region is closed (stopFlag is true); use the active region');
  }

  async function startSaga(kind: SagaKind, request: FastifyRequest, quantity: number) {
    const accountId = accountIdOf(request);
    const idempotencyKey = idempotencyKeyOf(request);
    await requireOpenRegion();
    const leaseToken = nudgeWorker.enabled ? `handover-${randomUUID()}` : undefined;
    const result = await store.createSaga({
      transactionId: randomUUID(),
      accountId,
      kind,
      quantity,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(leaseToken ? { handOverLease: { owner: leaseToken, durationMs: HAND_OVER_LEASE_MS } } : {}),
    });
    switch (result.outcome) {
      case 'created':
        statusBoard.remember(result.saga.transactionId, result.saga);
        if (leaseToken) nudgeWorker.handOver(result.saga, leaseToken);
        return { transactionId: result.saga.transactionId };
      case 'replayed':
        return { transactionId: result.transactionId };
      case 'idempotency_mismatch':
        throw new HttpError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used for a different request');
      case 'account_busy':
        throw tooManyRequests('the account already has a transaction in flight; retry when it has finished');
    }
  }

  const createSchema = {
    body: TransactionRequest,
    response: { 200: TransactionCreated, 400: ErrorReply, 422: ErrorReply, 429: ErrorReply, 503: ErrorReply },
  };
  app.post('/transaction/deposit', { schema: createSchema }, (request) => startSaga('deposit', request, request.body.quantity));
  app.post('/transaction/withdraw', { schema: createSchema }, (request) => startSaga('withdraw', request, request.body.quantity));

  app.get(
    '/transaction/:transactionId',
    { schema: { params: TransactionParams, response: { 200: TransactionStatus, 400: ErrorReply, 404: ErrorReply, 503: ErrorReply } } },
    async (request) => {
      const accountId = accountIdOf(request);
      await requireOpenRegion();
      const { transactionId } = request.params;
      let saga = await currentStatus(transactionId);
      // Hold a poll of a pending saga until it ends: the worker's word wakes it at once; if the
      // word went to another API instance, the table is read again each time the pending
      // status goes stale.
      const holdUntil = Date.now() + statusHoldMs;
      while (saga?.status === PENDING && saga.accountId === accountId && Date.now() < holdUntil) {
        await statusBoard.waitForEnd(transactionId, Math.min(holdUntil - Date.now(), statusFreshMs || statusHoldMs));
        saga = await currentStatus(transactionId);
      }
      // Another account's transaction is indistinguishable from an unknown one.
      if (!saga || saga.accountId !== accountId) throw notFound(`no transaction ${transactionId} for this account`);
      return { status: saga.status, updatedAt: saga.updatedAt };
    },
  );

  return app;
}

/** Reads the optional Idempotency-Key header: 1-128 printable ASCII characters. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw badRequest('header Idempotency-Key must be 1-128 printable ASCII characters', 'invalid_idempotency_key');
  }
  return value;
}

/**
 * Hands a new saga to the worker so it starts within milliseconds, without making the
 * client wait. The worker replies when the saga has ended (or when it cannot say soon), so
 * the end reaches the status board with no request of its own. When the worker cannot take
 * the saga, the lease is handed back so that polling finds it at once.
 */
function createWorkerNudger(
  options: Pick<TransactionApiOptions, 'workerUrl' | 'serviceToken'>,
  store: SagaStore,
  log: FastifyBaseLogger,
  onEnded: (saga: SagaRecord, ended: { status: FinalStatus; updatedAt: string }) => void,
) {
  if (!options.workerUrl) return { enabled: false, handOver: (_saga: SagaRecord, _token: string) => {}, close: async () => {} };
  const client = createServiceClient({
    baseUrl: options.workerUrl,
    ...(options.serviceToken ? { serviceToken: options.serviceToken } : {}),
    timeoutMs: NUDGE_TIMEOUT_MS,
    connections: NUDGE_CONNECTIONS,
  });
  const handBack = (transactionId: string, leaseToken: string, why: Record<string, unknown>) => {
    log.warn({ transactionId, ...why }, 'worker did not take a new saga; its lease is handed back for polling');
    store.releaseLease(transactionId, leaseToken).catch((error: unknown) => log.warn({ err: error, transactionId }, 'could not hand the lease back; it expires by itself'));
  };
  return {
    enabled: true,
    handOver(saga: SagaRecord, leaseToken: string) {
      client.post<{ result?: string; status?: string; updatedAt?: string }>(`/sagas/${saga.transactionId}/nudge`, { leaseToken, saga }).then(
        (reply) => {
          if (reply.status !== 202 || reply.body?.result === 'stopping') return handBack(saga.transactionId, leaseToken, { status: reply.status, reply: reply.body });
          const { status, updatedAt } = reply.body ?? {};
          if ((status === 'status#success' || status === 'status#success_rollback') && typeof updatedAt === 'string') onEnded(saga, { status, updatedAt });
        },
        (error: unknown) => {
          // Only a refused connection is certain: after a timeout the worker may be running it.
          if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') handBack(saga.transactionId, leaseToken, { err: error });
          else log.warn({ err: error, transactionId: saga.transactionId }, 'nudge unanswered; the saga is polled for once its hand-over lease expires');
        },
      );
    },
    close: () => client.close(),
  };
}
