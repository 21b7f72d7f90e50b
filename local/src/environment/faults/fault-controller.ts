/**
 * The control plane's side of `corebank fault`: executes a FaultSpec against the supervisor
 * and undoes it on `fault clear` or when its duration ends. `scale-to-zero` sets the desired
 * counts to 0 and remembers the counts it replaced; `kill` SIGKILLs one instance, which the
 * supervisor starts again (nothing to undo, so it is not kept as active). The network kinds
 * (packet loss, latency, blackhole) go to the fault proxy in front of the region's regional
 * endpoint (`proxies`), through which the global endpoint also reaches the region, or, with
 * `--client`, to the load client's link (the proxy keyed CLIENT_LINK); a blackhole of the
 * database goes to the proxy between the region's services and its node.
 */
import { randomUUID } from 'node:crypto';
import type { Supervisor } from '../supervisor.ts';
import type { FaultProxy } from './fault-proxy.ts';
import { describeFault, FAULT_SERVICES, faultSite, type ActiveFault, type FaultSpec } from './faults.ts';

export class FaultNotSupportedError extends Error {
  override name = 'FaultNotSupportedError';
}

export class FaultConflictError extends Error {
  override name = 'FaultConflictError';
}

export interface AppliedFault extends ActiveFault {
  description: string;
  /** What was done: the counts replaced, the pid killed. */
  effect: Record<string, unknown>;
}

export function createFaultController(options: {
  supervisor: Supervisor;
  /** The proxy in front of each region's endpoint, and CLIENT_LINK's. */
  proxies?: ReadonlyMap<string, FaultProxy>;
  /** The proxy between each region's services and its database node. */
  databaseProxies?: ReadonlyMap<string, FaultProxy>;
  log?: (line: string) => void;
}) {
  const { supervisor } = options;
  const active = new Map<string, AppliedFault & { undo: () => void; timer?: NodeJS.Timeout }>();

  function clearOne(id: string) {
    const fault = active.get(id);
    if (!fault) return undefined;
    clearTimeout(fault.timer);
    active.delete(id);
    fault.undo();
    options.log?.(`fault ${id} cleared: ${fault.description}`);
    return fault;
  }

  const visible = ({ undo: _undo, timer: _timer, ...fault }: AppliedFault & { undo: () => void; timer?: NodeJS.Timeout }): AppliedFault => fault;

  return {
    apply(spec: FaultSpec): AppliedFault {
      const id = randomUUID().slice(0, 8);
      const since = Date.now();
      const description = describeFault(spec);
      switch (spec.kind) {
        case 'kill': {
          const status = supervisor.snapshot().find((each) => each.region === spec.region && each.service === spec.service);
          const pid = status?.instances.find((instance) => instance.index === spec.instance)?.pid ?? null;
          if (pid === null) throw new FaultNotSupportedError(`instance ${spec.instance} of ${spec.region}'s ${spec.service} is not running`);
          process.kill(pid, 'SIGKILL');
          options.log?.(`fault: ${description} (pid ${pid})`);
          return { id, spec, since, description, effect: { killedPid: pid } };
        }
        case 'scale-to-zero': {
          const services = spec.service ? [spec.service] : [...FAULT_SERVICES];
          const previous: Record<string, number> = {};
          for (const service of services) {
            const status = supervisor.snapshot().find((each) => each.region === spec.region && each.service === service);
            if (!status) throw new FaultNotSupportedError(`no service ${service} in ${spec.region}`);
            // Its clear would restore the first one's 0: one at a time per service.
            const earlier = [...active.values()].find((fault) => fault.spec.kind === 'scale-to-zero' && fault.spec.region === spec.region && service in (fault.effect.previousDesired as Record<string, number>));
            if (earlier) throw new FaultConflictError(`fault ${earlier.id} already scales ${spec.region}'s ${service} to 0; clear it first`);
            previous[service] = status.desired;
          }
          for (const service of services) supervisor.setDesiredCount(spec.region, service, 0);
          const fault = {
            id,
            spec,
            since,
            description,
            effect: { previousDesired: previous },
            undo: () => {
              for (const [service, count] of Object.entries(previous)) supervisor.setDesiredCount(spec.region, service, count);
            },
          };
          active.set(id, spec.durationMs === undefined ? fault : { ...fault, timer: setTimeout(() => clearOne(id), spec.durationMs) });
          options.log?.(`fault ${id}: ${description}`);
          return visible(fault);
        }
        case 'packet-loss':
        case 'latency':
        case 'blackhole': {
          const site = faultSite(spec);
          const proxy = (site === 'database' ? options.databaseProxies : options.proxies)?.get(spec.region);
          if (!proxy) {
            throw new FaultNotSupportedError(
              site === 'database'
                ? `blackhole --database needs the proxy between ${spec.region}'s services and its database node, which a system on an external DATABASE_URL does not run; blackhole without --database cuts the region's endpoint`
                : site === 'client-link'
                  ? `${spec.kind} --client needs the load client's link, which this system does not run`
                  : `${spec.kind} needs the fault proxy in front of ${spec.region}'s endpoint, which this system does not run`,
            );
          }
          // Its clear would end the first one: one at a time per kind and proxy.
          const earlier = [...active.values()].find((fault) => fault.spec.kind === spec.kind && fault.spec.region === spec.region && faultSite(fault.spec) === site);
          if (earlier) throw new FaultConflictError(`fault ${earlier.id} already injects ${spec.kind} into ${spec.region}; clear it first`);
          proxy.inject(spec.kind === 'latency' ? { kind: 'latency', ms: spec.ms } : spec.kind === 'packet-loss' ? { kind: 'packet-loss', percent: spec.percent } : { kind: 'blackhole' });
          const fault = { id, spec, since, description, effect: { proxyPort: proxy.port }, undo: () => proxy.clear(spec.kind) };
          active.set(id, spec.durationMs === undefined ? fault : { ...fault, timer: setTimeout(() => clearOne(id), spec.durationMs) });
          options.log?.(`fault ${id}: ${description}`);
          return visible(fault);
        }
      }
    },
    list: (): AppliedFault[] => [...active.values()].map(visible),
    /** Clears every active fault (or one), undoing each; returns what was cleared. */
    clear(id?: string): AppliedFault[] {
      const ids = id === undefined ? [...active.keys()] : [id];
      return ids.map(clearOne).filter((fault): fault is NonNullable<typeof fault> => fault !== undefined).map(visible);
    },
    /** The system stops: the timers go, nothing is undone (the desired counts die with the supervisor). */
    stop() {
      for (const fault of active.values()) clearTimeout(fault.timer);
      active.clear();
    },
  };
}

export type FaultController = ReturnType<typeof createFaultController>;
