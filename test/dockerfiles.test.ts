import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// No Docker engine runs here, so the image recipe is checked for what a reviewer would check.
const text = readFileSync('services/Dockerfile', 'utf8');

describe('services/Dockerfile', () => {
  it('is multi-stage on Node 20, installs production dependencies only, and runs as a non-root user', () => {
    const stages = [...text.matchAll(/^FROM\s+(\S+)/gim)];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[1]).toMatch(/^node:20/);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toMatch(/^USER\s+(?!root)\S+/m);
    expect(text).toMatch(/^EXPOSE\s+\d+/m);
    expect(text).toMatch(/^HEALTHCHECK .*\/health/m);
  });

  it('copies every workspace manifest the lock file names, so npm ci can read it', () => {
    for (const workspace of ['packages/kit', 'services/balance', 'services/count', 'services/transaction', 'client', 'local']) {
      expect(text).toContain(`COPY ${workspace}/package.json`);
    }
  });

  it.each([
    ['balance', 'src/main.ts'],
    ['count', 'src/main.ts'],
    ['transaction', 'src/api-main.ts'],
    ['transaction', 'src/worker-main.ts'],
  ])('names an entry point that exists: services/%s/%s', (service, entry) => {
    expect(existsSync(`services/${service}/${entry}`)).toBe(true);
    expect(text).toContain(`SERVICE=${service}`);
    expect(text).toContain(entry === 'src/main.ts' ? 'ARG ENTRY=src/main.ts' : entry);
  });
});
