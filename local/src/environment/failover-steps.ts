/**
 * The failover workflow's steps against the local system (what the Step Functions tasks call
 * on AWS: DynamoDB put-item, ARC, Aurora's switchover / failover, ECS), and the region power
 * cut of the region-loss drill. Every step is idempotent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createDynamoClients, createSagaStore, putStopFlag } from '@corebank/transaction';
import { SERVICE_TOKEN_HEADER, waitFor } from '@corebank/kit';
import type { DatabaseControl } from './control-plane.ts';
import { MAIN_TABLE, paramTableOf } from './regions.ts';
import { setRoutingControl } from './routing-controls.ts';
import type { Supervisor } from './supervisor.ts';
import type { StepExecutors } from './workflow-runner.ts';

export interface FailoverContext {
  supervisor: Supervisor;
  database: DatabaseControl;
  dynamodbEndpoint: string;
  routingControlsUrl: string;
  serviceToken: string;
  /** The services of a region whose instances read the stopFlag. */
  services?: readonly string[];
}

const REGION_STATE_PATH = '/internal/region';
const STOP_FLAG_READERS = ['transaction', 'worker'] as const;
/** How often the local runner reads the database's state (Step Functions polls every 10 s). */
const DATABASE_POLL_MS = 200;

export async function writeStopFlag(dynamodbEndpoint: string, region: string, value: 'true' | 'false'): Promise<void> {
  const { doc, destroy } = createDynamoClients({ region, endpoint: dynamodbEndpoint });
  try {
    await putStopFlag(doc, paramTableOf(region), value);
  } finally {
    destroy();
  }
}

/** Asks every instance of the region that reads the stopFlag for its state (which makes it read the flag afresh). */
async function regionStates(context: FailoverContext, region: string): Promise<Array<{ url: string; state?: { closed: boolean; inFlight: number }; problem?: string }>> {
  const urls = STOP_FLAG_READERS.flatMap((service) => context.supervisor.targets(region, service));
  return Promise.all(
    urls.map(async (url) => {
      try {
        const response = await fetch(`${url}${REGION_STATE_PATH}`, { headers: { [SERVICE_TOKEN_HEADER]: context.serviceToken }, signal: AbortSignal.timeout(2000) });
        if (!response.ok) return { url, problem: `${response.status}` };
        return { url, state: (await response.json()) as { closed: boolean; inFlight: number } };
      } catch (error) {
        return { url, problem: (error as Error).message };
      }
    }),
  );
}

