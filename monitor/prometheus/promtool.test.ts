import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PROMTOOL = '/usr/bin/promtool';
const here = fileURLToPath(new URL('.', import.meta.url));
const run = (...args: string[]) => promisify(execFile)(PROMTOOL, args, { cwd: here });

// .ci/run installs Debian's prometheus package; a machine without it skips rather than fails.
describe.skipIf(!existsSync(PROMTOOL))('the Prometheus alerting rules', () => {
  it('pass promtool check rules, all eight of them', async () => {
    const { stdout } = await run('check', 'rules', 'alerts.yml');
    expect(stdout).toContain('SUCCESS: 8 rules found');
  });

  it('pass promtool test rules: each alarm fires when it should and only then', async () => {
    const { stdout } = await run('test', 'rules', 'alerts.test.yml');
    expect(stdout).toContain('SUCCESS');
  });

  it('come with a valid example scrape configuration', async () => {
    await expect(run('check', 'config', 'prometheus.yml')).resolves.toBeDefined();
  });
});
