import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_TOKEN_HEADER, waitFor } from '@corebank/kit';
import { controlPlaneClient } from '../../local/src/environment/control-plane.ts';
import { startScratchSystem } from '../../local/src/environment/scratch-system.ts';
import { apiClient } from './api-client.ts';

/**
 * The monitoring issue's two checks, on the whole local system: one deposit is one trace
 * through the API, the worker and balance; and balance's latency alarm goes to ALARM and back
 * to OK, each with a notification. Periods of 2 s, so that two breaching periods take seconds.
 */
const ALARM_PERIOD_S = 2;
const INJECTED_LATENCY_MS = 1500;

let system: Awaited<ReturnType<typeof startScratchSystem>>;
let api: ReturnType<typeof apiClient>;
const newAccount = () => `mon${randomUUID().replaceAll('-', '').slice(0, 16)}`;

interface TraceSummary {
  traceId: string;
  services: string[];
}
interface TraceSpan {
  service: string;
  name: string;
  kind: string;
  attributes: Record<string, string | number | boolean>;
}
interface Series {
  bucketSeconds: number;
  times: number[];
  series: Array<{ service: string; region: string; requestRate: number[] }>;
}
interface Notification {
  alarm: string;
  from: string;
  to: string;
}

const monitorGet = async <T>(path: string): Promise<T> => {
  const response = await fetch(`${system.monitor}${path}`);
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return (await response.json()) as T;
};

beforeAll(async () => {
  system = await startScratchSystem({
    tmpPrefix: 'corebank-e2e-monitoring-',
    alarmPeriod: `${ALARM_PERIOD_S}s`,
    alarmEvaluationPeriods: 2,
    // Spans exported within 200 ms (the SDK's default waits 5 s, longer than a period) and the test-only latency switch.
    serviceEnv: { OTEL_BSP_SCHEDULE_DELAY: '200', TEST_ONLY_LATENCY_CONTROL: 'true', LOG_LEVEL: 'warn' },
  });
  api = apiClient(system.regions[0]!.endpoint);
}, 180_000);
afterAll(() => system?.stop(), 60_000);

