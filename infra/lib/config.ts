/** Parameters per environment. Names are chosen so the stacks and outputs read as in the seed. */

export const PROJECT_PREFIX = 'BLEAFSI-CoreBanking';

export type EnvName = 'Dev' | 'Staging' | 'Prod';
export const ENV_NAMES: readonly EnvName[] = ['Dev', 'Staging', 'Prod'];

export interface RegionParameters {
  region: string;
  vpcCidr: string;
}

export interface EnvironmentParameters {
  envName: EnvName;
  /** Account the stacks deploy to; the committed dummy value lets synth run without credentials. */
  account: string;
  primary: RegionParameters;
  secondary: RegionParameters;
  /** Region of the Route 53 ARC control plane (its API lives in us-west-2 only) and of the third canary. */
  monitoringRegion: string;
  /** The monitoring region's small VPC, where its canary runs, peered with the primary's. */
  monitoringVpcCidr: string;
  hostedZoneName: string;
  notifyEmail: string;
  desiredCount: { balance: number; count: number; transaction: number; 'transaction-worker': number };
  /** Kept on in Prod; off elsewhere so that `cdk destroy` leaves nothing behind. */
  deletionProtection: boolean;
  /** Whether the auto-failover EventBridge rule is deployed enabled (context `autoFailover`; off, as in the seed). */
  autoFailoverEnabled: boolean;
  auroraInstanceClass: string;
}

const base = {
  primary: { region: 'ap-northeast-1', vpcCidr: '10.100.0.0/16' },
  secondary: { region: 'ap-northeast-3', vpcCidr: '10.101.0.0/16' },
  monitoringRegion: 'us-west-2',
  hostedZoneName: 'example.com',
  auroraInstanceClass: 'r6g.large',
} as const;

export function environmentParameters(envName: EnvName, context: { account: string; notifyEmail?: string; autoFailover?: boolean }): EnvironmentParameters {
  const cidrs: Record<EnvName, [string, string, string]> = {
    Dev: ['10.100.0.0/16', '10.101.0.0/16', '10.102.0.0/16'],
    Staging: ['10.110.0.0/16', '10.111.0.0/16', '10.112.0.0/16'],
    Prod: ['10.120.0.0/16', '10.121.0.0/16', '10.122.0.0/16'],
  };
  const [primaryCidr, secondaryCidr, monitoringCidr] = cidrs[envName];
  return {
    ...base,
    envName,
    account: context.account,
    primary: { ...base.primary, vpcCidr: primaryCidr },
    secondary: { ...base.secondary, vpcCidr: secondaryCidr },
    monitoringVpcCidr: monitoringCidr,
    notifyEmail: context.notifyEmail ?? 'corebank-alerts@example.com',
    desiredCount: envName === 'Prod'
      ? { balance: 2, count: 2, transaction: 2, 'transaction-worker': 1 }
      : { balance: 1, count: 1, transaction: 1, 'transaction-worker': 1 },
    deletionProtection: envName === 'Prod',
    autoFailoverEnabled: context.autoFailover ?? false,
  };
}

/** `BLEAFSI-CoreBanking-primary-Dev`, as in the seed's stack outputs. */
export const stackName = (role: 'primary' | 'secondary' | 'recovery' | 'monitoring', envName: EnvName) => `${PROJECT_PREFIX}-${role}-${envName}`;

/** Lower-case identifiers for resources whose names must be known across regions. */
export const resourceId = (envName: EnvName, what: string) => `${PROJECT_PREFIX}-${envName}-${what}`.toLowerCase();

export const SERVICES = ['balance', 'count', 'transaction', 'transaction-worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Container ports: every image listens on 8080 (services/Dockerfile sets PORT=8080). */
export const CONTAINER_PORT = 8080;
