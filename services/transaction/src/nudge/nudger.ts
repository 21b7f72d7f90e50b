import type { FastifyBaseLogger } from 'fastify';
import { createServiceClient } from '@corebank/kit';
import type { ApiConfig } from '../config.ts';
import { PENDING, SAGA_STATUSES, type FinalStatus } from '../saga/machine.ts';
import type { SagaRecord } from '../saga/record.ts';
import type { SagaStore } from '../store/saga-store.ts';
import { NUDGE_CONNECTIONS, NUDGE_TIMEOUT_MS, nudgePath, type NudgeBody, type NudgeReply } from './protocol.ts';

const isFinalStatus = (status: unknown): status is FinalStatus => status !== PENDING && (SAGA_STATUSES as readonly unknown[]).includes(status);

/**
 * Hands a new saga to the worker so it starts within milliseconds, without making the
 * client wait. The worker replies when the saga has ended (or when it cannot say soon), so
 * the end reaches the status board with no request of its own. When the worker cannot take
 * the saga, the lease is handed back so that polling finds it at once.
 */
export function createWorkerNudger(
  options: Pick<ApiConfig, 'workerUrl' | 'serviceToken'>,
  store: SagaStore,
  log: FastifyBaseLogger,
  /** Called once per hand-over: with the end the worker named, or without one when its reply did not name it or did not come. */
  onSettled: (saga: SagaRecord, ended?: { status: FinalStatus; updatedAt: string }) => void,
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
      client.post<Partial<NudgeReply>>(nudgePath(saga.transactionId), { leaseToken, saga } satisfies NudgeBody).then(
        (reply) => {
          if (reply.status !== 202 || reply.body?.result === 'stopping') {
            onSettled(saga);
            return handBack(saga.transactionId, leaseToken, { status: reply.status, reply: reply.body });
          }
          const { status, updatedAt } = reply.body ?? {};
          onSettled(saga, isFinalStatus(status) && typeof updatedAt === 'string' ? { status, updatedAt } : undefined);
        },
        (error: unknown) => {
          onSettled(saga);
          // Only a refused connection is certain: after a timeout the worker may be running it.
          if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') handBack(saga.transactionId, leaseToken, { err: error });
          else log.warn({ err: error, transactionId: saga.transactionId }, 'nudge unanswered; the saga is polled for once its hand-over lease expires');
        },
      );
    },
    close: () => client.close(),
  };
}
