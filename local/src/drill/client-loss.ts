/**
 * The seed's FIS experiment on the load client's host: packet loss (30 %) on the bastion that
 * runs Locust, watched in Locust's statistics. Here both the load client (the Locust stand-in,
 * with the seed's scenario and 3 s timeouts) and the drills' money-conservation load reach the
 * global endpoint through the client link, and `corebank fault packet-loss --client` puts the
 * loss on that link. Three phases of equal length — before, during, after — each with the
 * load client's statistics reset at its start, as a user presses "Reset stats" in Locust;
 * then every account of the money load is checked against its successful sagas.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLoadRunner, type LoadStats } from '@corebank/client';
import type { DrillOptions, DrillTarget } from './drill.ts';
import { checkMoney, startLoad, type LoadReport, type MoneyCheck } from './load.ts';

export const CLIENT_LOSS_PHASES = ['before', 'during', 'after'] as const;

export interface ClientLossPhase {
  phase: (typeof CLIENT_LOSS_PHASES)[number];
  /** The load client's statistics over the phase alone. */
  stats: LoadStats;
}

export interface ClientLossResult {
  percent: number;
  phases: ClientLossPhase[];
  load: LoadReport;
  money: MoneyCheck;
}

export async function clientPacketLossDrill(target: DrillTarget & { clientLink: string }, options: DrillOptions & { percent: number }): Promise<ClientLossResult> {
  const log = options.log ?? (() => {});
  const runner = createLoadRunner({ host: target.clientLink });
  const load = startLoad({ baseUrl: target.clientLink, users: options.users, prefix: `link${randomUUID().slice(0, 6)}` });
  const phases: ClientLossPhase[] = [];
  try {
    runner.start({ users: options.users, spawnRate: options.users });
    for (const phase of CLIENT_LOSS_PHASES) {
      if (phase === 'during') log(await target.corebank('fault', 'packet-loss', '--percent', String(options.percent), '--client'));
      if (phase === 'after') log(await target.corebank('fault', 'clear'));
      runner.resetStats();
      await sleep(options.dwellMs);
      const stats = runner.stats();
      phases.push({ phase, stats });
      log(`${phase}: ${stats.aggregated.requests} requests, ${stats.aggregated.failures} failures, median ${stats.aggregated.medianMs} ms, p95 ${stats.aggregated.p95Ms} ms`);
    }
  } finally {
    await runner.stop();
    await runner.close();
  }
  const report = await load.stop();
  // Loss on the client's link shows as slow answers and, past the client's timeout, as timeouts;
  // the money load retries those with the same Idempotency-Key.
  return { percent: options.percent, phases, load: report, money: await checkMoney(target.globalEndpoint, report, ['timeout']) };
}

/** The load client's figures per phase (as Locust's statistics would show them), then the money check. */
export function clientLossTable(result: ClientLossResult): string {
  const rows = [
    ['phase', 'requests', 'failures', 'fail %', 'median (ms)', 'p95 (ms)', 'p99 (ms)', 'max (ms)', 'sagas ended', 'sagas abandoned'],
    ...result.phases.map(({ phase, stats }) => {
      const all = stats.aggregated;
      return [
        phase === 'during' ? `during (${result.percent} % loss)` : phase,
        String(all.requests),
        String(all.failures),
        all.requests ? ((all.failures / all.requests) * 100).toFixed(1) : '0.0',
        String(Math.round(all.medianMs)),
        String(Math.round(all.p95Ms)),
        String(Math.round(all.p99Ms)),
        String(Math.round(all.maxMs)),
        String(stats.sagaLatency.completed),
        String(stats.sagaLatency.abandoned),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const failures = result.phases
    .flatMap(({ phase, stats }) => stats.failures.map((failure) => `  ${phase}: ${failure.occurrences} × ${failure.method} ${failure.name}: ${failure.message}`));
  const errors = Object.entries(result.load.errors).map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none';
  return [
    'the load client (the seed\'s scenario, 3 s timeouts) through the client link:',
    ...rows.map((row) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`),
    ...(failures.length ? ['failures:', ...failures] : []),
    '',
    `money load through the same link: ${result.money.sagas} sagas, ${result.money.terminal} terminal, errors ${errors}, ${result.money.accountsChecked} accounts checked, ${result.money.mismatches.length} mismatches`,
  ].join('\n');
}
