import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../local/src/environment/processes.ts';

/** Folders that hold what a build, a synth or a test wrote, not the repository's docs. */
const GENERATED = new Set(['node_modules', 'dist', 'cdk.out', 'test-artifacts']);

/** The repository's own Markdown files. */
function markdownFiles(dir = REPO_ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (GENERATED.has(entry.name) || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** What looks like a file of this repository: `a/b.ts`, `src/x/`, a relative link target. */
const REPO_PATH = /^(?:\.\.?\/)*[\w@-][\w.@-]*(?:\/[\w.@-]+)+\/?$/;

function referencesIn(text: string): string[] {
  const quoted = [...text.matchAll(/`([^`\s]+)`/g)].map((match) => match[1]!);
  const linked = [...text.matchAll(/\]\(([^)\s#]+)/g)].map((match) => match[1]!).filter((target) => !/^[a-z]+:/.test(target));
  // A scoped package name (`@corebank/kit`) is not a path.
  return [...quoted, ...linked].filter((token) => REPO_PATH.test(token) && !token.startsWith('.corebank') && !token.startsWith('@'));
}

describe('the docs', () => {
  const files = markdownFiles();

  it.each(files.map((file) => [relative(REPO_ROOT, file), file]))('%s names only files that are in the repository', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    // A path resolves from the file's folder, the repository's root, or a folder named on the same line (a table row).
    const missing = text.split('\n').flatMap((line) => {
      const paths = referencesIn(line);
      const bases = [dirname(file), REPO_ROOT, ...paths.map((path) => join(REPO_ROOT, path)).filter(existsSync)];
      return paths.filter((path) => !bases.some((base) => existsSync(join(base, path))));
    });
    expect(missing).toEqual([]);
    // Nothing outside the checkout: the machine the docs were written on is not the reader's.
    expect(text).not.toMatch(/(^|[\s`(])(\/work\/|\/root\/|\/home\/|shared\/)/m);
  });
});
