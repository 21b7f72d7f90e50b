/**
 * The failover drills under load, written once for `npm test` (short) and `npm run drill`
 * (longer, with a table): a planned failover and failback, then the loss of Tokyo. Each
 * workflow runs through the `corebank` command, as an operator would run it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@corebank/kit';
import type { ExecutionRecord } from '@corebank/workflow';
import type { AutoFailoverStatus } from '../environment/auto-failover.ts';
import { formatStepOutput } from '../cli/executions.ts';
import { checkMoney, EXPECTED_ERROR_KINDS, longestGap, REGION_LOSS_ERROR_KINDS, startLoad, type LoadReport, type MoneyCheck } from './load.ts';

export interface DrillTarget {
  globalEndpoint: string;
  /** Regional endpoints, Tokyo (primary) first. */
  regions: Array<{ name: string; endpoint: string }>;
  /** Runs `corebank <args>` against the system; resolves with stdout, rejects on a non-zero exit. */
  corebank(...args: string[]): Promise<string>;
}

export interface DrillOptions {
  users: number;
  /** Load before, between and after the switches. */
  dwellMs: number;
  log?: (line: string) => void;
}

export interface SwitchFigures {
  workflow: string;
  /** Longest gap between two accepted requests around the switch. */
  outageMs: number;
  /** The command's own report of each step and its duration. */
  output: string;
  startedAt: number;
  endedAt: number;
}

export interface PlannedDrillResult {
  switches: SwitchFigures[];
  load: LoadReport;
  money: MoneyCheck;
  /** A deposit acknowledged status#success just before the switchover, read from Osaka after it. */
  rpoDeposit: { account: string; quantity: number; balanceAfter: number };
}

export interface RegionLossDrillResult {
  switches: SwitchFigures[];
  load: LoadReport;
  money: MoneyCheck;
  /** WAL bytes the failover could not confirm as replicated (0: nothing known lost). */
  walBytesNotConfirmed: number;
  /** Sagas seen terminal before the kill. */
  terminalBeforeKill: number;
  acceptedAfterFailover: number;
}

async function timedSwitch(target: DrillTarget, load: { report(): LoadReport }, args: string[], log: (line: string) => void): Promise<SwitchFigures> {
  const startedAt = Date.now();
  const output = await target.corebank(...args);
  const endedAt = Date.now();
  log(output.trimEnd());
  // The gap closes with the first request accepted after the switch: wait for it.
  await waitFor(`a request accepted after ${args.join(' ')}`, async () => {
    if (!load.report().accepted.some((time) => time > endedAt)) throw new Error('none yet');
  }, 30_000, 50);
  return { workflow: args.join(' '), outageMs: longestGap(load.report().accepted, startedAt, endedAt), output, startedAt, endedAt };
}

