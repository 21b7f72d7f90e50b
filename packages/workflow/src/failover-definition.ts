/**
 * The failover / failback workflow as data (SPEC "Failover / failback"): one ordered list of
 * steps per workflow. The CDK app turns each step into Step Functions states and the local
 * `corebank failover` runs the same list, so the two cannot drift. No I/O here.
 */

/** A region's part in one run: the one being left, or the one taking over. */
export type RegionRole = 'source' | 'destination';

/** The regions' part in the deployment: the primary (Tokyo) or the secondary (Osaka). */
export type RegionPlace = 'primary' | 'secondary';

export type WorkflowName = 'failover' | 'failback' | 'failover-allow-data-loss';

/** How long a service may keep a stopFlag it read (services cap STOP_FLAG_TTL_MS at 10000). */
export const STOP_FLAG_CACHE_TTL_SECONDS = 10;

/** How often the database's state is read while it switches, and for how long at most. */
export const DATABASE_POLL_SECONDS = 10;
export const DATABASE_AVAILABLE_TIMEOUT_SECONDS = 30 * 60;

export type WorkflowStep =
  | { name: string; kind: 'set-stop-flag'; region: RegionRole; value: 'true' | 'false'; description: string }
  /**
   * `seconds` is what Step Functions waits. With `confirm: 'source-drained'` a runner that can
   * ask the source's services (the local one) moves on as soon as every one of them reports the
   * region closed and nothing in flight, and treats `seconds` (plus a margin) as a deadline.
   */
  | { name: string; kind: 'wait'; seconds: number; confirm?: 'source-drained'; description: string }
  | { name: string; kind: 'set-routing-controls'; off: RegionRole; on: RegionRole; description: string }
  | { name: string; kind: 'switch-database'; target: RegionRole; allowDataLoss: boolean; description: string }
  | { name: string; kind: 'wait-database-available'; target: RegionRole; pollSeconds: number; timeoutSeconds: number; description: string }
  /** Releases the saga leases held by `of`'s workers (conditional writes in the main table's replica of `via`). */
  | { name: string; kind: 'release-leases'; of: RegionRole; via: RegionRole; description: string };

export type StepKind = WorkflowStep['kind'];

export interface WorkflowDefinition {
  name: WorkflowName;
  /** Which deployed region is the source and which the destination. */
  source: RegionPlace;
  destination: RegionPlace;
  description: string;
  steps: readonly WorkflowStep[];
}

const closeSource: WorkflowStep = {
  name: 'CloseSourceRegion',
  kind: 'set-stop-flag',
  region: 'source',
  value: 'true',
  description: 'Set stopFlag "true" in the source region: its API answers 503 and its worker idles.',
};

const waitForStopFlag: WorkflowStep = {
  name: 'WaitForStopFlagToPropagate',
  kind: 'wait',
  seconds: STOP_FLAG_CACHE_TTL_SECONDS,
  confirm: 'source-drained',
  description: 'Wait out the services\' stopFlag cache so that every instance of the source has seen it.',
};

const switchRouting: WorkflowStep = {
  name: 'SwitchRoutingControls',
  kind: 'set-routing-controls',
  off: 'source',
  on: 'destination',
  description: 'Turn the source\'s routing control Off and the destination\'s On (Route 53 ARC), trying each cluster endpoint in turn.',
};

const switchOverDatabase: WorkflowStep = {
  name: 'SwitchOverDatabase',
  kind: 'switch-database',
  target: 'destination',
  allowDataLoss: false,
  description: 'Switch the Aurora global database\'s writer over to the destination with no data loss.',
};

const failOverDatabase: WorkflowStep = {
  name: 'FailOverDatabaseAllowingDataLoss',
  kind: 'switch-database',
  target: 'destination',
  allowDataLoss: true,
  description: 'Promote the destination\'s cluster without waiting for the lost primary (AllowDataLoss); writes not yet replicated are lost.',
};

const waitForDatabase: WorkflowStep = {
  name: 'WaitForDatabaseAvailable',
  kind: 'wait-database-available',
  target: 'destination',
  pollSeconds: DATABASE_POLL_SECONDS,
  timeoutSeconds: DATABASE_AVAILABLE_TIMEOUT_SECONDS,
  description: 'Poll the global database until it is available with the destination as its writer.',
};

const openDestination: WorkflowStep = {
  name: 'OpenDestinationRegion',
  kind: 'set-stop-flag',
  region: 'destination',
  value: 'false',
  description: 'Set stopFlag "false" in the destination: its API accepts requests and its worker finishes pending sagas.',
};

/**
 * A lost region's workers cannot hand their sagas back as a closing region's do: without this
 * fence, an account whose saga was in flight stays busy until WORKER_LEASE_MS lapses.
 */
const releaseLostLeases: WorkflowStep = {
  name: 'ReleaseLeasesOfLostRegion',
  kind: 'release-leases',
  of: 'source',
  via: 'destination',
  description: 'Release the saga leases held by the lost region\'s workers (each only if its owner is unchanged), so the destination\'s worker resumes those sagas at once.',
};

const plannedSteps = [closeSource, waitForStopFlag, switchRouting, switchOverDatabase, waitForDatabase, openDestination] as const;

export const WORKFLOWS: Readonly<Record<WorkflowName, WorkflowDefinition>> = {
  failover: {
    name: 'failover',
    source: 'primary',
    destination: 'secondary',
    description: 'Planned failover from the primary to the secondary region, with no data loss.',
    steps: plannedSteps,
  },
  failback: {
    name: 'failback',
    source: 'secondary',
    destination: 'primary',
    description: 'Planned failback from the secondary to the primary region, with no data loss.',
    steps: plannedSteps,
  },
  'failover-allow-data-loss': {
    name: 'failover-allow-data-loss',
    source: 'primary',
    destination: 'secondary',
    description: 'Unplanned failover when the primary region is lost: nothing is asked of the source, the database is promoted allowing data loss.',
    steps: [switchRouting, failOverDatabase, waitForDatabase, releaseLostLeases, openDestination],
  },
};

export function workflow(name: WorkflowName): WorkflowDefinition {
  return WORKFLOWS[name];
}
