/**
 * Automatic failover end to end, on one scratch system whose canaries run every 2 s: with the
 * rule disabled, Tokyo's transaction service scaled to 0 sends both canary alarms to ALARM in
 * the monitor (its dashboard shows them and the fault) and starts nothing; cleared, the alarms
 * return to OK; enabled, the same fault starts exactly one failover, which succeeds, and
 * deposits through the global endpoint land in Osaka.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { launchChromium } from '@corebank/testing';
import { controlPlaneClient } from '../../local/src/environment/control-plane.ts';
import { startScratchSystem, type ScratchSystem } from '../../local/src/environment/scratch-system.ts';
import type { SystemStatus } from '../../local/src/cli/program.ts';

const PERIOD_MS = 2000;
let system: ScratchSystem;
let client: ReturnType<typeof controlPlaneClient>;
const events: string[] = [];

beforeAll(async () => {
  system = await startScratchSystem({ tmpPrefix: 'corebank-autofailover-', canaryPeriodMs: PERIOD_MS, onControlPlaneEvent: (line) => events.push(`${new Date().toISOString()} ${line}`) });
  client = controlPlaneClient(system.controlPlane);
}, 120_000);
afterAll(async () => {
  await client?.close();
  await system?.stop();
}, 60_000);

const corebank = (...args: string[]) => system.corebank(...args);
const alarmStates = async () => (await client.autoFailover()).alarms.map((alarm) => alarm.state);
const waitAlarms = (state: string, timeoutMs = 20_000) =>
  waitFor(`both canary alarms ${state}`, async () => expect(await alarmStates()).toEqual([state, state]), timeoutMs, 200);

describe('network faults through the real endpoint', () => {
  const timedBalance = async (baseUrl: string) => {
    const started = Date.now();
    const response = await fetch(`${baseUrl}/balance`, { headers: { X_ACCOUNT_ID: 'latency-probe' }, signal: AbortSignal.timeout(10_000) });
    await response.text();
    return { status: response.status, ms: Date.now() - started };
  };

  it("latency on Tokyo: a request through Tokyo's regional endpoint (and the global one) takes at least the injected ms; clear restores", async () => {
    const tokyo = system.regions.find((region) => region.spec.name === 'ap-northeast-1')!;
    expect((await timedBalance(tokyo.endpoint)).status).toBe(200);
    expect(await corebank('fault', 'latency', '--ms', '300', '--region', 'ap-northeast-1')).toMatch(/latency \+300 ms each way into ap-northeast-1's endpoint, until cleared/);
    try {
      // A fresh connection, so the proxy's delay counts both ways; 300 ms each way.
      for (const baseUrl of [tokyo.endpoint, system.globalEndpoint]) {
        const slow = await timedBalance(baseUrl);
        expect(slow.status).toBe(200);
        expect(slow.ms).toBeGreaterThanOrEqual(600);
      }
    } finally {
      expect(await corebank('fault', 'clear')).toMatch(/cleared .*latency/);
    }
    await waitFor('fast again', async () => expect((await timedBalance(tokyo.endpoint)).ms).toBeLessThan(300), 10_000, 100);
  }, 30_000);
});

describe('automatic failover', () => {
  it('disabled: the fault sends both alarms to ALARM and starts nothing', async () => {
    await waitAlarms('OK');
    const faultAt = Date.now();
    const fault = await client.applyFault({ kind: 'scale-to-zero', region: 'ap-northeast-1', service: 'transaction' });
    expect(fault.effect).toEqual({ previousDesired: { transaction: 1 } });
    await waitAlarms('ALARM');
    const status = await client.autoFailover();
    expect(status.enabled).toBe(false);
    // The rule is disabled: the monitor's events reached it, and it passed none to the initiator.
    expect(status.lastDecision).toBeNull();
    expect(status.events.filter((event) => event.kind === 'alarm' && Date.parse(event.at) >= faultAt && event.detail.includes('rule disabled')).map((event) => event.subject).sort()).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    expect(status.notifications.filter((notification) => notification.to === 'ALARM' && notification.at >= faultAt).map((notification) => notification.alarm).sort()).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    expect(await client.executions()).toEqual([]);

    // The monitor's dashboard, in a real browser: the fault, and the canary alarms in ALARM.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${system.monitor}/?refresh=500`);
      await waitFor('the fault and the canary alarms on the dashboard', async () => {
        expect(await page.textContent('#faults tr[data-fault="scale-to-zero"]')).toContain('ap-northeast-1 / transaction');
        for (const alarm of ['canary-ap-northeast-3', 'canary-us-west-2']) expect(await page.textContent(`tr[data-alarm="${alarm}"] .state`)).toBe('ALARM');
      }, 10_000, 200);
    } finally {
      await browser.close();
    }
    expect(await client.clearFaults()).toHaveLength(1);
    await waitAlarms('OK');
    expect(await client.executions()).toEqual([]);
  }, 60_000);

  it('enabled: the fault starts exactly one failover, which succeeds, and deposits through the global endpoint land in Osaka', async () => {
    expect(await corebank('autofailover', 'enable')).toContain('auto-failover: enabled');
    const faultStartedAt = Date.now();
    expect(await corebank('fault', 'scale-to-zero', '--region', 'ap-northeast-1', '--service', 'transaction')).toMatch(/transaction of ap-northeast-1 scaled to 0, until cleared/);
    expect(await corebank('fault', 'list')).toContain('scale-to-zero');
    await waitFor('a failover execution', async () => expect(await client.executions()).toHaveLength(1), 30_000, 200);
    const [execution] = await client.executions();
    expect(execution).toMatchObject({ workflow: 'failover', source: 'ap-northeast-1', destination: 'ap-northeast-3' });
    await waitFor('the failover to succeed', async () => expect((await client.execution(execution!.id)).status).toBe('succeeded'), 60_000, 200);
    const detectedMs = Date.parse(execution!.startedAt) - faultStartedAt;
    const ended = await client.execution(execution!.id);
    console.log(`fault → failover started ${detectedMs} ms; failover took ${Date.parse(ended.endedAt!) - Date.parse(ended.startedAt)} ms`);

    const status = await client.autoFailover();
    expect(status.lastDecision).toMatchObject({ decision: 'start', executionId: execution!.id });
    // Both alarms' events came; the second was merged into the initiation the first opened.
    expect(status.events.filter((event) => event.kind === 'decision' && Date.parse(event.at) >= faultStartedAt).map((event) => event.detail.split(':')[0])).toEqual(['start']);
    const deposit = await fetch(`${system.globalEndpoint}/transaction/deposit`, { method: 'POST', headers: { X_ACCOUNT_ID: 'after-auto-failover', 'content-type': 'application/json' }, body: '{"quantity": 7}' });
    expect(deposit.status).toBe(200);
    const { transactionId } = (await deposit.json()) as { transactionId: string };
    await waitFor('the deposit to succeed', async () => {
      const saga = await fetch(`${system.globalEndpoint}/transaction/${transactionId}`, { headers: { X_ACCOUNT_ID: 'after-auto-failover' } });
      expect(((await saga.json()) as { status: string }).status).toBe('status#success');
    }, 15_000, 100);
    // Osaka answers it itself: its regional endpoint has the balance.
    const osaka = system.regions.find((region) => region.spec.name === 'ap-northeast-3')!;
    const balance = await fetch(`${osaka.endpoint}/balance`, { headers: { X_ACCOUNT_ID: 'after-auto-failover' } });
    expect(((await balance.json()) as { balance: number }).balance).toBe(7);

    // The canaries now watch Osaka: their alarms return to OK, and the alarms staying ALARM never started a second execution.
    await waitAlarms('OK');
    expect(await client.executions()).toHaveLength(1);
    const systemStatus = JSON.parse(await corebank('status', '--json')) as SystemStatus;
    expect(systemStatus.activeRegion).toBe('ap-northeast-3');
    expect(systemStatus.autoFailover).toMatchObject({ enabled: true, watching: 'ap-northeast-3', lastDecision: { decision: 'start' } });
    expect(await corebank('status')).toMatch(/auto-failover: enabled; canaries every 2 s on ap-northeast-3: canary-ap-northeast-3 OK, canary-us-west-2 OK; last decision start/);
    expect(await corebank('fault', 'clear')).toMatch(/cleared .*transaction of ap-northeast-1 scaled to 0/);
    console.log(events.join('\n'));
  }, 90_000);
});
