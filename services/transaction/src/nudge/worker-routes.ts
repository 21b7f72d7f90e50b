import { badRequest, ErrorReply, requireServiceToken, within, type App } from '@corebank/kit';
import type { SagaRecord } from '../saga/record.ts';
import type { HandOver, Worker } from '../worker.ts';
import { NUDGE_HOLD_MS, NudgeBody, NudgeParams, NudgeReply, nudgePath } from './protocol.ts';

/**
 * POST /sagas/{id}/nudge (internal, service token required): run this new saga now. The
 * reply waits, up to `holdMs`, for the saga to end here, and then carries its final status:
 * that is how the API learns of the end without another request. A saga queued behind
 * busy slots, or still running when the hold is over, is answered without a status.
 */
export function registerNudgeRoute(app: App, worker: Worker, serviceToken: string, holdMs = NUDGE_HOLD_MS): void {
  app.register(async (scope) => {
    scope.addHook('onRequest', requireServiceToken(serviceToken));
    scope.post(
      nudgePath(':transactionId'),
      { schema: { params: NudgeParams, body: NudgeBody, response: { 202: NudgeReply, 400: ErrorReply, 403: ErrorReply } } },
      async (request, reply) => {
        const { transactionId } = request.params as { transactionId: string };
        const body = request.body as NudgeBody;
        let handOver: HandOver | undefined;
        if ('leaseToken' in body) {
          if (body.saga.transactionId !== transactionId) throw badRequest('the handed-over saga is not the one in the path');
          handOver = { leaseToken: body.leaseToken, saga: body.saga };
        }
        const result = worker.nudge(transactionId, handOver);
        const ended = result === 'started' || result === 'running' ? await endWithin(worker.whenEnded(transactionId), holdMs) : undefined;
        return reply.status(202).send({ transactionId, result, ...(ended ? { status: ended.status, updatedAt: ended.updatedAt } : {}) });
      },
    );
  });
}

/** The saga's end, or undefined once `holdMs` has passed. */
async function endWithin(ended: Promise<SagaRecord | undefined> | undefined, holdMs: number): Promise<SagaRecord | undefined> {
  if (!ended) return undefined;
  const end = await within(ended, holdMs);
  return end === 'timeout' ? undefined : end;
}
