import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { builtPathOf } from '../../local/bin/build.js';

/** No Docker engine runs in CI, so the Dockerfile's essentials are checked statically. */
const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
const instructions = dockerfile
  .split('\n')
  .filter((line) => line.trim() && !line.trim().startsWith('#'))
  .join('\n')
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((line) => line.trim());
const stages = instructions.filter((line) => /^FROM\s/i.test(line));
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

describe('client/Dockerfile', () => {
  it('is multi-stage with named stages on Node 20', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of stages) expect(from).toMatch(/^FROM\s+node:20[\w.-]*\s+AS\s+\w+$/i);
  });

  it('installs production dependencies from the lockfile with npm ci --omit=dev', () => {
    const install = instructions.find((line) => /^RUN .*npm ci\b/.test(line));
    expect(install).toBeDefined();
    expect(install).toContain('--omit=dev');
    expect(instructions).toContain('COPY package.json package-lock.json ./');
  });

  it('runs as a non-root user in the final stage', () => {
    const user = finalStage.filter((line) => /^USER\s/.test(line)).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/);
    const cmdIndex = finalStage.findIndex((line) => /^CMD\s/.test(line));
    expect(finalStage.indexOf(user!)).toBeLessThan(cmdIndex);
  });

  it('exposes 8089 and starts the web UI on all interfaces', () => {
    expect(finalStage).toContain('EXPOSE 8089');
    const cmd = JSON.parse(finalStage.find((line) => line.startsWith('CMD '))!.slice(4)) as string[];
    // The bundle that `node local/bin/build.js client` writes in the build stage, run by plain node.
    expect(cmd.slice(0, 2)).toEqual(['node', builtPathOf('client/src/main.ts')]);
    expect(instructions).toContain('RUN node local/bin/build.js client');
    expect(finalStage).toContain('COPY --from=build --chown=node:node /app/client ./client');
    expect(cmd.join(' ')).toContain('--web-host 0.0.0.0');
    expect(cmd.join(' ')).toContain('--port 8089');
  });

  it('copies only paths that exist, relative to the repository root', async () => {
    const sources = finalStage
      .concat(instructions)
      .filter((line) => /^COPY\s/.test(line) && !line.includes('--from='))
      .flatMap((line) => line.replace(/--\S+/g, '').trim().split(/\s+/).slice(1, -1));
    for (const source of new Set(sources)) {
      await expect(readFile(new URL(`../../${source}`, import.meta.url)).catch((e: NodeJS.ErrnoException) => (e.code === 'EISDIR' ? 'dir' : Promise.reject(e)))).resolves.toBeDefined();
    }
  });
});
