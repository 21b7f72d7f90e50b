/**
 * The control plane's API, served by the `corebank start` process (which holds the
 * supervisor and the global database): the supervisor's routes (GET /services, PUT
 * /regions/{region}/services/{service}, GET /targets) plus the database's. `corebank status`
 * and `corebank scale` read and change it; the failover workflow drives the database through
 * it, as it would call Aurora's and ECS's APIs.
 */
import { Type } from '@fastify/type-provider-typebox';
import { badRequest, conflict, createServiceClient, notFound, type App } from '@corebank/kit';
import type { ExecutionRecord, WorkflowName } from '@corebank/workflow';
import type { RegionPower } from './failover-steps.ts';
import type { AutoFailover, AutoFailoverStatus } from './auto-failover.ts';
import { FaultConflictError, FaultNotSupportedError, type AppliedFault, type FaultController } from './faults/fault-controller.ts';
import { CLIENT_LINK, FAULT_SERVICES, KNOWN_REGIONS, type FaultSpec } from './faults/faults.ts';
import { ExecutionConflictError, type WorkflowRunner } from './workflow-runner.ts';
import type { GlobalDatabase, GlobalDatabaseNodeStatus } from './global-database.ts';
import { buildSupervisorApp } from './supervisor-api.ts';
import { callControlApi, ControlApiError } from './control-api.ts';
import type { Supervisor } from './supervisor.ts';

/**
 * The database as the control plane sees it: the global database (a primary and a hot
 * standby, one node per region) or, with DATABASE_URL, one external server both regions use.
 */
export type DatabaseControl =
  | { kind: 'global'; database: GlobalDatabase }
  | { kind: 'external'; regions: readonly string[] };

export interface DatabaseStatusReply {
  /** True when DATABASE_URL points at one external server: no standby, no replication. */
  external: boolean;
  /** One per region; `name` is the region's name. */
  nodes: GlobalDatabaseNodeStatus[];
}

/** Status of each region's database node. External: every region on the one server, reported as primary. */
export async function databaseStatus(control: DatabaseControl): Promise<DatabaseStatusReply> {
  if (control.kind === 'external') {
    return { external: true, nodes: control.regions.map((name) => ({ name, port: 0, role: 'primary', lsn: null, lagBytes: null, streaming: null })) };
  }
  return { external: false, nodes: await control.database.status() };
}

const NodeReply = Type.Object({
  name: Type.String(),
  port: Type.Integer(),
  role: Type.Union([Type.Literal('primary'), Type.Literal('standby'), Type.Literal('down')]),
  lsn: Type.Union([Type.String(), Type.Null()]),
  lagBytes: Type.Union([Type.Number(), Type.Null()]),
  streaming: Type.Union([Type.Boolean(), Type.Null()]),
});
const DatabaseReply = Type.Object({ external: Type.Boolean(), nodes: Type.Array(NodeReply) });
const FailoverBody = Type.Object({ allowDataLoss: Type.Literal(true) }, { additionalProperties: false });
const RejoinBody = Type.Object({ node: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }) }, { additionalProperties: false });