describe('monitoring the local system', () => {
  it('traces one deposit as one trace: the API, the worker (a span per step) and balance with its SQL', async () => {
    const account = newAccount();
    const reply = await api.deposit(account, 1000);
    expect(reply.status).toBe(200);
    const transactionId = reply.body.transactionId as string;
    expect(await api.finished(account, transactionId)).toBe('status#success');

    let spans: TraceSpan[] = [];
    await waitFor('the deposit\'s trace in the monitor', async () => {
      const summaries = await monitorGet<TraceSummary[]>('/api/traces?limit=1000');
      const candidates = summaries.filter((trace) => trace.services.includes('transaction-worker'));
      for (const candidate of candidates) {
        const trace = await monitorGet<{ spans: TraceSpan[] }>(`/api/traces/${candidate.traceId}`);
        if (!trace.spans.some((span) => span.attributes['transaction.id'] === transactionId)) continue;
        spans = trace.spans;
        const services = new Set(spans.map((span) => span.service));
        if (!['transaction', 'transaction-worker', 'balance'].every((service) => services.has(service))) throw new Error(`the trace has only ${[...services].join(', ')} so far`);
        if (!spans.some((span) => span.name === 'step deposit_balance')) throw new Error('no step span yet');
        return;
      }
      throw new Error(`no trace with transaction ${transactionId} yet`);
    }, 20_000, 200);

    const saga = spans.find((span) => span.name === 'saga deposit');
    expect(saga).toMatchObject({ service: 'transaction-worker', kind: 'consumer', attributes: { 'transaction.id': transactionId, 'saga.outcome': 'success' } });
    expect(spans.find((span) => span.name === 'step deposit_balance')?.attributes).toMatchObject({ 'saga.step': 'deposit_balance', 'transaction.id': transactionId, 'saga.outcome': 'succeeded' });
    expect(spans.some((span) => span.service === 'transaction' && span.kind === 'server' && span.name.startsWith('POST /transaction/deposit'))).toBe(true);
    expect(spans.some((span) => span.service === 'balance' && span.kind === 'server')).toBe(true);
    expect(spans.some((span) => span.service === 'balance' && span.attributes['db.system.name'] === 'postgresql')).toBe(true);
    expect(spans.some((span) => span.service === 'transaction' && span.attributes['db.system.name'] === 'dynamodb')).toBe(true);
  }, 60_000);

  it('raises balance-HighLatency with a notification while balance answers in 1.5 s, and clears it when it is fast again', async () => {
    const balanceBase = `http://127.0.0.1:${system.regions[0]!.instancePorts.balance[0]}`;
    const setLatency = async (ms: number) => {
      const response = await fetch(`${balanceBase}/test-only/latency`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', [SERVICE_TOKEN_HEADER]: system.serviceToken },
        body: JSON.stringify({ ms }),
      });
      expect(response.status).toBe(200);
    };
    const notifications = () => monitorGet<Notification[]>('/api/notifications');
    const seen = (list: Notification[], to: string) => list.some((notification) => notification.alarm === 'balance-HighLatency' && notification.to === to);
    expect(seen(await notifications(), 'ALARM')).toBe(false);

    // A few users reading their balance, all the time, so that every period has requests.
    const account = newAccount();
    let driving = true;
    const users = Array.from({ length: 4 }, async () => {
      while (driving) await api.call('GET', '/balance', account);
    });
    try {
      await setLatency(INJECTED_LATENCY_MS);
      await waitFor('balance-HighLatency to go to ALARM', async () => {
        if (!seen(await notifications(), 'ALARM')) throw new Error('no ALARM notification yet');
      }, 20_000, 250);
      const alarms = await monitorGet<Array<{ name: string; state: string }>>('/api/alarms');
      expect(alarms.find((alarm) => alarm.name === 'balance-HighLatency')?.state).toBe('ALARM');

      await setLatency(0);
      await waitFor('balance-HighLatency back to OK', async () => {
        if (!seen(await notifications(), 'OK')) throw new Error('no OK notification yet');
      }, 20_000, 250);
    } finally {
      driving = false;
      await Promise.allSettled(users);
      await setLatency(0).catch(() => {});
    }
    const list = await notifications();
    // Newest first: the return to OK after the ALARM, and nothing else from balance's other alarm.
    const balanceLatency = list.filter((notification) => notification.alarm === 'balance-HighLatency').map((notification) => `${notification.from}->${notification.to}`);
    expect(balanceLatency[0]).toBe('ALARM->OK');
    expect(balanceLatency.slice(1).some((transition) => transition.endsWith('->ALARM'))).toBe(true);
    expect(list.some((notification) => notification.alarm === 'balance-HighErrorRate')).toBe(false);
  }, 90_000);

  // Last: it leaves Osaka active.
  it('shows a failover as it happens: transaction traffic in Tokyo before it, in Osaka after it and none new in Tokyo, with no restart of the monitor', async () => {
    const TOKYO = 'ap-northeast-1';
    const OSAKA = 'ap-northeast-3';
    /** Requests of the transaction service in `region` in the buckets starting within [fromMs, toMs). */
    const transactionRequests = (view: Series, region: string, fromMs: number, toMs: number) => {
      const rates = view.series.find((each) => each.service === 'transaction' && each.region === region)?.requestRate ?? [];
      return view.times.reduce((sum, start, i) => (start * 1000 >= fromMs && start * 1000 < toMs ? sum + (rates[i] ?? 0) * view.bucketSeconds : sum), 0);
    };
    // A little load through the global endpoint, as clients see the system: each user deposits to its own account.
    let driving = true;
    const users = Array.from({ length: 3 }, async () => {
      const account = newAccount();
      while (driving) {
        await fetch(`${system.globalEndpoint}/transaction/deposit`, { method: 'POST', headers: { X_ACCOUNT_ID: account, 'content-type': 'application/json' }, body: '{"quantity": 1}' }).then((response) => response.arrayBuffer(), () => undefined);
      }
    });
    const client = controlPlaneClient(system.controlPlane);
    try {
      const loadFrom = Date.now();
      const bucketMs = ALARM_PERIOD_S * 1000;
      await waitFor('transaction requests in Tokyo on the dashboard', async () => {
        // In a bucket that has ended, so that it lies wholly before the failover.
        if (transactionRequests(await monitorGet<Series>('/api/series'), TOKYO, loadFrom - bucketMs, Math.floor(Date.now() / bucketMs) * bucketMs) === 0) throw new Error('none yet in a completed bucket');
      }, 20_000, 250);
      const failoverStartedAt = Date.now();
      const { id } = await client.startExecution('failover');
      await waitFor('the failover to end', async () => expect((await client.execution(id)).status).toBe('succeeded'), 60_000, 100);
      const switchedAt = Date.now();
      const before = await monitorGet<Series>('/api/series');
      // Buckets wholly before the failover: Tokyo served, Osaka (closed) did not.
      const wholeBucketsBefore = Math.floor(failoverStartedAt / bucketMs) * bucketMs;
      expect(transactionRequests(before, TOKYO, loadFrom - bucketMs, wholeBucketsBefore)).toBeGreaterThan(0);
      expect(transactionRequests(before, OSAKA, loadFrom - bucketMs, wholeBucketsBefore)).toBe(0);

      // Buckets wholly after the switch: Osaka serves, and nothing new reaches Tokyo.
      const afterSwitch = Math.ceil(switchedAt / bucketMs) * bucketMs;
      let after = before;
      await waitFor('transaction requests in Osaka on the dashboard after the switch', async () => {
        after = await monitorGet<Series>('/api/series');
        // A bucket that has ended (and whose spans have been exported) with Osaka's requests in it.
        if (transactionRequests(after, OSAKA, afterSwitch, Date.now() - bucketMs - 500) === 0) throw new Error('none yet in a completed bucket');
      }, 30_000, 250);
      expect(transactionRequests(after, TOKYO, afterSwitch, Date.now())).toBe(0);
      console.log(`dashboard: Tokyo ${transactionRequests(before, TOKYO, loadFrom - bucketMs, wholeBucketsBefore)} transaction requests before the failover, Osaka ${transactionRequests(after, OSAKA, afterSwitch, Date.now())} after it, Tokyo ${transactionRequests(after, TOKYO, afterSwitch, Date.now())} after it`);
    } finally {
      driving = false;
      await Promise.allSettled(users);
      await client.close();
    }
  }, 120_000);
});
