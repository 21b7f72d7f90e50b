import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLoadRunner, DEFAULT_TIMEOUT_MS, type LoadRunner, type LoadRunnerOptions } from '../engine/load-runner.ts';
import { failuresCsv, requestStatsCsv, sagasCsv, statsHistoryCsv } from '../stats/csv.ts';

export const DEFAULT_WEB_PORT = 8089;
export const DEFAULT_TARGET_HOST = 'http://localhost:8080';

export interface WebUiOptions {
  /** Port to listen on; 0 picks a free one (tests). Default 8089. */
  port?: number;
  /** Interface to bind; default 0.0.0.0 like Locust (the container needs it). */
  host?: string;
  /** Pre-filled in the start form's Host field. */
  defaultHost?: string;
  timeoutMs?: number;
  pollIntervalMs?: number;
  sagaTimeoutMs?: number;
  /** Use an existing runner instead of creating one (it is then not closed by `close()`). */
  runner?: LoadRunner;
  /** Passed to the runner this server creates. */
  runnerOptions?: Partial<LoadRunnerOptions>;
}

export interface WebUi {
  url: string;
  runner: LoadRunner;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const uiDir = fileURLToPath(new URL('../../ui/', import.meta.url));

/** The only files served: the UI itself and uPlot from node_modules (there is no CDN to fetch from). */
const STATIC_FILES: Record<string, { path: string; type: string }> = {
  '/': { path: `${uiDir}index.html`, type: 'text/html; charset=utf-8' },
  '/ui/app.js': { path: `${uiDir}app.js`, type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { path: `${uiDir}style.css`, type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { path: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

interface SwarmForm {
  user_count?: string;
  spawn_rate?: string;
  host?: string;
  timeout?: string;
}

function parseNumberField(form: SwarmForm, field: keyof SwarmForm): number | undefined {
  const raw = form[field];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${field} must be a number, got "${raw}"`);
  return value;
}

function csvFileName(kind: string): string {
  return `corebank_${kind}_${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
}

export function buildWebApp(runner: LoadRunner, defaultHost: string): FastifyInstance {
  const app = Fastify({ logger: false });
  void app.register(formbody);

  for (const [route, file] of Object.entries(STATIC_FILES)) {
    app.get(route, async (_request, reply) => reply.type(file.type).header('cache-control', 'no-cache').send(await readFile(file.path)));
  }

  app.get('/config', async () => ({ defaultHost, timeoutSeconds: runner.stats().timeoutMs / 1000 }));

  /** Locust's swarm: starts a test, or re-targets users / spawn rate (the Edit dialog) while one runs. */
  app.post<{ Body: SwarmForm }>('/swarm', async (request, reply) => {
    const form = request.body ?? {};
    try {
      const users = parseNumberField(form, 'user_count');
      const spawnRate = parseNumberField(form, 'spawn_rate');
      const timeoutSeconds = parseNumberField(form, 'timeout');
      const host = form.host?.trim() || runner.stats().host || defaultHost;
      runner.start({ users, spawnRate, host, timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000 });
      return { success: true, message: 'Swarming started', host };
    } catch (error) {
      return reply.code(400).send({ success: false, message: (error as Error).message });
    }
  });

  app.get('/stop', async () => {
    await runner.stop();
    return { success: true, message: 'Test stopped' };
  });

  app.get('/stats/reset', async (_request, reply) => {
    runner.resetStats();
    return reply.type('text/plain').send('ok');
  });

  app.get('/stats/requests', async () => runner.requestsReport());

  /** Not in Locust: the chart series, so a reloaded page shows the whole run. */
  app.get('/stats/history', async () =>
    runner.stats().history.map((p) => ({
      time: p.time,
      user_count: p.userCount,
      total_rps: p.totalRps,
      total_fail_per_sec: p.totalFailPerSec,
      response_time_percentile_50: p.currentMedianMs,
      response_time_percentile_95: p.currentP95Ms,
    })),
  );

  const csvRoutes: Array<[string, string, () => string]> = [
    ['/stats/requests/csv', 'requests', () => requestStatsCsv(runner.stats())],
    ['/stats/failures/csv', 'failures', () => failuresCsv(runner.stats())],
    ['/stats/requests_full_history/csv', 'requests_full_history', () => statsHistoryCsv(runner.stats().history)],
    ['/stats/sagas/csv', 'sagas', () => sagasCsv(runner.stats())],
  ];
  for (const [route, kind, render] of csvRoutes) {
    app.get(route, async (_request, reply) =>
      reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${csvFileName(kind)}"`).send(render()),
    );
  }
  return app;
}

/** Starts the Locust-style web UI and its HTTP API. */
export async function startWebUi(options: WebUiOptions = {}): Promise<WebUi> {
  const defaultHost = options.defaultHost ?? DEFAULT_TARGET_HOST;
  const runner =
    options.runner ??
    createLoadRunner({
      ...options.runnerOptions,
      host: defaultHost,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      pollIntervalMs: options.pollIntervalMs ?? options.runnerOptions?.pollIntervalMs,
      sagaTimeoutMs: options.sagaTimeoutMs ?? options.runnerOptions?.sagaTimeoutMs,
    });
  const app = buildWebApp(runner, defaultHost);
  const bindHost = options.host ?? '0.0.0.0';
  await app.listen({ port: options.port ?? DEFAULT_WEB_PORT, host: bindHost });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = bindHost === '0.0.0.0' || bindHost === '::' ? 'localhost' : bindHost;
  return {
    url: `http://${shownHost}:${port}`,
    runner,
    async close() {
      await app.close();
      if (options.runner) await runner.stop();
      else await runner.close();
    },
  };
}
