/**
 * `corebank fault <kind> [--region] [--duration]` as data: parsing, validation, one-line
 * descriptions and the `fault list` table. Pure; the control plane executes a FaultSpec
 * (the fault proxy in front of a region's endpoint and services for network faults, the
 * supervisor's desired count for scale-to-zero, a SIGKILL for kill) and undoes it on
 * `fault clear` or when its duration ends.
 */
import { durationMs } from '@corebank/kit';

export const FAULT_KINDS = ['packet-loss', 'latency', 'blackhole', 'scale-to-zero', 'kill'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const FAULT_SERVICES = ['balance', 'count', 'transaction', 'worker'] as const;
export type FaultService = (typeof FAULT_SERVICES)[number];
export const KNOWN_REGIONS = ['ap-northeast-1', 'ap-northeast-3'] as const;
/** The primary at start: where a fault goes unless --region says otherwise. */
export const DEFAULT_FAULT_REGION = 'ap-northeast-1';
/**
 * `--client`: a network fault on the load client's host instead of a region, as the seed's FIS
 * experiment injects packet loss on the bastion that runs Locust. Locally that host's network
 * is the client link: the fault proxy through which the load client reaches the global endpoint.
 */
export const CLIENT_LINK = 'client';

interface Common {
  /** The region the fault is on, or CLIENT_LINK for a network fault on the load client's link. */
  region: string;
  /** Clears itself after this long; undefined: until `fault clear`. */
  durationMs?: number;
}

export type FaultSpec = Common &
  (
    | { kind: 'packet-loss'; percent: number }
    | { kind: 'latency'; ms: number }
    /** `target: 'database'`: the region's database node instead of its endpoint and services. */
    | { kind: 'blackhole'; target: 'region' | 'database' }
    /** Every service of the region, or one. */
    | { kind: 'scale-to-zero'; service?: FaultService }
    /** One instance (0 unless --instance) of one service; the supervisor starts it again. */
    | { kind: 'kill'; service: FaultService; instance: number }
  );

export class FaultArgumentError extends Error {
  override name = 'FaultArgumentError';
}

/** `500ms`, `30s`, `2m`, `1h` → ms; at least 1 s, at most 24 h. */
export function parseDuration(text: string): number {
  // A unit is required here: a bare number could be read as seconds or milliseconds.
  const ms = /\d$/.test(text.trim()) ? undefined : durationMs(text);
  if (ms === undefined) throw new FaultArgumentError(`--duration must look like 30s, 2m or 500ms, not "${text}"`);
  if (ms < 1000 || ms > 24 * 3_600_000) throw new FaultArgumentError(`--duration must be from 1s to 24h, not ${text}`);
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const ALLOWED: Record<FaultKind, string[]> = {
  'packet-loss': ['percent', 'client'],
  latency: ['ms', 'client'],
  blackhole: ['database', 'client'],
  'scale-to-zero': ['service'],
  kill: ['service', 'instance'],
};
const FLAGS_WITHOUT_VALUE = new Set(['database', 'client']);

function wholeNumber(name: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || value < min || value > max) throw new FaultArgumentError(`--${name} must be a whole number from ${min} to ${max}, not ${text ?? 'missing'}`);
  return value;
}

function service(text: string | undefined): FaultService {
  if (!FAULT_SERVICES.includes(text as FaultService)) throw new FaultArgumentError(`--service must be one of ${FAULT_SERVICES.join(', ')}, not ${text ?? 'missing'}`);
  return text as FaultService;
}

/** `['latency', '--ms', '200', '--region', 'ap-northeast-1', '--duration', '30s']` → a FaultSpec. */
export function parseFaultArgs(args: readonly string[]): FaultSpec {
  const [kind, ...rest] = args;
  if (!FAULT_KINDS.includes(kind as FaultKind)) throw new FaultArgumentError(`fault kind must be one of ${FAULT_KINDS.join(', ')}, not ${kind ?? 'missing'}`);
  const faultKind = kind as FaultKind;
  const options = new Map<string, string | undefined>();
  for (let index = 0; index < rest.length; index++) {
    const flag = rest[index]!;
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || ![...ALLOWED[faultKind], 'region', 'duration'].includes(name)) throw new FaultArgumentError(`${kind} does not take ${flag}`);
    if (options.has(name)) throw new FaultArgumentError(`${flag} given twice`);
    if (FLAGS_WITHOUT_VALUE.has(name)) options.set(name, undefined);
    else options.set(name, rest[++index]);
  }
  if (options.has('client') && (options.has('region') || options.has('database'))) throw new FaultArgumentError(`--client is the load client's link, not a region: it takes neither --region nor --database`);
  const region = options.has('client') ? CLIENT_LINK : (options.get('region') ?? DEFAULT_FAULT_REGION);
  if (region !== CLIENT_LINK && !KNOWN_REGIONS.includes(region as (typeof KNOWN_REGIONS)[number])) throw new FaultArgumentError(`--region must be one of ${KNOWN_REGIONS.join(', ')}, not ${region}`);
  const duration = options.get('duration');
  const common: Common = { region, ...(options.has('duration') ? { durationMs: parseDuration(duration ?? '') } : {}) };
  switch (faultKind) {
    case 'packet-loss':
      return { ...common, kind: 'packet-loss', percent: wholeNumber('percent', options.get('percent'), 1, 100) };
    case 'latency':
      return { ...common, kind: 'latency', ms: wholeNumber('ms', options.get('ms'), 1, 60_000) };
    case 'blackhole':
      return { ...common, kind: 'blackhole', target: options.has('database') ? 'database' : 'region' };
    case 'scale-to-zero':
      return { ...common, kind: 'scale-to-zero', ...(options.has('service') ? { service: service(options.get('service')) } : {}) };
    case 'kill':
      return { ...common, kind: 'kill', service: service(options.get('service')), instance: options.has('instance') ? wholeNumber('instance', options.get('instance'), 0, 3) : 0 };
  }
}

