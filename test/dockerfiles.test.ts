import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtPathOf, ENTRY_POINTS } from '../local/bin/build.js';

// No Docker engine runs here, so the image recipe is checked for what a reviewer would check.
const text = readFileSync('services/Dockerfile', 'utf8');
/** The recipe without its comments: what Docker executes. */
const instructions = text.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n');
/** The usage comments at the top: the commands a reader is told to run. */
const usage = text.split('\n').filter((line) => line.startsWith('#')).join('\n');
/** Every workspace the lock file records: npm ci needs each one's manifest. */
const lockedWorkspaces = Object.entries(JSON.parse(readFileSync('package-lock.json', 'utf8')).packages as Record<string, { link?: boolean; resolved?: string }>)
  .filter(([path, entry]) => path.startsWith('node_modules/@corebank/') && entry.link)
  .map(([, entry]) => entry.resolved!);

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
    expect(lockedWorkspaces.length).toBeGreaterThanOrEqual(6);
    for (const workspace of lockedWorkspaces) expect(instructions).toContain(`COPY ${workspace}/package.json ${workspace}/`);
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
    // The image builds every entry point of the workspace and runs the one ENTRY names.
    expect(instructions).toMatch(/^RUN node local\/bin\/build\.js "services\/\$SERVICE"$/m);
    if (bundle === 'dist/main.js') expect(instructions).toMatch(/^ARG ENTRY=dist\/main\.js$/m);
    // Any other entry is picked by the build argument or ENTRY, as the usage comments say.
    else expect(usage).toMatch(new RegExp(`SERVICE=${service}\\b.*${bundle.replace('.', '\\.')}|${builtPathOf(`services/${service}/${source}`).replace('.', '\\.')}`));
    expect(usage).toContain(`SERVICE=${service}`);
  });
});