async function depositAndWait(baseUrl: string, account: string, quantity: number): Promise<void> {
  const key = randomUUID();
  let transactionId = '';
  await waitFor(`deposit for ${account}`, async () => {
    const response = await fetch(`${baseUrl}/transaction/deposit`, { method: 'POST', headers: { X_ACCOUNT_ID: account, 'content-type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify({ quantity }) });
    if (response.status !== 200) throw new Error(`got ${response.status}`);
    transactionId = ((await response.json()) as { transactionId: string }).transactionId;
  }, 30_000, 100);
  await waitFor(`deposit ${transactionId} success`, async () => {
    const response = await fetch(`${baseUrl}/transaction/${transactionId}`, { headers: { X_ACCOUNT_ID: account } });
    const status = ((await response.json()) as { status?: string }).status;
    if (status !== 'status#success') throw new Error(`status ${String(status)}`);
  }, 30_000, 20);
}

export async function balanceOf(baseUrl: string, account: string): Promise<number> {
  const response = await fetch(`${baseUrl}/balance`, { headers: { X_ACCOUNT_ID: account } });
  return ((await response.json()) as { balance: number }).balance;
}

/**
 * Failover then failback under load. `between` runs once Osaka is active (the tests check the
 * endpoints and `status --json` there).
 */
export async function plannedDrill(target: DrillTarget, options: DrillOptions & { between?: () => Promise<void>; afterFailback?: () => Promise<void> }): Promise<PlannedDrillResult> {
  const log = options.log ?? (() => {});
  const load = startLoad({ baseUrl: target.globalEndpoint, users: options.users, prefix: `planned${randomUUID().slice(0, 6)}` });
  try {
    await sleep(options.dwellMs);
    // RPO 0: a deposit acknowledged as success right before the switchover is there after it.
    const rpoAccount = `rpo${randomUUID().slice(0, 12)}`;
    await depositAndWait(target.globalEndpoint, rpoAccount, 777);
    const failover = await timedSwitch(target, load, ['failover'], log);
    const balanceAfter = await balanceOf(target.regions[1]!.endpoint, rpoAccount);
    await options.between?.();
    await sleep(options.dwellMs);
    const failback = await timedSwitch(target, load, ['failback'], log);
    await options.afterFailback?.();
    await sleep(options.dwellMs);
    const report = await load.stop();
    return { switches: [failover, failback], load: report, money: await checkMoney(target.globalEndpoint, report), rpoDeposit: { account: rpoAccount, quantity: 777, balanceAfter } };
  } finally {
    await load.stop();
  }
}

/** Tokyo lost under load: kill it, fail over allowing data loss, load goes on in Osaka, restore Tokyo, fail back. */
export async function regionLossDrill(target: DrillTarget, options: DrillOptions): Promise<RegionLossDrillResult> {
  const log = options.log ?? (() => {});
  const tokyo = target.regions[0]!.name;
  const load = startLoad({ baseUrl: target.globalEndpoint, users: options.users, prefix: `loss${randomUUID().slice(0, 6)}` });
  try {
    await sleep(options.dwellMs);
    log(await target.corebank('region', 'kill', tokyo));
    const terminalBeforeKill = load.report().sagas.filter((saga) => saga.status && saga.status !== 'status#pending').length;
    const failover = await timedSwitch(target, load, ['failover', '--allow-data-loss'], log);
    const lost = /WAL bytes not confirmed \(lost\): (\d+)/.exec(failover.output);
    await sleep(options.dwellMs);
    const acceptedAfterFailover = load.report().accepted.filter((time) => time > failover.endedAt).length;
    log(await target.corebank('region', 'restore', tokyo));
    const failback = await timedSwitch(target, load, ['failback'], log);
    await sleep(options.dwellMs);
    const report = await load.stop();
    return {
      switches: [failover, failback],
      load: report,
      money: await checkMoney(target.globalEndpoint, report, REGION_LOSS_ERROR_KINDS),
      walBytesNotConfirmed: lost ? Number(lost[1]) : Number.NaN,
      terminalBeforeKill,
      acceptedAfterFailover,
    };
  } finally {
    await load.stop();
  }
}

/** The drill's table: one row per switch, then the money figures of each drill. */
export function drillTable(planned: PlannedDrillResult, loss: RegionLossDrillResult): string {
  const errors = (report: LoadReport) => Object.entries(report.errors).map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none';
  const rows = [
    ['drill', 'switch', 'outage (s)', 'sagas', 'terminal', 'errors by kind', 'accounts checked', 'mismatches', 'RPO'],
    ...planned.switches.map((each) => ['planned', each.workflow, (each.outageMs / 1000).toFixed(1), '', '', '', '', '', '']),
    ['planned', '(whole run)', '', String(planned.money.sagas), String(planned.money.terminal), errors(planned.load), String(planned.money.accountsChecked), String(planned.money.mismatches.length), planned.rpoDeposit.balanceAfter === planned.rpoDeposit.quantity ? '0 (deposit present)' : 'LOST'],
    ...loss.switches.map((each) => ['region loss', each.workflow, (each.outageMs / 1000).toFixed(1), '', '', '', '', '', '']),
    ['region loss', '(whole run)', '', String(loss.money.sagas), String(loss.money.terminal), errors(loss.load), String(loss.money.accountsChecked), String(loss.money.mismatches.length), `${loss.walBytesNotConfirmed} WAL bytes not confirmed`],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`).join('\n');
}

/** What the automatic failover drill reads from the control plane (`controlPlaneClient`). */
export interface AutoDrillControl {
  autoFailover(): Promise<AutoFailoverStatus>;
  executions(): Promise<ExecutionRecord[]>;
}

export interface TimelineEntry {
  at: number;
  what: string;
}

export interface AutoDrillResult {
  /** The fault injected on Tokyo, as `corebank fault` takes it. */
  fault: string[];
  timeline: TimelineEntry[];
  /** Fault start → failover started by the initiator. */
  detectionMs: number;
  /** The failover execution, start to end. */
  failoverMs: number;
  /** The longest gap between accepted requests from the fault to the first acceptance in Osaka. */
  outageMs: number;
  failback: SwitchFigures;
  load: LoadReport;
  money: MoneyCheck;
}

/**
 * The seed's rehearsal of automatic failover, under load: rule enabled → a fault on Tokyo
 * (its transaction service scaled to 0, or a network fault) → the canaries fail, their
 * alarms fire, the initiator starts the failover → load continues in Osaka → the fault is
 * cleared → rule disabled → manual failback. The timeline comes from the control plane's
 * events (canaries, alarms, decisions), its executions and the load's own records.
 */
export async function autoFailoverDrill(target: DrillTarget, control: AutoDrillControl, options: DrillOptions & { fault?: string[]; deadlineMs?: number }): Promise<AutoDrillResult> {
  const log = options.log ?? (() => {});
  const [tokyo, osaka] = [target.regions[0]!, target.regions[1]!];
  const fault = options.fault ?? ['scale-to-zero', '--service', 'transaction'];
  const deadlineMs = options.deadlineMs ?? 120_000;
  await waitFor('both canary alarms OK before the fault', async () => {
    const states = (await control.autoFailover()).alarms.map((alarm) => alarm.state);
    if (states.some((state) => state !== 'OK')) throw new Error(states.join(', '));
  }, deadlineMs, 250);
  const executionsBefore = new Set((await control.executions()).map((execution) => execution.id));
  const load = startLoad({ baseUrl: target.globalEndpoint, users: options.users, prefix: `auto${randomUUID().slice(0, 6)}` });
  try {
    log(await target.corebank('autofailover', 'enable'));
    await sleep(options.dwellMs);
    const faultAt = Date.now();
    log(await target.corebank('fault', ...fault, '--region', tokyo.name));
    let failover: ExecutionRecord | undefined;
    await waitFor('the initiator to start a failover and the failover to succeed', async () => {
      failover = (await control.executions()).find((execution) => !executionsBefore.has(execution.id) && execution.workflow === 'failover');
      if (failover?.status !== 'succeeded') throw new Error(failover ? `execution ${failover.id} ${failover.status}` : 'no failover yet');
    }, deadlineMs, 200);
    const started = Date.parse(failover!.startedAt);
    const ended = Date.parse(failover!.endedAt!);
    // Canaries that time out on an overloaded machine can fail over before any fault: no figure of this drill would mean anything.
    if (started < faultAt) throw new Error(`failover ${failover!.id} started ${faultAt - started} ms before the fault: the canaries failed on their own (is the machine overloaded?)`);
    log(`failover ${failover!.id} started by the initiator ${((started - faultAt) / 1000).toFixed(1)} s after the fault, took ${ended - started} ms`);
    for (const step of failover!.steps) log(`  ${step.name.padEnd(34)} ${step.durationMs === undefined ? '' : `${(step.durationMs / 1000).toFixed(2)} s`}  ${step.error ?? formatStepOutput(step.output)}`);
    const firstInOsaka = () => load.report().sagas.filter((saga) => saga.acceptedIn === osaka.name && saga.acceptedAt !== undefined && saga.acceptedAt >= faultAt).map((saga) => saga.acceptedAt!).sort((a, b) => a - b)[0];
    await waitFor('a request accepted in Osaka', async () => {
      if (firstInOsaka() === undefined) throw new Error('none yet');
    }, 30_000, 50);
    await sleep(options.dwellMs);
    log(await target.corebank('fault', 'clear'));
    await waitFor(`${tokyo.name}'s endpoint healthy again`, async () => {
      const response = await fetch(`${tokyo.endpoint}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.status !== 200) throw new Error(`health ${response.status}`);
    }, deadlineMs, 250);
    log(await target.corebank('autofailover', 'disable'));
    const failback = await timedSwitch(target, load, ['failback'], log);
    await sleep(options.dwellMs);
    const report = await load.stop();
    const status = await control.autoFailover();
    const osakaAt = firstInOsaka()!;
    // The first failed run of each canary, every alarm change, every decision.
    const failedCanaries = new Set<string>();
    const firstOfEach = (event: AutoFailoverStatus['events'][number]) => {
      if (event.kind === 'canary-succeeded') return false;
      if (event.kind !== 'canary-failed') return true;
      if (failedCanaries.has(event.subject)) return false;
      failedCanaries.add(event.subject);
      return true;
    };
    const timeline: TimelineEntry[] = [
      { at: faultAt, what: `fault on ${tokyo.name}: ${fault.join(' ')}` },
      ...status.events
        .filter((event) => Date.parse(event.at) >= faultAt && Date.parse(event.at) <= failback.startedAt)
        .filter(firstOfEach)
        .map((event) => ({ at: Date.parse(event.at), what: event.kind === 'canary-failed' ? `first failed run of ${event.subject} (${event.detail})` : event.kind === 'alarm' ? `alarm ${event.subject}: ${event.detail}` : `initiator: ${event.detail}` })),
      { at: started, what: `failover ${failover!.id} started (${failover!.source} → ${failover!.destination})` },
      { at: ended, what: `failover ${failover!.id} ${failover!.status}` },
      { at: osakaAt, what: `first request accepted in ${osaka.name}` },
      { at: failback.startedAt, what: 'failback started (manual)' },
      { at: failback.endedAt, what: 'failback ended' },
    ].sort((a, b) => a.at - b.at);
    return {
      fault,
      timeline,
      detectionMs: started - faultAt,
      failoverMs: ended - started,
      outageMs: longestGap(report.accepted, faultAt, osakaAt),
      failback,
      load: report,
      // A network fault adds the client's timeouts and the edge's 502/504 to what clients may see.
      money: await checkMoney(target.globalEndpoint, report, fault[0] === 'scale-to-zero' ? EXPECTED_ERROR_KINDS : [...REGION_LOSS_ERROR_KINDS, 'timeout', 'http 504']),
    };
  } finally {
    await load.stop();
  }
}

/** The automatic failover drill's timeline (seconds from the fault) and figures. */
export function autoDrillTable(result: AutoDrillResult): string {
  const start = result.timeline[0]!.at;
  const timeline = result.timeline.map((entry) => `  +${((entry.at - start) / 1000).toFixed(1).padStart(5)} s  ${new Date(entry.at).toISOString().slice(11, 23)}  ${entry.what}`);
  const errors = Object.entries(result.load.errors).map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none';
  const rows = [
    ['fault', 'detection (s)', 'failover (s)', 'outage (s)', 'failback outage (s)', 'sagas', 'terminal', 'errors by kind', 'accounts checked', 'mismatches'],
    [result.fault.join(' '), (result.detectionMs / 1000).toFixed(1), (result.failoverMs / 1000).toFixed(1), (result.outageMs / 1000).toFixed(1), (result.failback.outageMs / 1000).toFixed(1), String(result.money.sagas), String(result.money.terminal), errors, String(result.money.accountsChecked), String(result.money.mismatches.length)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return ['timeline:', ...timeline, '', ...rows.map((row) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`)].join('\n');
}