/** Where a fault acts: the proxy in front of a region's endpoint, the one before its database node, the load client's link, or the services themselves. */
export function faultSite(spec: FaultSpec): 'endpoint' | 'database' | 'client-link' | 'services' {
  if (spec.kind === 'scale-to-zero' || spec.kind === 'kill') return 'services';
  if (spec.region === CLIENT_LINK) return 'client-link';
  return spec.kind === 'blackhole' && spec.target === 'database' ? 'database' : 'endpoint';
}

/** One line for a human: what the fault does, where, for how long. */
export function describeFault(spec: FaultSpec): string {
  const where = spec.region;
  const link = where === CLIENT_LINK ? "on the load client's link to the global endpoint" : `into ${where}'s endpoint`;
  const what = (() => {
    switch (spec.kind) {
      case 'packet-loss':
        return `packet loss ${spec.percent} % ${link}`;
      case 'latency':
        return `latency +${spec.ms} ms each way ${link}`;
      case 'blackhole':
        if (where === CLIENT_LINK) return `blackhole ${link} (connections accepted, never answered)`;
        return spec.target === 'database' ? `blackhole of ${where}'s database (connections accepted, never answered)` : `blackhole of ${where} (connections accepted, never answered)`;
      case 'scale-to-zero':
        return `${spec.service ?? 'every service'} of ${where} scaled to 0`;
      case 'kill':
        return `kill instance ${spec.instance} of ${where}'s ${spec.service}`;
    }
  })();
  if (spec.kind === 'kill') return what;
  return spec.durationMs === undefined ? `${what}, until cleared` : `${what}, for ${formatDuration(spec.durationMs)}`;
}

export interface ActiveFault {
  id: string;
  spec: FaultSpec;
  since: number;
}

/** The `corebank fault list` table; `now` for each fault's remaining time. */
export function formatFaultList(faults: readonly ActiveFault[], now: number): string {
  if (faults.length === 0) return 'no fault is active';
  const rows = faults.map((fault) => {
    const remaining = fault.spec.durationMs === undefined ? 'until cleared' : `${Math.max(0, Math.ceil((fault.since + fault.spec.durationMs - now) / 1000))}s left`;
    return [fault.id, fault.spec.kind, fault.spec.region, describeFault(fault.spec), remaining];
  });
  const header = ['id', 'kind', 'on', 'fault', 'clears'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}