const ExecutionBody = Type.Object(
  { workflow: Type.Union([Type.Literal('failover'), Type.Literal('failback'), Type.Literal('failover-allow-data-loss')]) },
  { additionalProperties: false },
);
const ExecutionParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,80}$' }) });
const RegionParams = Type.Object({ region: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }) });
const AutoFailoverBody = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });
const AlarmStateValue = Type.Object({
  value: Type.Union([Type.Literal('OK'), Type.Literal('ALARM'), Type.Literal('INSUFFICIENT_DATA')]),
  reason: Type.String({ maxLength: 2000 }),
  timestamp: Type.String({ minLength: 1, maxLength: 40 }),
});
/** CloudWatch's "Alarm State Change" event, as the monitor sends it (simplified: what the rule and the initiator read). */
const AlarmStateChangeBody = Type.Object({ alarmName: Type.String({ minLength: 1, maxLength: 255 }), state: AlarmStateValue, previousState: AlarmStateValue });
const FaultRegion = Type.Union(KNOWN_REGIONS.map((region) => Type.Literal(region)));
/** A network fault goes on a region's endpoint or on the load client's link. */
const NetworkFaultOn = Type.Union([...KNOWN_REGIONS, CLIENT_LINK].map((where) => Type.Literal(where)));
const FaultServiceName = Type.Union(FAULT_SERVICES.map((service) => Type.Literal(service)));
const FaultDuration = Type.Integer({ minimum: 1000, maximum: 24 * 3_600_000 });
/** A FaultSpec, as `parseFaultArgs` makes it from `corebank fault …`. */
const FaultBody = Type.Union([
  Type.Object({ kind: Type.Literal('packet-loss'), region: NetworkFaultOn, durationMs: Type.Optional(FaultDuration), percent: Type.Integer({ minimum: 1, maximum: 100 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('latency'), region: NetworkFaultOn, durationMs: Type.Optional(FaultDuration), ms: Type.Integer({ minimum: 1, maximum: 60_000 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('blackhole'), region: NetworkFaultOn, durationMs: Type.Optional(FaultDuration), target: Type.Union([Type.Literal('region'), Type.Literal('database')]) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('scale-to-zero'), region: FaultRegion, durationMs: Type.Optional(FaultDuration), service: Type.Optional(FaultServiceName) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('kill'), region: FaultRegion, durationMs: Type.Optional(FaultDuration), service: FaultServiceName, instance: Type.Integer({ minimum: 0, maximum: 3 }) }, { additionalProperties: false }),
]);

export function buildControlPlaneApp(options: {
  supervisor: Supervisor;
  database: DatabaseControl;
  workflows?: WorkflowRunner;
  regionPower?: RegionPower;
  autoFailover?: AutoFailover;
  faults?: FaultController;
  logger?: boolean;
}): App {
  const app = buildSupervisorApp({ supervisor: options.supervisor, ...(options.logger === false ? { logger: false } : {}) });
  const control = options.database;

  /** The global database, or a 409 when the system runs on an external server. */
  const globalDatabase = (): GlobalDatabase => {
    if (control.kind === 'external') throw conflict('external_database', 'DATABASE_URL points at one external server: there is no standby to switch to');
    return control.database;
  };
  /** A role change the module refuses (wrong state) is the caller's conflict, with the module's reason. */
  const asConflict = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw conflict('database_operation_failed', (error as Error).message);
    }
  };

  // Replies of the role changes are the module's own reports (SwitchoverReport, FailoverReport, RejoinReport), passed through.
  app.get('/database', { schema: { response: { 200: DatabaseReply } } }, () => databaseStatus(control));
  app.post('/database/switchover', {}, async (request) => {
    const database = globalDatabase();
    const report = await asConflict(() => database.switchover());
    request.log.info({ report }, 'database switchover');
    return report;
  });
  app.post('/database/failover', { schema: { body: FailoverBody } }, async (request) => {
    const database = globalDatabase();
    const report = await asConflict(() => database.failoverAllowingDataLoss());
    request.log.info({ report }, 'database failover allowing data loss');
    return report;
  });
  app.post('/database/rejoin', { schema: { body: RejoinBody } }, async (request) => {
    const database = globalDatabase();
    const report = await asConflict(() => database.rejoinAsStandby(request.body.node));
    request.log.info({ report }, 'database node rejoined as standby');
    return report;
  });

  // The Step Functions stand-in: one execution at a time.
  const { workflows, regionPower } = options;
  if (workflows) {
    app.post('/executions', { schema: { body: ExecutionBody } }, async (request, reply) => {
      try {
        return await reply.status(202).send({ execution: workflows.start(request.body.workflow as WorkflowName) });
      } catch (error) {
        if (error instanceof ExecutionConflictError) throw conflict('execution_running', error.message);
        throw error;
      }
    });
    app.get('/executions', async () => ({ executions: workflows.list() }));
    app.get('/executions/:id', { schema: { params: ExecutionParams } }, async (request) => {
      const execution = workflows.get(request.params.id);
      if (!execution) throw notFound(`no execution ${request.params.id}`);
      return { execution };
    });
  }
  if (regionPower) {
    const known = (region: string) => {
      if (!options.supervisor.snapshot().some((status) => status.region === region)) throw notFound(`no region ${region}`);
      return region;
    };
    app.post('/regions/:region/kill', { schema: { params: RegionParams } }, async (request) => regionPower.kill(known(request.params.region)));
    app.post('/regions/:region/restore', { schema: { params: RegionParams } }, async (request) => asConflict(() => regionPower.restore(known(request.params.region))));
  }

  // The seed's EventBridge rule (its state and its target, the initiator), what the canaries
  // and the initiator did, and the canary alarms as the monitor has them.
  const { autoFailover, faults } = options;
  if (autoFailover) {
    app.get('/auto-failover', async () => autoFailover.status());
    app.put('/auto-failover', { schema: { body: AutoFailoverBody } }, async (request) => {
      autoFailover.setEnabled(request.body.enabled);
      return autoFailover.status();
    });
    app.post('/events/alarm-state-change', { schema: { body: AlarmStateChangeBody } }, async (request) => {
      if (Number.isNaN(Date.parse(request.body.state.timestamp))) throw badRequest('state.timestamp must be an ISO 8601 time', 'invalid_request');
      return autoFailover.onAlarmStateChange(request.body);
    });
  } else {
    const unavailable = async () => {
      throw conflict('auto_failover_unavailable', 'automatic failover needs the monitor, which evaluates the canary alarms; this system runs without it');
    };
    app.get('/auto-failover', unavailable);
    app.put('/auto-failover', unavailable);
    app.post('/events/alarm-state-change', unavailable);
  }
  if (faults) {
    app.get('/faults', async () => ({ faults: faults.list() }));
    app.post('/faults', { schema: { body: FaultBody } }, async (request, reply) => {
      try {
        return await reply.status(201).send({ fault: faults.apply(request.body as FaultSpec) });
      } catch (error) {
        if (error instanceof FaultConflictError) throw conflict('fault_active', error.message);
        if (error instanceof FaultNotSupportedError) throw badRequest(error.message, 'fault_not_supported');
        throw error;
      }
    });
    app.delete('/faults', async () => ({ cleared: faults.clear() }));
  }
  return app;
}

/** Each region's database node: role and replication lag (`corebank status`). */
export function getDatabaseStatus(url: string): Promise<DatabaseStatusReply> {
  return callControlApi<DatabaseStatusReply>({
    url,
    method: 'GET',
    path: '/database',
    what: 'the control plane',
    refused: (status, message) => new ControlApiError(status, message),
    timeoutMs: 3000,
  });
}

/** The control plane's client for the workflow routes (`corebank failover|failback|executions|region`). */
export function controlPlaneClient(url: string) {
  const client = createServiceClient({ baseUrl: url, timeoutMs: 120_000, connections: 2 });
  const expect = <T>(reply: { status: number; body: unknown }, what: string): T => {
    if (reply.status >= 300) {
      const body = reply.body as { message?: string } | undefined;
      throw new Error(body?.message ?? `the control plane answered ${reply.status} to ${what}`);
    }
    return reply.body as T;
  };
  return {
    startExecution: async (workflow: WorkflowName) => expect<{ execution: ExecutionRecord }>(await client.post('/executions', { workflow }), 'POST /executions').execution,
    execution: async (id: string) => expect<{ execution: ExecutionRecord }>(await client.get(`/executions/${id}`), 'GET /executions/{id}').execution,
    executions: async () => expect<{ executions: ExecutionRecord[] }>(await client.get('/executions'), 'GET /executions').executions,
    killRegion: async (region: string) => expect<Record<string, unknown>>(await client.post(`/regions/${region}/kill`, {}), 'POST /regions/{region}/kill'),
    restoreRegion: async (region: string) => expect<Record<string, unknown>>(await client.post(`/regions/${region}/restore`, {}), 'POST /regions/{region}/restore'),
    autoFailover: async () => expect<AutoFailoverStatus>(await client.get('/auto-failover'), 'GET /auto-failover'),
    setAutoFailover: async (enabled: boolean) => expect<AutoFailoverStatus>(await client.put('/auto-failover', { enabled }), 'PUT /auto-failover'),
    applyFault: async (spec: FaultSpec) => expect<{ fault: AppliedFault }>(await client.post('/faults', spec), 'POST /faults').fault,
    faults: async () => expect<{ faults: AppliedFault[] }>(await client.get('/faults'), 'GET /faults').faults,
    // The kit's client has no DELETE (no service needs one): fetch, with the same error handling.
    clearFaults: async () => {
      const response = await fetch(`${url}/faults`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) });
      return expect<{ cleared: AppliedFault[] }>({ status: response.status, body: await response.json() }, 'DELETE /faults').cleared;
    },
    close: () => client.close(),
  };
}
