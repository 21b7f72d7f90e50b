import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { RoundTripCanary, canaryName } from './canary.ts';
import type { EnvironmentParameters } from './config.ts';
import { alarmStateChangePattern } from './auto-failover.ts';
import { InterRegionPeering, appRouteTableIds } from './peering.ts';
import type { RegionStack } from './region-stack.ts';

/**
 * The third region's canary (us-west-2, the seed's monitoring region): a small VPC with no
 * internet path (S3 and CloudWatch reached through VPC endpoints), peered with the primary's
 * VPC so the canary reaches Tokyo's internal ALB, the canary and its alarm, and a rule that
 * forwards the alarm's state changes to the secondary region's default event bus, where
 * the auto-failover rule and the initiator are.
 *
 * A stack of its own rather than part of the recovery stack: that one deploys first (the
 * secondary stack needs its routing controls), while the peering needs the primary's VPC
 * and the private hosted zone (secondary stack) needs this VPC. Order: recovery → primary →
 * monitoring → secondary.
 */
export class MonitoringStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly canary: RoundTripCanary;

  constructor(scope: Construct, id: string, props: StackProps & { parameters: EnvironmentParameters; primary: RegionStack }) {
    super(scope, id, props);
    const { parameters, primary } = props;
    const region = parameters.monitoringRegion;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(parameters.monitoringVpcCidr),
      availabilityZones: [`${region}a`, `${region}b`],
      natGateways: 0,
      subnetConfiguration: [{ name: 'Canary', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: { All: { destination: ec2.FlowLogDestination.toCloudWatchLogs(), trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    // The canary's artifacts go to S3 (gateway endpoint), its SuccessPercent to CloudWatch.
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', { vpc: this.vpc, description: 'CloudWatch endpoint: HTTPS from this VPC', allowAllOutbound: false });
    endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(parameters.monitoringVpcCidr), ec2.Port.tcp(443), 'this VPC (the canary)');
    this.vpc.addInterfaceEndpoint('CloudWatch', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING, open: false, securityGroups: [endpointSecurityGroup] });
    const canarySubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

    const peering = new InterRegionPeering(this, 'PeeringToPrimary', {
      description: `corebank ${parameters.envName}: ${region} canary to ${parameters.primary.region}`,
      local: { vpcId: this.vpc.vpcId, region, cidr: parameters.monitoringVpcCidr, routeTableIds: this.vpc.isolatedSubnets.map((subnet) => subnet.routeTable.routeTableId) },
      peer: { vpcId: primary.vpc.vpcId, region: parameters.primary.region, cidr: parameters.primary.vpcCidr, routeTableIds: appRouteTableIds(primary.vpc) },
    });

    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: `CoreBanking alarms ${parameters.envName} ${region}`, enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(parameters.notifyEmail));
    this.canary = new RoundTripCanary(this, 'Canary', {
      origin: region,
      baseUrl: `http://api.${parameters.primary.region}.${parameters.hostedZoneName}`,
      vpc: this.vpc,
      vpcSubnets: canarySubnets,
      topic,
    });
    this.canary.node.addDependency(peering);

    // Alarm state changes are events of the alarm's own region: this one goes on to the secondary region.
    const secondaryBus = events.EventBus.fromEventBusArn(this, 'SecondaryDefaultBus', this.formatArn({ service: 'events', region: parameters.secondary.region, resource: 'event-bus', resourceName: 'default' }));
    new events.Rule(this, 'ForwardCanaryAlarm', {
      description: `Forwards ${canaryName(region)} entering ALARM to ${parameters.secondary.region}, where the auto-failover rule decides`,
      eventPattern: alarmStateChangePattern([canaryName(region)]),
      targets: [new targets.EventBus(secondaryBus)],
    });
  }
}
