import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/** One side of a peering: its VPC, its CIDR, and the route tables whose subnets talk across. */
export interface PeeringSide {
  vpcId: string;
  region: string;
  cidr: string;
  routeTableIds: string[];
}

/** The route tables of a VPC's App subnets (the ALB, the services, the bastion, a canary). */
export const appRouteTableIds = (vpc: ec2.IVpc) => vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets.map((subnet) => subnet.routeTable.routeTableId);

/**
 * An inter-region VPC peering requested from this stack's VPC (`local`) to a VPC of an
 * earlier-deployed stack in another region (`peer`), with routes both ways. The peer's routes
 * must be created in the peer's region after the connection exists, which no stack there
 * can do without a cycle (the peer's stack deploys first): a custom resource of this stack
 * creates them there (EC2 CreateRoute in the peer's region) and deletes them with the stack.
 * Same account: CloudFormation accepts the connection itself.
 */
export class InterRegionPeering extends Construct {
  readonly connection: ec2.CfnVPCPeeringConnection;

  constructor(scope: Construct, id: string, props: { local: PeeringSide; peer: PeeringSide; description: string }) {
    super(scope, id);
    const { local, peer } = props;
    const stack = Stack.of(this);
    this.connection = new ec2.CfnVPCPeeringConnection(this, 'Connection', {
      vpcId: local.vpcId, peerVpcId: peer.vpcId, peerRegion: peer.region, peerOwnerId: stack.account,
      tags: [{ key: 'Name', value: props.description }],
    });
    local.routeTableIds.forEach((routeTableId, i) => new ec2.CfnRoute(this, `Route${i}`, {
      routeTableId, destinationCidrBlock: peer.cidr, vpcPeeringConnectionId: this.connection.ref,
    }));
    const peerRouteTableArns = peer.routeTableIds.map((routeTableId) => stack.formatArn({ service: 'ec2', region: peer.region, resource: 'route-table', resourceName: routeTableId }));
    peer.routeTableIds.forEach((routeTableId, i) => {
      const route = { RouteTableId: routeTableId, DestinationCidrBlock: local.cidr, VpcPeeringConnectionId: this.connection.ref };
      new cr.AwsCustomResource(this, `PeerRoute${i}`, {
        onCreate: { service: 'EC2', action: 'createRoute', region: peer.region, parameters: route, physicalResourceId: cr.PhysicalResourceId.of(`${local.cidr} via peering ${i}`) },
        onUpdate: { service: 'EC2', action: 'replaceRoute', region: peer.region, parameters: route, physicalResourceId: cr.PhysicalResourceId.of(`${local.cidr} via peering ${i}`) },
        onDelete: { service: 'EC2', action: 'deleteRoute', region: peer.region, parameters: { RouteTableId: routeTableId, DestinationCidrBlock: local.cidr } },
        policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['ec2:CreateRoute', 'ec2:ReplaceRoute', 'ec2:DeleteRoute'], resources: peerRouteTableArns })]),
        installLatestAwsSdk: false,
      });
    });
  }
}
