import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { relocatedDataDirOf, RELOCATION_NOTE, serverAccount, serverDataDirOf } from './postgres.ts';

// Only as root does the server run as another user (postgres), which a 0700 folder keeps out.
describe.runIf(userInfo().uid === 0)('a data folder the postgres user cannot reach', () => {
  const home = mkdtempSync(join(tmpdir(), 'corebank-pg-home-')); // 0700, as /root is
  const dataDir = join(home, '.corebank', 'postgres-ap-northeast-1');
  const relocated = relocatedDataDirOf(dataDir);

  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(relocated, { recursive: true, force: true });
  });

  it('keeps its data elsewhere and resumes it, but not for a new folder at the same path', () => {
    const account = serverAccount();
    expect(serverDataDirOf(dataDir, account)).toBe(relocated);
    expect(readFileSync(join(dataDir, RELOCATION_NOTE), 'utf8')).toContain(relocated);

    // What the server keeps there, as initdb would leave it.
    mkdirSync(relocated, { recursive: true });
    writeFileSync(join(relocated, 'PG_VERSION'), '18\n');
    expect(serverDataDirOf(dataDir, account)).toBe(relocated);
    expect(existsSync(join(relocated, 'PG_VERSION'))).toBe(true);

    // The data folder removed by hand (not by corebank reset), then a start at the same path:
    // a fresh cluster, not the old balances next to a fresh DynamoDB.
    rmSync(join(home, '.corebank'), { recursive: true });
    expect(serverDataDirOf(dataDir, account)).toBe(relocated);
    expect(existsSync(join(relocated, 'PG_VERSION'))).toBe(false);
  });
});
