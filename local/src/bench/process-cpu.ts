import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (ms) used so far by this process and every process it started, by role. */
export type CpuByRole = Map<string, number>;

/** Clock ticks per second of /proc/<pid>/stat on Linux (USER_HZ, 100 on every common kernel). */
const TICKS_PER_SECOND = 100;

/** What a process is, from its command line: the service it runs, or the server it is. */
export function roleOf(commandLine: string): string {
  const service = /services\/(\w+)\/(?:src|dist)\/([\w-]+)\.[jt]s/.exec(commandLine);
  if (service) return service[2] === 'worker-main' ? 'transaction-worker' : service[1]!;
  if (commandLine.includes('endpoints-main')) return 'endpoints';
  if (/monitor\/(?:src|dist)\/main\.[jt]s/.test(commandLine)) return 'monitor';
  if (/client\/(?:src|dist)\/main\.[jt]s/.test(commandLine)) return 'load client';
  if (commandLine.includes('DynamoDBLocal.jar')) return 'dynamodb-local';
  if (/(^|\/)postgres\b/.test(commandLine) || commandLine.startsWith('postgres:')) return 'postgres';
  return 'other';
}

type ProcessTable = Map<number, { parent: number; amount: number; commandLine: string }>;

/** Reads /proc: every process with its parent, command line and `measure`; null where there is no /proc (macOS, Windows). */
function readProcesses(measure: (pid: number, stat: string[]) => number): ProcessTable | null {
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return null;
  }
  const processes: ProcessTable = new Map();
  for (const pid of pids) {
    try {
      // The command name in parentheses may hold spaces: the fields after it are split safely.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      processes.set(pid, { parent: Number(fields[1]), amount: measure(pid, fields), commandLine });
    } catch {
      // The process ended while we looked.
    }
  }
  return processes;
}

function isDescendant(processes: ProcessTable, pid: number, rootPid: number): boolean {
  for (let current = processes.get(pid)?.parent; current !== undefined && current > 1; current = processes.get(current)?.parent) {
    if (current === rootPid) return true;
  }
  return false;
}

/** `measure` of `rootPid` (named `rootRole`) and of all its descendants, summed by role. */
function sumByRole(rootPid: number, rootRole: string, measure: (pid: number, stat: string[]) => number): Map<string, number> | null {
  const processes = readProcesses(measure);
  if (!processes) return null;
  const byRole = new Map<string, number>();
  for (const [pid, { amount, commandLine }] of processes) {
    if (pid !== rootPid && !isDescendant(processes, pid, rootPid)) continue;
    const role = pid === rootPid ? rootRole : roleOf(commandLine);
    byRole.set(role, (byRole.get(role) ?? 0) + amount);
  }
  return byRole;
}

/** The processes descending from `rootPid` now, with their roles; null where there is no /proc. */
export function descendantsOf(rootPid: number): Array<{ pid: number; role: string }> | null {
  const processes = readProcesses(() => 0);
  if (!processes) return null;
  return [...processes]
    .filter(([pid]) => isDescendant(processes, pid, rootPid))
    .map(([pid, { commandLine }]) => ({ pid, role: roleOf(commandLine) }));
}

/** CPU time (ms) of `rootPid` (named `rootRole`) and all its descendants, by role; null without /proc. */
export function cpuByRole(rootPid: number, rootRole: string): CpuByRole | null {
  return sumByRole(rootPid, rootRole, (_pid, stat) => ((Number(stat[11]) + Number(stat[12])) * 1000) / TICKS_PER_SECOND);
}

/**
 * Resident memory (VmRSS, MB) of `rootPid` (named `rootRole`) and all its descendants, by
 * role, largest first; null without /proc. PostgreSQL's processes share memory, so their
 * sum overstates what they hold together.
 */
export function rssByRole(rootPid: number, rootRole: string): Array<{ role: string; mb: number }> | null {
  const byRole = sumByRole(rootPid, rootRole, (pid) => {
    const kilobytes = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kilobytes ? Number(kilobytes[1]) / 1024 : 0;
  });
  return byRole && [...byRole].map(([role, mb]) => ({ role, mb })).filter(({ mb }) => mb > 0).sort((a, b) => b.mb - a.mb);
}

/** CPU used by each role between two readings, largest first. */
export function cpuSince(before: CpuByRole, after: CpuByRole): Array<{ role: string; ms: number }> {
  return [...after]
    .map(([role, ms]) => ({ role, ms: ms - (before.get(role) ?? 0) }))
    .filter((entry) => entry.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}
