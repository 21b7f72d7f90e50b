import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Aspects } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { cdkNag } from './cdk-nag.ts';
import { ENV_NAMES, type EnvName, environmentParameters, stackName } from './config.ts';
import { AutoFailover } from './auto-failover.ts';
import { RoundTripCanary, canaryName } from './canary.ts';
import { GlobalRouting } from './failover.ts';
import { FaultInjection } from './fault-injection.ts';
import { MonitoringStack } from './monitoring-stack.ts';
import { addNagSuppressions, addPathSuppressions } from './nag.ts';
import { InterRegionPeering, appRouteTableIds } from './peering.ts';
import { RecoveryStack } from './recovery-stack.ts';
import { RegionStack } from './region-stack.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The whole deployment of one environment: recovery (us-west-2), primary, monitoring (us-west-2), secondary. */
export function buildApp(props: AppProps = {}) {
  const app = new App(props);
  const envName = (app.node.tryGetContext('envName') ?? 'Dev') as EnvName;
  if (!ENV_NAMES.includes(envName)) throw new Error(`context envName must be one of ${ENV_NAMES.join(', ')}, not ${envName}`);
  const account = String(app.node.tryGetContext('account') ?? '111111111111');
  const autoFailoverContext = app.node.tryGetContext('autoFailover');
  const parameters = environmentParameters(envName, { account, notifyEmail: app.node.tryGetContext('notifyEmail'), autoFailover: autoFailoverContext === true || autoFailoverContext === 'true' });
  const recovery = new RecoveryStack(app, stackName('recovery', envName), {
    env: { account, region: parameters.monitoringRegion }, parameters, crossRegionReferences: true,
    description: 'corebank: Route 53 ARC cluster, control panel and routing controls',
  });
  const primary = new RegionStack(app, stackName('primary', envName), {
    env: { account, region: parameters.primary.region }, parameters, place: 'primary', repoRoot: REPO_ROOT, crossRegionReferences: true,
    description: 'corebank: primary region (services, Aurora writer, DynamoDB global table, bastion, fault-injection templates)',
  });
  const monitoring = new MonitoringStack(app, stackName('monitoring', envName), {
    env: { account, region: parameters.monitoringRegion }, parameters, primary, crossRegionReferences: true,
    description: 'corebank: the monitoring region\'s canary (VPC peered with the primary), its alarm, the alarm\'s forwarding to the secondary region',
  });
  const secondary = new RegionStack(app, stackName('secondary', envName), {
    env: { account, region: parameters.secondary.region }, parameters, place: 'secondary', repoRoot: REPO_ROOT, crossRegionReferences: true,
    description: 'corebank: secondary region (services, Aurora secondary, Route 53 records, failover workflows, canary and failover initiator)',
  });
  secondary.addDependency(primary, 'the secondary Aurora cluster joins the global cluster, and the replicas of the table and secrets come from the primary');
  const routing = new GlobalRouting(secondary, 'GlobalRouting', {
    parameters, regions: { primary, secondary }, recovery, otherVpcs: [{ vpcId: monitoring.vpc.vpcId, region: parameters.monitoringRegion }],
  });

  // Automatic failover: Osaka's canary (its VPC peered with Tokyo's, which also lets the bastion reach Osaka's ALB), the rule and the initiator.
  const peering = new InterRegionPeering(secondary, 'PeeringToPrimary', {
    description: `corebank ${envName}: ${parameters.secondary.region} to ${parameters.primary.region}`,
    local: { vpcId: secondary.vpc.vpcId, region: parameters.secondary.region, cidr: parameters.secondary.vpcCidr, routeTableIds: appRouteTableIds(secondary.vpc) },
    peer: { vpcId: primary.vpc.vpcId, region: parameters.primary.region, cidr: parameters.primary.vpcCidr, routeTableIds: appRouteTableIds(primary.vpc) },
  });
  const canary = new RoundTripCanary(secondary, 'Canary', {
    origin: parameters.secondary.region,
    baseUrl: `http://api.${parameters.primary.region}.${parameters.hostedZoneName}`,
    vpc: secondary.vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    topic: secondary.alarmTopic,
  });
  canary.node.addDependency(peering);
  const autoFailover = new AutoFailover(secondary, 'AutoFailover', {
    parameters,
    stateMachines: routing.stateMachines,
    alarms: [parameters.secondary.region, parameters.monitoringRegion].map((region) => ({ name: canaryName(region), region })),
  });
  const faults = new FaultInjection(primary, 'FaultInjection', { parameters, loadClientHost: primary.bastion!, cluster: primary.cluster, transaction: primary.services.transaction });

  const stacks = { recovery, primary, monitoring, secondary };
  for (const stack of Object.values(stacks)) addNagSuppressions(stack);
  addPathSuppressions(app);
  Aspects.of(app).add(new cdkNag.AwsSolutionsChecks({ verbose: true }));
  return { app, parameters, stacks, routing, canaries: { secondary: canary, monitoring: monitoring.canary }, autoFailover, faults };
}
