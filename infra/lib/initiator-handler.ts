/**
 * The AWS initiator's Decide function (a Lambda bundled by infra/lib/auto-failover.ts): the
 * same pure `decideInitiation` as the local control plane, fed by what the initiator state
 * machine gathered just before. All AWS calls are the state machine's own SDK tasks (the
 * edge); this function reads no clock but the one it is handed and calls nothing.
 */
import { decideInitiation, type AlarmState, type InitiatorDecision } from '@corebank/workflow';

/** One branch of the state machine's Observe state, tagged by what it asked. */
export type Observation =
  /** CloudWatch DescribeAlarms of one canary alarm in its region: its StateValue, none if the alarm does not exist. */
  | { kind: 'alarm'; name: string; states: string[] }
  /** Step Functions ListExecutions RUNNING of one failover or failback workflow. */
  | { kind: 'executions'; workflow: string; running: unknown[] }
  /** EventBridge DescribeRule of the auto-failover rule. */
  | { kind: 'rule'; state: string }
  /** RDS DescribeGlobalClusters: the writer member's cluster ARN (none while a switch is under way). */
  | { kind: 'database'; writers: string[] }
  /** Step Functions ListExecutions RUNNING of the initiator itself. */
  | { kind: 'initiations'; running: { ExecutionArn: string; StartDate: string | number }[] };

export interface DecideEvent {
  observations: Observation[];
  /** Checks already made in this initiation, and when the last one was (ms since the epoch). */
  initiation: { attempts: number; lastAttemptAt?: number };
  /** The region the canaries call (Tokyo). */
  watchedRegion: string;
  /** This initiation's execution ($$.Execution.Id, $$.Execution.StartTime). */
  self: { executionArn: string; startTime: string };
}

export type DecideResult = InitiatorDecision & {
  /** The initiation's last check, for the next attempt. */
  lastAttemptAt?: number;
  /** `retryAt` as the ISO time the state machine's Wait state takes. */
  retryAtTimestamp?: string;
};

const ALARM_STATES: readonly AlarmState[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

/** Step Functions hands timestamps over as ISO strings or epoch numbers (seconds or ms). */
const epochMs = (value: string | number): number => (typeof value === 'number' ? (value < 1e11 ? value * 1000 : value) : Date.parse(value));

/**
 * EventBridge starts one initiator execution per alarm that enters ALARM. As locally, one
 * initiation at a time: a later one merges into an earlier one that is still open (it ends
 * at once), so two executions never both decide to start the failover.
 */
export function earlierInitiation(running: { ExecutionArn: string; StartDate: string | number }[], self: DecideEvent['self']): string | undefined {
  const mine = { at: epochMs(self.startTime), arn: self.executionArn };
  return running
    .filter((execution) => execution.ExecutionArn !== mine.arn)
    .find((execution) => {
      const at = epochMs(execution.StartDate);
      return at < mine.at || (at === mine.at && execution.ExecutionArn < mine.arn);
    })?.ExecutionArn;
}

/** The region of a cluster ARN (`arn:aws:rds:<region>:<account>:cluster:<id>`). */
const regionOfArn = (arn: string) => arn.split(':')[3] ?? 'unknown';

export function decide(event: DecideEvent, now: number): DecideResult {
  const { observations, initiation } = event;
  const initiations = observations.find((o) => o.kind === 'initiations');
  const earlier = initiations ? earlierInitiation(initiations.running, event.self) : undefined;
  if (earlier) return { kind: 'ignore', reason: `merged into the initiation begun earlier, ${earlier}`, attempts: initiation.attempts, lastAttemptAt: initiation.lastAttemptAt };

  const alarms: Record<string, AlarmState> = {};
  for (const o of observations) {
    if (o.kind !== 'alarm') continue;
    const state = o.states[0] as AlarmState | undefined;
    alarms[o.name] = state && ALARM_STATES.includes(state) ? state : 'INSUFFICIENT_DATA';
  }
  const rule = observations.find((o) => o.kind === 'rule');
  const writers = observations.find((o) => o.kind === 'database')?.writers ?? [];
  const decision = decideInitiation({
    alarms,
    ruleEnabled: rule?.state.startsWith('ENABLED') ?? false,
    executionRunning: observations.some((o) => o.kind === 'executions' && o.running.length > 0),
    watchedRegion: event.watchedRegion,
    // No writer while Aurora switches: 'unknown' is not the watched region, so nothing starts.
    primaryRegion: writers[0] ? regionOfArn(writers[0]) : 'unknown',
    attempts: initiation.attempts,
    lastAttemptAt: initiation.lastAttemptAt,
    now,
  });
  // A decision that checked the alarms counts an attempt; one that only waited for its turn does not.
  const lastAttemptAt = decision.attempts > initiation.attempts ? now : initiation.lastAttemptAt;
  return decision.kind === 'wait-retry'
    ? { ...decision, lastAttemptAt, retryAtTimestamp: new Date(decision.retryAt).toISOString() }
    : { ...decision, lastAttemptAt };
}

export const handler = async (event: DecideEvent): Promise<DecideResult> => decide(event, Date.now());
