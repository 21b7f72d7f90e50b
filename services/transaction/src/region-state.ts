import { Type } from '@fastify/type-provider-typebox';
import { ErrorReply, HttpError, requireServiceToken, type App } from '@corebank/kit';

/**
 * GET /internal/region (service token): the stopFlag read afresh, as this instance will
 * apply it from now on, and how much work it still has in flight. The failover workflow asks
 * every instance of the region it closes, instead of sleeping out the flag's cache.
 */
export function registerRegionStateRoute(app: App, serviceToken: string, stopFlag: { invalidate(): void; isRegionClosed(): Promise<boolean> }, inFlight: () => number): void {
  app.register(async (scope) => {
    scope.addHook('onRequest', requireServiceToken(serviceToken));
    scope.get(REGION_STATE_PATH, { schema: { response: { 200: RegionState, 403: ErrorReply, 503: ErrorReply } } }, async () => {
      stopFlag.invalidate();
      let closed: boolean;
      try {
        closed = await stopFlag.isRegionClosed();
      } catch (error) {
        throw new HttpError(503, 'stop_flag_unavailable', 'the region state cannot be read right now', { cause: error });
      }
      return { closed, inFlight: inFlight() };
    });
  });
}

export const REGION_STATE_PATH = '/internal/region';
const RegionState = Type.Object({ closed: Type.Boolean(), inFlight: Type.Integer() });
