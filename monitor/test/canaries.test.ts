import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@corebank/kit';
import { buildMonitorApp } from '../src/app.ts';
import type { AlarmStateChangeEvent } from '../src/alarms/events.ts';

/** A local HTTP server that records every JSON body POSTed to it and answers GET /faults with `faults`. */
async function recorder(faults: unknown[] = []) {
  const posted: Array<{ path: string; body: unknown }> = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (request.method === 'GET' && request.url === '/faults') {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ faults }));
        return;
      }
      posted.push({ path: request.url ?? '', body: JSON.parse(body) });
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { posted, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Two seconds: long enough that a test process starved of CPU for a moment still sends a run in every period. */
const CANARY_PERIOD_MS = 2000;
const FAULT = { id: 'f1', spec: { kind: 'scale-to-zero', region: 'ap-northeast-1', service: 'transaction', durationMs: 30_000 }, since: Date.now(), description: 'transaction of ap-northeast-1 scaled to 0', effect: {} };

describe('the canaries in the monitor', () => {
  let monitor: ReturnType<typeof buildMonitorApp>;
  let peer: Awaited<ReturnType<typeof recorder>>;

  beforeAll(async () => {
    // One stand-in for the control plane (event route and faults) and the notification webhook.
    peer = await recorder([FAULT]);
    monitor = buildMonitorApp({ logger: false, alarmPeriodMs: 300_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 1000, canaryPeriodMs: CANARY_PERIOD_MS, webhookUrl: `${peer.url}/notify`, alarmEventsUrl: `${peer.url}/events/alarm-state-change`, controlPlaneUrl: peer.url });
    await monitor.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await monitor?.app.close();
    await peer?.close();
  });

  const post = (payload: unknown) => monitor.app.inject({ method: 'POST', url: '/api/canaries/runs', payload: payload as Record<string, unknown> });
  const runOf = (origin: string, success: boolean, endedAt = new Date()) => ({
    canary: `canary-${origin}`,
    origin,
    success,
    latencyMs: success ? 40 : 600,
    startedAt: new Date(endedAt.getTime() - (success ? 40 : 600)).toISOString(),
    endedAt: endedAt.toISOString(),
    endpoint: 'http://127.0.0.1:8081',
    ...(success ? {} : { failure: 'GET /balance answered 503' }),
  });

  it('takes a run (204) and refuses bad ones with 400 {error, message}', async () => {
    expect((await post(runOf('us-west-2', true))).statusCode).toBe(204);
    const cases: Array<[unknown, string]> = [
      [{ ...runOf('us-west-2', true), success: 'yes' }, 'invalid_request'],
      [{ ...runOf('us-west-2', true), endpoint: undefined }, 'invalid_request'],
      [{ ...runOf('us-west-2', true), extra: 1 }, 'invalid_request'],
      [{ ...runOf('eu-west-1', true) }, 'unknown_canary'],
      [{ ...runOf('us-west-2', true), canary: 'canary-ap-northeast-3' }, 'unknown_canary'],
      [{ ...runOf('us-west-2', true), endedAt: 'yesterday' }, 'invalid_request'],
      [{ ...runOf('us-west-2', true), startedAt: new Date(Date.now() + 60_000).toISOString() }, 'invalid_request'],
    ];
    for (const [payload, error] of cases) {
      const reply = await post(payload);
      expect(reply.statusCode, JSON.stringify(payload)).toBe(400);
      expect(reply.json()).toEqual({ error, message: expect.any(String) });
    }
  });

  it('lists the canary alarms with the service alarms, evaluates them each period, notifies through the one notifier and sends each change as an event', async () => {
    const alarms = (await monitor.app.inject({ url: '/api/alarms' })).json() as Array<{ name: string; metric: string; periodSeconds: number; state: string }>;
    expect(alarms).toHaveLength(10);
    expect(alarms.filter((alarm) => alarm.metric === 'SuccessPercent').map((alarm) => `${alarm.name} ${alarm.periodSeconds}`)).toEqual(['canary-ap-northeast-3 2', 'canary-us-west-2 2']);
    const stateOf = async (name: string) => ((await monitor.app.inject({ url: '/api/alarms' })).json() as typeof alarms).find((alarm) => alarm.name === name)!.state;
    // Both canaries fail every 100 ms until their alarms are in ALARM, then succeed until OK.
    for (const [success, state] of [[false, 'ALARM'], [true, 'OK']] as const) {
      const sender = setInterval(() => void Promise.all(['ap-northeast-3', 'us-west-2'].map((origin) => post(runOf(origin, success)))), 100);
      try {
        await waitFor(`both canary alarms ${state}`, async () => {
          const states = await Promise.all(['canary-ap-northeast-3', 'canary-us-west-2'].map(stateOf));
          if (states.some((each) => each !== state)) throw new Error(states.join(', '));
        }, 15_000, 100);
      } finally {
        clearInterval(sender);
      }
    }
    const notifications = ((await monitor.app.inject({ url: '/api/notifications' })).json() as Array<{ alarm: string; to: string }>).filter((notification) => notification.alarm.startsWith('canary-'));
    expect(notifications.map((notification) => `${notification.alarm} ${notification.to}`).sort()).toEqual(['canary-ap-northeast-3 ALARM', 'canary-ap-northeast-3 OK', 'canary-us-west-2 ALARM', 'canary-us-west-2 OK']);
    const events = () => peer.posted.filter((each) => each.path === '/events/alarm-state-change').map((each) => each.body as AlarmStateChangeEvent);
    await waitFor('the notifications at the webhook and the events at the rule', async () => {
      expect(peer.posted.filter((each) => each.path === '/notify')).toHaveLength(4);
      expect(events().filter((event) => event.previousState.value === 'ALARM' && event.state.value === 'OK')).toHaveLength(2);
    }, 5000, 50);
    for (const alarm of ['canary-ap-northeast-3', 'canary-us-west-2']) {
      // Every change, in order: each event's previous state is the state the one before it entered.
      const chain = events().filter((event) => event.alarmName === alarm);
      expect(chain[0]!.previousState.value).toBe('INSUFFICIENT_DATA');
      chain.slice(1).forEach((event, i) => expect(event.previousState).toEqual(chain[i]!.state));
      expect(chain.slice(-2).map((event) => event.state.value)).toEqual(['ALARM', 'OK']);
      expect(chain.at(-1)!.state).toMatchObject({ reason: expect.stringContaining('datapoints'), timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    }
    // Only the canary alarms are sent: the service alarms stayed quiet anyway, and nothing else was posted there.
    expect(events().every((event) => event.alarmName.startsWith('canary-'))).toBe(true);

    const canaries = (await monitor.app.inject({ url: '/api/canaries' })).json() as { periodSeconds: number; canaries: Array<{ canary: string; successPercent: Array<number | null> }>; latest: Array<{ canary: string }> };
    expect(canaries.periodSeconds).toBe(2);
    expect(canaries.canaries.map((canary) => canary.canary)).toEqual(['canary-ap-northeast-3', 'canary-us-west-2']);
    for (const canary of canaries.canaries) expect(canary.successPercent).toEqual(expect.arrayContaining([0, 100]));
    expect(canaries.latest).toHaveLength(10);
  });

  it('serves the control plane\'s active faults, and an empty list with the reason when it does not answer', async () => {
    expect((await monitor.app.inject({ url: '/api/faults' })).json()).toEqual({ faults: [FAULT] });
    const away = buildMonitorApp({ logger: false, alarmPeriodMs: 300_000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 1000, controlPlaneUrl: `http://127.0.0.1:${await freePort()}` });
    try {
      const reply = (await away.app.inject({ url: '/api/faults' })).json();
      expect(reply).toEqual({ faults: [], error: expect.stringMatching(/^the control plane did not answer: .*ECONNREFUSED/) });
    } finally {
      await away.app.close();
    }
  });
});
