import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@corebank/kit';
import { launchChromium } from '@corebank/testing';
import { buildMonitorApp } from '../src/app.ts';
import { OtlpFeed } from './otlp-feed.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);

describe('the dashboard in headless Chromium', () => {
  let monitor: ReturnType<typeof buildMonitorApp>;
  let url: string;
  let feed: OtlpFeed;
  let browser: Browser;

  beforeAll(async () => {
    monitor = buildMonitorApp({ logger: false, alarmPeriodMs: 1000, evaluationPeriods: 2, windowMs: 3_600_000, maxSpans: 20_000, canaryPeriodMs: 1000 });
    url = await monitor.app.listen({ port: 0, host: '127.0.0.1' });
    feed = new OtlpFeed(url);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await feed?.close();
    await monitor?.app.close();
  });

  it('shows the services, the map, a trace\'s waterfall, charts, and an alarm going off with its notification', async () => {
    // Traffic in both regions, balance slow in both, so balance-HighLatency (over the
    // service's regions) fires.
    let tick = 0;
    const sender = setInterval(() => {
      tick += 1;
      feed.deposit('tokyo', 1200 + (tick % 5) * 50, tick % 17 === 0 ? 503 : 200);
      feed.deposit('osaka', 1050 + (tick % 7) * 10);
      // A canary run now and then, as the control plane's canaries publish them.
      if (tick % 5 === 0) {
        const endedAt = new Date();
        void monitor.app.inject({ method: 'POST', url: '/api/canaries/runs', payload: { canary: 'canary-us-west-2', origin: 'us-west-2', success: tick % 10 !== 0, latencyMs: 30 + (tick % 20), startedAt: new Date(endedAt.getTime() - 30).toISOString(), endedAt: endedAt.toISOString(), endpoint: 'http://127.0.0.1:8081' } });
      }
    }, 50);
    const page = await browser.newPage({ viewport: { width: 1440, height: 1500 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await page.goto(`${url}/?refresh=500`);
      expect(await page.title()).toBe('CoreBanking-ApplicationSignals-local');
      await waitFor('balance-HighLatency in ALARM on the page', async () => {
        const state = await page.textContent('tr[data-alarm="balance-HighLatency"] .state');
        if (state !== 'ALARM') throw new Error(`state ${state}`);
      }, 20_000);
    } finally {
      clearInterval(sender);
    }
    await feed.flush();
    await waitFor('four chart points', async () => {
      const series = (await monitor.app.inject({ url: '/api/series' })).json();
      if (series.times.length < 4) throw new Error('not yet');
    }, 10_000);
    await page.waitForTimeout(1200); // two refreshes of the page (its own interval), for the screenshot

    const services = await page.$$eval('#services tbody tr', (rows) => rows.map((row) => [...row.children].slice(0, 2).map((cell) => cell.textContent).join('/')));
    expect(services).toEqual(expect.arrayContaining(['balance/osaka', 'balance/tokyo', 'transaction/tokyo', 'transaction/osaka']));
    const nodes = await page.$$eval('#map .node', (elements) => elements.map((element) => element.getAttribute('data-node')).sort());
    expect(nodes).toEqual(['PostgreSQL', 'balance', 'transaction', 'transaction-worker']);
    expect(await page.$$eval('#map line.edge', (lines) => lines.map((line) => `${line.getAttribute('data-from')}->${line.getAttribute('data-to')}`).sort())).toEqual([
      'balance->PostgreSQL',
      'transaction-worker->balance',
    ]);
    expect(await page.$$eval('#charts .uplot', (elements) => elements.length)).toBe(5);
    expect(await page.locator('#charts .u-legend').first().textContent()).toContain('balance (tokyo)');

    await page.click('#traces tbody tr.trace:nth-child(2)');
    const chosen = await page.getAttribute('#traces tbody tr.trace:nth-child(2)', 'data-trace');
    await waitFor('the chosen trace\'s waterfall', async () => {
      if (!(await page.textContent('#trace-id'))?.includes(chosen!)) throw new Error('not yet');
    }, 5000);
    const spans = await page.$$eval('#waterfall .span', (rows) => rows.map((row) => row.getAttribute('data-service')));
    expect(spans).toEqual(['transaction', 'transaction-worker', 'transaction-worker', 'balance', 'balance']);

    expect(await page.textContent('tr[data-alarm="count-HighLatency"] .state')).toBe('OK');
    // The canaries: their alarms among the others, their SuccessPercent and latency charts, their last runs.
    expect(await page.textContent('tr[data-alarm="canary-us-west-2"]')).toContain('SuccessPercent < 100 % for 2×1s');
    expect(await page.$$eval('#canary-charts .uplot', (elements) => elements.length)).toBe(2);
    expect(await page.locator('#canary-charts .u-legend').first().textContent()).toContain('canary-us-west-2');
    expect(await page.textContent('#canary-runs tbody tr:first-child')).toContain('canary-us-west-2');
    // No control plane here: no fault, and the panel says why it cannot know.
    expect(await page.textContent('#faults tbody')).toContain('No fault is active.');
    expect(await page.textContent('#faults-error')).toContain('CONTROL_PLANE_URL is not set');
    expect(await page.textContent('#notifications')).toContain('balance-HighLatency');
    expect(pageErrors).toEqual([]);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('monitor-dashboard.png', ARTIFACTS).pathname, fullPage: true });
  });
});
