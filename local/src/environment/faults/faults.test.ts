import { describe, expect, it } from 'vitest';
import { CLIENT_LINK, describeFault, faultSite, FaultArgumentError, formatFaultList, parseDuration, parseFaultArgs } from './faults.ts';

describe('parseFaultArgs', () => {
  it('reads each kind with its options, the region defaulting to the primary', () => {
    expect(parseFaultArgs(['packet-loss', '--percent', '30', '--duration', '2m'])).toEqual({ kind: 'packet-loss', percent: 30, region: 'ap-northeast-1', durationMs: 120_000 });
    expect(parseFaultArgs(['latency', '--ms', '200', '--region', 'ap-northeast-3'])).toEqual({ kind: 'latency', ms: 200, region: 'ap-northeast-3' });
    expect(parseFaultArgs(['blackhole'])).toEqual({ kind: 'blackhole', target: 'region', region: 'ap-northeast-1' });
    expect(parseFaultArgs(['blackhole', '--database', '--duration', '30s'])).toEqual({ kind: 'blackhole', target: 'database', region: 'ap-northeast-1', durationMs: 30_000 });
    expect(parseFaultArgs(['scale-to-zero'])).toEqual({ kind: 'scale-to-zero', region: 'ap-northeast-1' });
    expect(parseFaultArgs(['scale-to-zero', '--service', 'worker'])).toEqual({ kind: 'scale-to-zero', service: 'worker', region: 'ap-northeast-1' });
    expect(parseFaultArgs(['kill', '--service', 'balance'])).toEqual({ kind: 'kill', service: 'balance', instance: 0, region: 'ap-northeast-1' });
    expect(parseFaultArgs(['kill', '--service', 'count', '--instance', '1'])).toMatchObject({ instance: 1 });
  });

  it('says where each fault acts', () => {
    expect(faultSite(parseFaultArgs(['latency', '--ms', '5']))).toBe('endpoint');
    expect(faultSite(parseFaultArgs(['blackhole']))).toBe('endpoint');
    expect(faultSite(parseFaultArgs(['blackhole', '--database']))).toBe('database');
    expect(faultSite(parseFaultArgs(['packet-loss', '--percent', '5', '--client']))).toBe('client-link');
    expect(faultSite(parseFaultArgs(['scale-to-zero']))).toBe('services');
  });

  it('puts a network fault on the load client\'s link with --client, as FIS does on the bastion', () => {
    expect(parseFaultArgs(['packet-loss', '--percent', '30', '--client'])).toEqual({ kind: 'packet-loss', percent: 30, region: CLIENT_LINK });
    expect(parseFaultArgs(['latency', '--client', '--ms', '100'])).toEqual({ kind: 'latency', ms: 100, region: CLIENT_LINK });
    expect(describeFault(parseFaultArgs(['packet-loss', '--percent', '30', '--client', '--duration', '5m']))).toBe("packet loss 30 % on the load client's link to the global endpoint, for 5m");
    expect(describeFault(parseFaultArgs(['blackhole', '--client']))).toBe("blackhole on the load client's link to the global endpoint (connections accepted, never answered), until cleared");
  });

  it.each([
    [[], /fault kind must be one of/],
    [['flood'], /not flood/],
    [['packet-loss'], /--percent must be a whole number from 1 to 100, not missing/],
    [['packet-loss', '--percent', '101'], /not 101/],
    [['packet-loss', '--percent', '2.5'], /not 2.5/],
    [['latency', '--ms', '0'], /--ms must be/],
    [['latency', '--ms', '100', '--percent', '3'], /latency does not take --percent/],
    [['latency', '--ms', '100', '--ms', '200'], /given twice/],
    [['blackhole', '--region', 'us-east-1'], /--region must be one of/],
    [['blackhole', '--duration', '10'], /--duration must look like/],
    [['blackhole', '--duration', '500ms'], /from 1s to 24h/],
    [['kill'], /--service must be one of/],
    [['kill', '--service', 'balance', '--instance', '4'], /--instance/],
    [['kill', 'balance'], /kill does not take balance/],
    [['scale-to-zero', '--client'], /scale-to-zero does not take --client/],
    [['packet-loss', '--percent', '30', '--client', '--region', 'ap-northeast-1'], /takes neither --region nor --database/],
    [['blackhole', '--client', '--database'], /takes neither --region nor --database/],
  ])('refuses %j', (args, message) => {
    expect(() => parseFaultArgs(args)).toThrow(FaultArgumentError);
    expect(() => parseFaultArgs(args)).toThrow(message);
  });
});

describe('describeFault and the fault list', () => {
  it('says what, where and for how long', () => {
    expect(describeFault(parseFaultArgs(['packet-loss', '--percent', '30', '--duration', '90s']))).toBe("packet loss 30 % into ap-northeast-1's endpoint, for 90s");
    expect(describeFault(parseFaultArgs(['blackhole', '--database']))).toBe("blackhole of ap-northeast-1's database (connections accepted, never answered), until cleared");
    expect(describeFault(parseFaultArgs(['kill', '--service', 'worker', '--duration', '1m']))).toBe("kill instance 0 of ap-northeast-1's worker");
    expect(parseDuration('1h')).toBe(3_600_000);
  });

  it('lists active faults with the time each has left', () => {
    const now = 1_000_000;
    const text = formatFaultList(
      [
        { id: 'f1', spec: parseFaultArgs(['latency', '--ms', '200', '--duration', '1m']), since: now - 15_000 },
        { id: 'f2', spec: parseFaultArgs(['scale-to-zero', '--region', 'ap-northeast-3']), since: now },
      ],
      now,
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^id\s+kind\s+on\s+fault\s+clears$/);
    expect(lines[1]).toMatch(/^f1\s+latency\s+ap-northeast-1\s+latency \+200 ms each way .*, for 1m\s+45s left$/);
    expect(lines[2]).toMatch(/^f2\s+scale-to-zero\s+ap-northeast-3\s+every service of ap-northeast-3 scaled to 0, until cleared\s+until cleared$/);
    expect(formatFaultList([], now)).toBe('no fault is active');
  });
});
