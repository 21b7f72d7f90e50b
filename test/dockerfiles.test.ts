import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// No Docker engine runs here, so the images are checked for what a reviewer would check.
const services = ['services/balance', 'services/count', 'services/transaction'];

describe.each(services)('%s/Dockerfile', (service) => {
  const text = readFileSync(`${service}/Dockerfile`, 'utf8');
  const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];

  it('is multi-stage on Node 20, installs production dependencies only, and runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[1]).toMatch(/^node:20/);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toMatch(/^USER\s+(?!root)\S+/m);
    expect(text).toMatch(/^EXPOSE\s+\d+/m);
    expect(text).toMatch(/^HEALTHCHECK .*\/health/m);
  });

  it('copies every file the entry point needs', () => {
    const cmd = /^CMD\s+(\[.*\])/m.exec(text);
    expect(cmd).not.toBeNull();
    const script = (JSON.parse(cmd![1]!) as string[]).find((arg) => arg.endsWith('.ts'))!;
    expect(script.startsWith(`${service}/`)).toBe(true);
    expect(text).toContain(`COPY ${service} ./${service}`);
    expect(text).toContain('COPY packages/kit ./packages/kit');
    for (const workspace of JSON.parse(readFileSync('package.json', 'utf8')).workspaces as string[]) {
      if (workspace.includes('*')) continue;
      expect(text).toContain(`COPY ${workspace}/package.json`);
    }
  });
});
