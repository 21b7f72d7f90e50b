/**
 * The ARC cluster stand-in: one routing control per region, On or Off, kept in a JSON file so
 * that the states survive a restart of the local system, as ARC's do across deployments.
 * The global endpoint forwards to the region whose control is On; `corebank routing get|set`
 * reads and changes them, as `aws route53-recovery-cluster get-routing-control-state` and
 * `update-routing-control-state` do.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ConfigError, createService, ErrorReply, notFound, type App } from '@corebank/kit';
import { callControlApi, ControlApiError, pollLastKnown } from './control-api.ts';

/** Where the routing controls service listens unless PORT says otherwise. */
export const ROUTING_CONTROLS_PORT = 8079;

export const ROUTING_CONTROL_STATES = ['On', 'Off'] as const;
export type RoutingControlState = (typeof ROUTING_CONTROL_STATES)[number];
/** Region name → its routing control's state. */
export type RoutingControlStates = Record<string, RoutingControlState>;

/** One routing control as the ARC cluster API names its fields. */
export interface RoutingControl {
  RoutingControlName: string;
  RoutingControlState: RoutingControlState;
}

/**
 * The region traffic goes to: the one whose control is On. If several are On, the first in
 * `regionOrder` wins, as a Route 53 failover record prefers the primary while it is healthy.
 * Undefined if every control is Off (the global endpoint then answers 503).
 */
export function activeRegionOf(states: RoutingControlStates, regionOrder: readonly string[]): string | undefined {
  return regionOrder.find((region) => states[region] === 'On');
}

export interface RoutingControlStore {
  /** The controls, in the configured region order. */
  list(): RoutingControl[];
  get(region: string): RoutingControl | undefined;
  /** Changes one control and writes the file before returning; undefined for an unknown region. */
  set(region: string, state: RoutingControlState): RoutingControl | undefined;
}

/**
 * The states in `file`. The regions are those of `initial` (in its order); a region the file
 * does not mention yet (a region added since) takes its initial state. The file is written
 * with the initial states only when it does not exist: later starts keep what an operator
 * or a failover set.
 */
export function openRoutingControlStore(file: string, initial: RoutingControlStates): RoutingControlStore {
  const regions = Object.keys(initial);
  const states: RoutingControlStates = { ...initial };
  if (existsSync(file)) {
    Object.assign(states, pick(readStatesFile(file), regions));
  } else {
    writeFileAtomically(file, states);
  }
  const control = (region: string): RoutingControl => ({ RoutingControlName: region, RoutingControlState: states[region]! });
  return {
    list: () => regions.map(control),
    get: (region) => (regions.includes(region) ? control(region) : undefined),
    set: (region, state) => {
      if (!regions.includes(region)) return undefined;
      const next = { ...states, [region]: state };
      writeFileAtomically(file, next);
      states[region] = state;
      return control(region);
    },
  };
}

function readStatesFile(file: string): RoutingControlStates {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`routing controls file ${file} is not readable JSON (${(error as Error).message}); fix or delete it`);
  }
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((state) => (ROUTING_CONTROL_STATES as readonly unknown[]).includes(state));
  if (!valid) throw new ConfigError(`routing controls file ${file} must map region names to "On" or "Off"; fix or delete it`);
  return parsed as RoutingControlStates;
}

const pick = (states: RoutingControlStates, regions: string[]) =>
  Object.fromEntries(Object.entries(states).filter(([region]) => regions.includes(region)));

/** Temp file, fsync, rename: a crash mid-write leaves the old file or the new one, never half of one. */
function writeFileAtomically(file: string, states: RoutingControlStates): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, `${JSON.stringify(states, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
}

/**
 * Parses the initial states as config gives them: `ap-northeast-1=On,ap-northeast-3=Off`.
 * The order is the region order (primary first).
 */
export function parseRoutingControlStates(text: string, what = 'ROUTING_CONTROLS_INITIAL'): RoutingControlStates {
  const states: RoutingControlStates = {};
  for (const entry of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const match = /^([a-z0-9-]+)=(On|Off)$/.exec(entry);
    if (!match) throw new ConfigError(`${what}: "${entry}" is not <region>=On or <region>=Off`);
    states[match[1]!] = match[2] as RoutingControlState;
  }
  if (Object.keys(states).length === 0) throw new ConfigError(`${what} names no region`);
  return states;
}

const StateSchema = Type.Union([Type.Literal('On'), Type.Literal('Off')]);
const RoutingControlReply = Type.Object({ RoutingControlName: Type.String(), RoutingControlState: StateSchema });
const RegionParams = Type.Object({ region: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }) });
const UpdateBody = Type.Object(
  { RoutingControlState: StateSchema },
  { additionalProperties: false },
);

/** The routing controls service: the store behind an HTTP API shaped after ARC's cluster API. */
export function buildRoutingControlsApp(options: { store: RoutingControlStore; logger?: boolean }): App {
  const app = createService({ name: 'routing-controls', ...(options.logger === false ? { logger: false } : {}) });
  const unknown = (region: string) => notFound(`no routing control for region ${region}`);

  app.get('/routingcontrols', { schema: { response: { 200: Type.Array(RoutingControlReply) } } }, () => options.store.list());

  app.get('/routingcontrols/:region', { schema: { params: RegionParams, response: { 200: RoutingControlReply, 400: ErrorReply, 404: ErrorReply } } }, (request) => {
    const control = options.store.get(request.params.region);
    if (!control) throw unknown(request.params.region);
    return control;
  });

  app.put(
    '/routingcontrols/:region',
    { schema: { params: RegionParams, body: UpdateBody, response: { 200: RoutingControlReply, 400: ErrorReply, 404: ErrorReply } } },
    (request) => {
      const control = options.store.set(request.params.region, request.body.RoutingControlState);
      if (!control) throw unknown(request.params.region);
      request.log.info({ region: control.RoutingControlName, state: control.RoutingControlState }, 'routing control updated');
      return control;
    },
  );

  registerArcProtocol(app, options.store);
  return app;
}

/** The local control panel's ARN prefix; a routing control's ARN ends with its region. */
const ARN_PREFIX = 'arn:aws:route53-recovery-control::000000000000:controlpanel/corebank';
export const routingControlArnOf = (region: string) => `${ARN_PREFIX}/routingcontrol/${region}`;
/** Accepts the full ARN or the region name alone, as a shorthand on the command line. */
const regionOfArn = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

const ArcTarget = Type.Object({ 'x-amz-target': Type.String() });
const ArcBody = Type.Object({
  RoutingControlArn: Type.Optional(Type.String({ minLength: 1 })),
  RoutingControlState: Type.Optional(StateSchema),
  ControlPanelArn: Type.Optional(Type.String()),
  SafetyRulesToOverride: Type.Optional(Type.Array(Type.String())),
  MaxResults: Type.Optional(Type.Integer()),
  NextToken: Type.Optional(Type.String()),
});

/**
 * The same controls over ARC's own wire protocol (JSON 1.0, POST / with X-Amz-Target), so
 * that the real AWS CLI works against the local cluster as it does against ARC:
 * `aws route53-recovery-cluster update-routing-control-state --routing-control-arn <arn>
 * --routing-control-state Off --endpoint-url http://localhost:8079`. Errors keep the
 * `{error, message}` body and add the protocol's `__type`, from which the CLI takes the error's name.
 */
