import { mkdir, readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, startFakeCorebank, type FakeCorebank } from '@corebank/testing';
import { startWebUi, type WebUi } from '../src/web/web-ui.ts';
import { eventually } from './helpers.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);

describe('web UI in headless Chromium', () => {
  let fake: FakeCorebank;
  let ui: WebUi;
  let browser: Browser;

  beforeAll(async () => {
    fake = await startFakeCorebank({ pendingPolls: 2, unavailableEvery: 30, rollbackEvery: 12 });
    ui = await startWebUi({ port: 0, host: '127.0.0.1', defaultHost: fake.url, pollIntervalMs: 50 });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await fake?.close();
  });

  it('starts a test from the form, shows live rows and charts, edits, stops and downloads the CSV', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(ui.url);

    await expect.poll(() => page.inputValue('#host')).toBe(fake.url);
    expect(await page.inputValue('#timeout')).toBe('3');
    await page.fill('#user_count', '6');
    await page.fill('#spawn_rate', '20');
    await page.fill('#timeout', '2');
    await page.click('#swarm-button');

    await page.waitForSelector('#start-dialog', { state: 'hidden' });
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toBe('running');
    const rowNames = () => page.$$eval('#stats-table tbody tr td.name', (cells) => cells.map((c) => c.textContent));
    await expect.poll(rowNames, { timeout: 15_000 }).toEqual(['/transaction/<txId>', '/transaction/deposit', '/transaction/withdraw', 'Aggregated']);

    const aggregatedRequests = async () => Number((await page.textContent('#stats-table tr.aggregated td:nth-child(3)'))!.replace(/,/g, ''));
    const first = await aggregatedRequests();
    await expect.poll(aggregatedRequests, { timeout: 10_000 }).toBeGreaterThan(first);
    await expect.poll(() => page.$$eval('#saga-table tbody tr', (rows) => rows.length), { timeout: 10_000 }).toBe(3);
    expect(await page.textContent('#summary-users')).toBe('6');

    await page.click('[data-tab=charts]');
    await expect.poll(() => page.$$eval('.chart canvas', (canvases) => canvases.length)).toBe(3);
    // The chart series grow while the test runs: wait for uPlot to hold several points.
    await eventually('history points', async () => {
      const response = await fetch(`${ui.url}/stats/history`);
      return ((await response.json()) as unknown[]).length >= 3;
    });
    await expect.poll(() => page.$$eval('#chart-rps .u-legend', (legends) => legends.length)).toBe(1);

    await page.click('#edit-button');
    await page.fill('#edit_user_count', '9');
    await page.click('#edit-submit');
    await expect.poll(() => page.textContent('#summary-users'), { timeout: 10_000 }).toBe('9');

    await page.click('[data-tab=failures]');
    await expect.poll(() => page.$$eval('#failures-table tbody tr', (rows) => rows.length), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.textContent('#failures-table')).toContain('status#success_rollback');

    await page.click('[data-tab=charts]');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('load-ui-charts.png', ARTIFACTS).pathname, fullPage: true });
    await page.click('[data-tab=statistics]');
    await page.screenshot({ path: new URL('load-ui-statistics.png', ARTIFACTS).pathname, fullPage: true });

    await page.click('#stop-button');
    await expect.poll(() => page.textContent('#status')).toBe('stopped');
    expect(await page.isVisible('#new-test-button')).toBe(true);

    await page.click('[data-tab=download]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-requests')]);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/^Type,Name,Request Count,Failure Count,Median Response Time/);
    expect(csv).toContain('GET,/transaction/<txId>,');

    await page.click('#new-test-button');
    expect(await page.isVisible('#start-form')).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
