/**
 * The supervisor's control API, served by the process that supervises (the one `npm start`
 * runs), so that another `corebank` invocation can read and change it: `corebank status`
 * reads GET /services, `corebank scale` sends PUT /regions/{region}/services/{service}, and
 * the endpoints process polls GET /targets for its rotation (the ALB's target groups).
 */
import { Type } from '@fastify/type-provider-typebox';
import { createService, ErrorReply, HttpError, notFound, type App } from '@corebank/kit';
import { callControlApi, ControlApiError, pollLastKnown } from './control-api.ts';
import { SupervisorError, type ServiceStatus, type Supervisor, type Targets } from './supervisor.ts';

/** Where the control API listens locally. */
export const SUPERVISOR_API_PORT = 8078;
/** The most instances a scale request may ask for (each service has a port for each). */
export const MAX_DESIRED_COUNT = 4;

const InstanceReply = Type.Object({
  index: Type.Integer(),
  port: Type.Integer(),
  pid: Type.Union([Type.Integer(), Type.Null()]),
  state: Type.Union([Type.Literal('starting'), Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('stopping'), Type.Literal('exited')]),
  restarts: Type.Integer(),
});
const ServiceReply = Type.Object({
  region: Type.String(),
  service: Type.String(),
  desired: Type.Integer(),
  running: Type.Integer(),
  healthy: Type.Integer(),
  instances: Type.Array(InstanceReply),
});
const Name = Type.String({ pattern: '^[a-z0-9-]{1,64}$' });
const ScaleParams = Type.Object({ region: Name, service: Name });
const ScaleBody = Type.Object({ desiredCount: Type.Integer({ minimum: 0, maximum: MAX_DESIRED_COUNT }) }, { additionalProperties: false });
const TargetsReply = Type.Object({ targets: Type.Record(Type.String(), Type.Record(Type.String(), Type.Array(Type.String()))) });

export function buildSupervisorApp(options: { supervisor: Supervisor; logger?: boolean }): App {
  const app = createService({ name: 'supervisor', ...(options.logger === false ? { logger: false } : {}) });
  const { supervisor } = options;

  app.get('/services', { schema: { response: { 200: Type.Object({ services: Type.Array(ServiceReply) }) } } }, () => ({ services: supervisor.snapshot() }));

  app.put(
    '/regions/:region/services/:service',
    { schema: { params: ScaleParams, body: ScaleBody, response: { 200: ServiceReply, 400: ErrorReply, 404: ErrorReply } } },
    (request) => {
      const { region, service } = request.params;
      try {
        const status = supervisor.setDesiredCount(region, service, request.body.desiredCount);
        request.log.info({ region, service, desiredCount: request.body.desiredCount }, 'desired count set');
        return status;
      } catch (error) {
        if (error instanceof SupervisorError) {
          throw error.code === 'unknown_service' ? notFound(error.message) : new HttpError(400, 'invalid_request', error.message);
        }
        throw error;
      }
    },
  );

  app.get('/targets', { schema: { response: { 200: TargetsReply } } }, () => ({ targets: supervisor.allTargets() }));

  return app;
}

/** A reply other than 200 from the control API, with its `{error, message}`. */
export class SupervisorApiError extends ControlApiError {
  override name = 'SupervisorApiError';
}

const call = <T>(url: string, method: 'GET' | 'PUT', path: string, body?: unknown) =>
  callControlApi<T>({ url, method, path, body, what: 'the supervisor', refused: (status, message) => new SupervisorApiError(status, message) });

/** Desired and running counts of every service (`corebank status`). */
export async function getServiceStatus(url: string): Promise<ServiceStatus[]> {
  return (await call<{ services: ServiceStatus[] }>(url, 'GET', '/services')).services;
}

/** Sets a service's desired count (`corebank scale <region> <service> <n>`). */
export function scaleService(url: string, region: string, service: string, desiredCount: number): Promise<ServiceStatus> {
  return call<ServiceStatus>(url, 'PUT', `/regions/${encodeURIComponent(region)}/services/${encodeURIComponent(service)}`, { desiredCount });
}

/** Healthy instance URLs per region and service: what the endpoints route to. */
export async function getTargets(url: string): Promise<Targets> {
  return (await call<{ targets: Targets }>(url, 'GET', '/targets')).targets;
}

/**
 * The endpoints' view of the target groups: polls GET /targets every `intervalMs` and hands
 * out a service's healthy instances in turn (round robin). When the supervisor does not
 * answer, the last known targets stay, as an ALB keeps routing when its control plane is
 * away; before the first answer there are none.
 */
export function watchTargets(options: { url: string; intervalMs?: number }) {
  const poll = pollLastKnown<Targets>(() => getTargets(options.url), {}, options.intervalMs ?? 500);
  const turns = new Map<string, number>();
  return {
    ready: poll.ready,
    refresh: poll.refresh,
    current: poll.current,
    /** Whether `service` has a healthy instance in `region` (without taking a turn of the round robin). */
    inRotation: (region: string, service: string): boolean => (poll.current()[region]?.[service]?.length ?? 0) > 0,
    /** The next healthy instance of `service` in `region`, or undefined if none is in rotation. */
    pick(region: string, service: string): string | undefined {
      const urls = poll.current()[region]?.[service] ?? [];
      if (urls.length === 0) return undefined;
      const key = `${region} ${service}`;
      const turn = turns.get(key) ?? 0;
      turns.set(key, turn + 1);
      return urls[turn % urls.length];
    },
    stop: poll.stop,
  };
}

export type TargetsWatch = ReturnType<typeof watchTargets>;
