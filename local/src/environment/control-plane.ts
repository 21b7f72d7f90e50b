/**
 * The control plane's API, served by the `corebank start` process (which holds the
 * supervisor and the global database): the supervisor's routes (GET /services, PUT
 * /regions/{region}/services/{service}, GET /targets) plus the database's. `corebank status`
 * and `corebank scale` read and change it; the failover workflow drives the database through
 * it, as it would call Aurora's and ECS's APIs.
 */
import { Type } from '@fastify/type-provider-typebox';
import { conflict, createServiceClient, type App } from '@corebank/kit';
import type { GlobalDatabase, GlobalDatabaseNodeStatus } from './global-database.ts';
import { buildSupervisorApp } from './supervisor-api.ts';
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

export function buildControlPlaneApp(options: { supervisor: Supervisor; database: DatabaseControl; logger?: boolean }): App {
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
  return app;
}

/** Each region's database node: role and replication lag (`corebank status`). */
export async function getDatabaseStatus(url: string): Promise<DatabaseStatusReply> {
  const client = createServiceClient({ baseUrl: url, timeoutMs: 3000, connections: 1 });
  try {
    const reply = await client.get<DatabaseStatusReply>('/database');
    if (reply.status !== 200) throw new Error(`the control plane answered ${reply.status} to GET /database`);
    return reply.body;
  } finally {
    await client.close();
  }
}