export function failoverSteps(context: FailoverContext): StepExecutors {
  const { supervisor, database } = context;
  return {
    async setStopFlag(region, value) {
      await writeStopFlag(context.dynamodbEndpoint, region, value);
      // The region's instances read it now rather than at the end of their cache's TTL: an
      // opening region accepts at once. Best effort: the TTL still bounds an instance not reached.
      const states = await regionStates(context, region);
      const seen = states.filter((each) => each.state?.closed === (value === 'true')).length;
      return { region, stopFlag: value, instancesSeeingIt: `${seen}/${states.length}` };
    },

    async waitUntilDrained(region, deadlineMs) {
      const startedAt = Date.now();
      const deadline = startedAt + deadlineMs;
      let last: string[] = [];
      while (Date.now() < deadline) {
        const states = await regionStates(context, region);
        last = states
          .map(({ url, state, problem }) => (problem ? `${url}: ${problem}` : state!.closed && state!.inFlight === 0 ? undefined : `${url}: closed ${state!.closed}, in flight ${state!.inFlight}`))
          .filter((reply): reply is string => reply !== undefined);
        if (last.length === 0) return { confirmed: true, instances: states.length, waitedMs: Date.now() - startedAt };
        await sleep(100);
      }
      // Past the cache's TTL every instance has read the flag again: the fallback of the AWS workflow.
      return { confirmed: false, waitedMs: Date.now() - startedAt, unconfirmed: last };
    },

    wait: (ms) => sleep(ms),

    async setRoutingControls(off, on) {
      await setRoutingControl(context.routingControlsUrl, off, 'Off');
      await setRoutingControl(context.routingControlsUrl, on, 'On');
      return { [off]: 'Off', [on]: 'On' };
    },

    async switchDatabase(target, allowDataLoss) {
      if (database.kind === 'external') return { skipped: 'one external database: nothing to switch' };
      const global = database.database;
      const nodes = await global.status();
      if (global.primary() === target && nodes.find((node) => node.name === target)?.role === 'primary') return { skipped: `${target} is already the primary` };
      if (allowDataLoss) return { ...(await global.failoverAllowingDataLoss()) };
      return { ...(await global.switchover()) };
    },

    async waitDatabaseAvailable(target, { otherMayBeDown, timeoutMs }) {
      if (database.kind === 'external') return { skipped: 'one external database' };
      const startedAt = Date.now();
      await waitFor(`${target} primary${otherMayBeDown ? '' : ' and the other node streaming from it'}`, async () => {
        const nodes = await database.database.status();
        const primary = nodes.find((node) => node.name === target);
        if (primary?.role !== 'primary') throw new Error(`${target} is ${primary?.role ?? 'unknown'}`);
        if (otherMayBeDown) return;
        const standby = nodes.find((node) => node.name !== target);
        if (standby?.role !== 'standby' || !standby.streaming) throw new Error(`${standby?.name ?? 'the other node'} is ${standby?.role ?? 'unknown'}${standby?.streaming === false ? ', not streaming' : ''}`);
      }, timeoutMs, DATABASE_POLL_MS);
      return { waitedMs: Date.now() - startedAt };
    },

    async releaseLeases(lostRegion, via) {
      // The lost region's worker cannot hand its sagas back; releasing its leases lets the
      // destination's worker resume them at once instead of after WORKER_LEASE_MS. Each release
      // is conditioned on the owner being unchanged (see SagaStore.releaseLeasesOfRegion).
      const { doc, destroy } = createDynamoClients({ region: via, endpoint: context.dynamodbEndpoint });
      try {
        return { region: lostRegion, ...(await createSagaStore({ doc, mainTable: MAIN_TABLE }).releaseLeasesOfRegion(lostRegion)) };
      } finally {
        destroy();
      }
    },
  };
}

/** `corebank region kill|restore`: a power cut of a whole region, and its return as the standby region. */
export function regionPower(context: FailoverContext) {
  const services = context.services ?? ['balance', 'count', 'transaction', 'worker'];
  return {
    /** SIGKILL of the region's database node and every service instance; desired counts 0 so that nothing restarts. */
    async kill(region: string) {
      const killed: number[] = [];
      for (const status of context.supervisor.snapshot().filter((each) => each.region === region)) {
        for (const instance of status.instances) {
          if (instance.pid === null) continue;
          try {
            process.kill(instance.pid, 'SIGKILL');
            killed.push(instance.pid);
          } catch {
            // already gone
          }
        }
      }
      // In the same tick as the kills: the supervisor sees desired 0 before it sees the exits.
      for (const service of services) context.supervisor.setDesiredCount(region, service, 0);
      if (context.database.kind === 'global') await context.database.database.kill(region);
      return { region, killedPids: killed, database: context.database.kind === 'global' ? 'killed' : 'external (untouched)' };
    },
    /** Back as the standby region: closed, its node a standby of the current primary, one instance of each service. */
    async restore(region: string) {
      await writeStopFlag(context.dynamodbEndpoint, region, 'true');
      let rejoin: Record<string, unknown> | undefined;
      if (context.database.kind === 'global') {
        const global = context.database.database;
        if (global.primary() === region) throw new Error(`${region}'s node is the primary: fail over first (corebank failover --allow-data-loss), then restore it as the standby`);
        rejoin = { ...(await global.rejoinAsStandby(region)) };
      }
      for (const service of services) context.supervisor.setDesiredCount(region, service, 1);
      return { region, stopFlag: 'true', ...(rejoin ? { database: rejoin } : {}) };
    },
  };
}
export type RegionPower = ReturnType<typeof regionPower>;
