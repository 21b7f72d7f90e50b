import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Supervisor } from '../supervisor.ts';
import { createFaultController, FaultConflictError, FaultNotSupportedError } from './fault-controller.ts';
import { createFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { CLIENT_LINK, parseFaultArgs } from './faults.ts';

describe('fault controller: network faults go to the proxy of where they are', () => {
  let clientLink: FaultProxy;
  let tokyo: FaultProxy;
  // Network faults never ask the supervisor; scale-to-zero and kill are covered end to end.
  const supervisor = { snapshot: () => [] } as unknown as Supervisor;

  beforeAll(async () => {
    // Nothing listens behind them: these checks are about which proxy holds the fault.
    clientLink = await createFaultProxy({ targetPort: 9 });
    tokyo = await createFaultProxy({ targetPort: 9 });
  });
  afterAll(async () => {
    await clientLink.close();
    await tokyo.close();
  });

  it("puts --client on the load client's link and a region's fault on the region's proxy, and clears each", () => {
    const faults = createFaultController({ supervisor, proxies: new Map([[CLIENT_LINK, clientLink], ['ap-northeast-1', tokyo]]) });
    const onClient = faults.apply(parseFaultArgs(['packet-loss', '--percent', '30', '--client']));
    expect(clientLink.active().map((each) => each.fault)).toEqual([{ kind: 'packet-loss', percent: 30 }]);
    expect(tokyo.active()).toEqual([]);
    faults.apply(parseFaultArgs(['latency', '--ms', '100']));
    expect(tokyo.active().map((each) => each.fault)).toEqual([{ kind: 'latency', ms: 100 }]);
    expect(faults.list().map((fault) => fault.spec.region).sort()).toEqual(['ap-northeast-1', CLIENT_LINK]);
    expect(() => faults.apply(parseFaultArgs(['packet-loss', '--percent', '50', '--client']))).toThrow(FaultConflictError);

    expect(faults.clear(onClient.id).map((fault) => fault.id)).toEqual([onClient.id]);
    expect(clientLink.active()).toEqual([]);
    expect(tokyo.active()).toHaveLength(1);
    faults.clear();
    expect(tokyo.active()).toEqual([]);
    faults.stop();
  });

  it("blackholes a region's database on the proxy in front of its node, beside a blackhole of its endpoint", () => {
    const faults = createFaultController({ supervisor, proxies: new Map([['ap-northeast-1', tokyo]]), databaseProxies: new Map([['ap-northeast-1', clientLink]]) });
    faults.apply(parseFaultArgs(['blackhole', '--database']));
    expect(clientLink.active().map((each) => each.fault)).toEqual([{ kind: 'blackhole' }]);
    expect(tokyo.active()).toEqual([]);
    faults.apply(parseFaultArgs(['blackhole']));
    expect(tokyo.active().map((each) => each.fault)).toEqual([{ kind: 'blackhole' }]);
    expect(() => faults.apply(parseFaultArgs(['blackhole', '--database']))).toThrow(FaultConflictError);
    faults.clear();
    expect([...clientLink.active(), ...tokyo.active()]).toEqual([]);
    expect(() => createFaultController({ supervisor }).apply(parseFaultArgs(['blackhole', '--database']))).toThrow(/external DATABASE_URL/);
    faults.stop();
  });

  it('refuses --client, clearly, when the system runs no client link', () => {
    const faults = createFaultController({ supervisor, proxies: new Map([['ap-northeast-1', tokyo]]) });
    expect(() => faults.apply(parseFaultArgs(['blackhole', '--client']))).toThrow(FaultNotSupportedError);
    expect(() => faults.apply(parseFaultArgs(['blackhole', '--client']))).toThrow(/load client's link/);
    faults.stop();
  });
});
