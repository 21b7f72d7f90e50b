import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtPathOf, ENTRY_POINTS } from '../local/bin/build.js';

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

  it('builds the service with the repository\'s build and runs the bundle with plain node', () => {
    const finalStage = text.slice(text.lastIndexOf('\nFROM ')).split('\n').filter((line) => !line.startsWith('#')).join('\n');
    expect(text).toMatch(/^COPY local\/bin\/build\.js /m);
    expect(text).toMatch(/^RUN node local\/bin\/build\.js "services\/\$SERVICE"$/m);
    // The final stage holds the service's folder from the build stage and no node_modules.
    expect(finalStage).toContain('COPY --from=build /app/services/${SERVICE} ./services/${SERVICE}');
    expect(finalStage).not.toContain('node_modules');
    expect(finalStage).not.toMatch(/tsx/);
    expect(finalStage).toMatch(/^CMD \["sh", "-c", "exec node \\"\$ENTRY\\""\]$/m);
  });

  it.each([
    ['balance', 'src/main.ts'],
    ['count', 'src/main.ts'],
    ['transaction', 'src/api-main.ts'],
    ['transaction', 'src/worker-main.ts'],
  ])('names the bundle of an entry point that exists: services/%s/%s', (service, source) => {
    expect(existsSync(`services/${service}/${source}`)).toBe(true);
    const bundle = builtPathOf(`services/${service}/${source}`).slice(`services/${service}/`.length);
    expect(ENTRY_POINTS[`services/${service}` as keyof typeof ENTRY_POINTS]).toContain(source);
    expect(text).toContain(`SERVICE=${service}`);
    expect(text).toContain(bundle === 'dist/main.js' ? 'ARG ENTRY=dist/main.js' : bundle);
  });
});