function registerArcProtocol(app: App, store: RoutingControlStore): void {
  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-amz-json-1.0', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, body === '' ? {} : JSON.parse(body as string));
      } catch (error) {
        done(Object.assign(error as Error, { statusCode: 400 }), undefined);
      }
    });
    const arc = scope.withTypeProvider<TypeBoxTypeProvider>();
    arc.post('/', { schema: { headers: ArcTarget, body: ArcBody } }, async (request, reply) => {
      const fail = (status: number, type: string, error: string, message: string) =>
        reply.status(status).send({ error, message, __type: type });
      const operation = request.headers['x-amz-target'].replace(/^ToggleCustomerAPI\./, '');
      const { RoutingControlArn: arn, RoutingControlState: state } = request.body;
      const asArc = (control: RoutingControl) => ({ ...control, RoutingControlArn: routingControlArnOf(control.RoutingControlName) });

      if (operation === 'ListRoutingControls') {
        return { RoutingControls: store.list().map((control) => ({ ...asArc(control), ControlPanelArn: ARN_PREFIX, ControlPanelName: 'corebank' })) };
      }
      if (operation !== 'GetRoutingControlState' && operation !== 'UpdateRoutingControlState') {
        return fail(400, 'UnknownOperationException', 'bad_request', `unsupported operation ${operation}`);
      }
      if (!arn) return fail(400, 'ValidationException', 'invalid_request', 'RoutingControlArn is required');
      const region = regionOfArn(arn);
      if (operation === 'GetRoutingControlState') {
        const control = store.get(region);
        return control ? asArc(control) : fail(404, 'ResourceNotFoundException', 'not_found', `no routing control ${arn}`);
      }
      if (!state) return fail(400, 'ValidationException', 'invalid_request', 'RoutingControlState is required');
      const control = store.set(region, state);
      if (!control) return fail(404, 'ResourceNotFoundException', 'not_found', `no routing control ${arn}`);
      request.log.info({ region, state }, 'routing control updated');
      return {};
    });
  });
}

/** A reply other than the one asked for, with the service's `{error, message}`. */
export class RoutingControlsError extends ControlApiError {
  override name = 'RoutingControlsError';
}

const call = <T>(url: string, method: 'GET' | 'PUT', path: string, body?: unknown) =>
  callControlApi<T>({ url, method, path, body, what: 'routing controls', refused: (status, message) => new RoutingControlsError(status, message) });

/** Every routing control's state, as region → On|Off in the service's region order. */
export async function getRoutingControls(url: string): Promise<RoutingControlStates> {
  const controls = await call<RoutingControl[]>(url, 'GET', '/routingcontrols');
  return Object.fromEntries(controls.map((control) => [control.RoutingControlName, control.RoutingControlState]));
}

/** Sets one region's routing control (`update-routing-control-state`); throws RoutingControlsError for an unknown region. */
export function setRoutingControl(url: string, region: string, state: RoutingControlState): Promise<RoutingControl> {
  return call<RoutingControl>(url, 'PUT', `/routingcontrols/${encodeURIComponent(region)}`, { RoutingControlState: state });
}

/**
 * The global endpoint's view of the routing controls: polls them every `intervalMs` and
 * answers the active region from the last answer (`activeRegionOf`). When the service does
 * not answer, the last known states stay, as DNS keeps answering while ARC's API is away;
 * before the first answer no region is active.
 */
export function watchRoutingControls(options: { url: string; regionOrder: readonly string[]; intervalMs?: number }) {
  const poll = pollLastKnown<RoutingControlStates>(() => getRoutingControls(options.url), {}, options.intervalMs ?? 500);
  return {
    ready: poll.ready,
    refresh: poll.refresh,
    states: poll.current,
    activeRegion: () => activeRegionOf(poll.current(), options.regionOrder),
    stop: poll.stop,
  };
}
