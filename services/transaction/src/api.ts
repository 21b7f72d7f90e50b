import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import {
  accountIdOf,
  badRequest,
  createService,
  ErrorReply,
  HttpError,
  notFound,
  Quantity,
  serviceUnavailable,
  tooManyRequests,
  traceContextCarrier,
  TransactionId,
  type App,
  type ServiceOptions,
} from '@corebank/kit';
import { PENDING, SAGA_STATUSES, type SagaKind } from './saga/machine.ts';
import { leaseOwnerPrefix } from './store/saga-store.ts';
import { openRegionStores, type RegionStoresOptions } from './store/region-stores.ts';
import { createStatusBoard, type SagaStatusEntry } from './status-board.ts';
import type { ApiConfig } from './config.ts';
import { createWorkerNudger } from './nudge/nudger.ts';
import { HAND_OVER_LEASE_MS } from './nudge/protocol.ts';
import { registerRegionStateRoute } from './region-state.ts';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
const IDEMPOTENCY_KEY = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;
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
    statusBoard.settle(saga.transactionId, ended && { accountId: saga.accountId, ...ended }),
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

  /** Saga-starting requests between arrival and answer: what a failover waits to drain. */
  let startsInFlight = 0;
  async function startSaga(kind: SagaKind, request: FastifyRequest, quantity: number) {
    startsInFlight++;
    try {
      return await startSagaCounted(kind, request, quantity);
    } finally {
      startsInFlight--;
    }
  }

  async function startSagaCounted(kind: SagaKind, request: FastifyRequest, quantity: number) {
    const accountId = accountIdOf(request);
    const idempotencyKey = idempotencyKeyOf(request);
    await requireOpenRegion();
    const leaseToken = nudgeWorker.enabled ? `${leaseOwnerPrefix(options.region)}handover-${randomUUID()}` : undefined;
    // Empty when tracing is off: then no attribute is written.
    const { traceparent } = traceContextCarrier();
    const result = await store.createSaga({
      transactionId: randomUUID(),
      accountId,
      kind,
      quantity,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(leaseToken ? { handOverLease: { owner: leaseToken, durationMs: HAND_OVER_LEASE_MS } } : {}),
      ...(traceparent ? { traceparent } : {}),
    });
    switch (result.outcome) {
      case 'created':
        statusBoard.remember(result.saga.transactionId, result.saga);
        if (leaseToken) {
          // The worker's reply names the end: until it comes, polls need no read of the table.
          statusBoard.expectEnd(result.saga.transactionId);
          nudgeWorker.handOver(result.saga, leaseToken);
        }
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

  if (options.serviceToken) registerRegionStateRoute(app, options.serviceToken, stopFlag, () => startsInFlight);
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
