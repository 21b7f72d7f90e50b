import { Stack, type StackProps } from 'aws-cdk-lib';
import * as arc from 'aws-cdk-lib/aws-route53recoverycontrol';
import type { Construct } from 'constructs';
import { PROJECT_PREFIX, type EnvironmentParameters } from './config.ts';

/**
 * Route 53 Application Recovery Controller: its control plane exists only in us-west-2, so the
 * cluster, the control panel and the two routing controls live in a stack of their own there.
 */
export class RecoveryStack extends Stack {
  readonly clusterArn: string;
  readonly routingControlArns: { primary: string; secondary: string };

  constructor(scope: Construct, id: string, props: StackProps & { parameters: EnvironmentParameters }) {
    super(scope, id, props);
    const { parameters } = props;
    const prefix = `${PROJECT_PREFIX}-${parameters.envName}`;
    const cluster = new arc.CfnCluster(this, 'Cluster', { name: `${prefix}-cluster` });
    const panel = new arc.CfnControlPanel(this, 'ControlPanel', { name: `${prefix}-panel`, clusterArn: cluster.attrClusterArn });
    const control = (place: 'primary' | 'secondary') => new arc.CfnRoutingControl(this, `RoutingControl-${place}`, {
      name: `${prefix}-${parameters[place].region}`,
      clusterArn: cluster.attrClusterArn,
      controlPanelArn: panel.attrControlPanelArn,
    });
    const primary = control('primary');
    const secondary = control('secondary');
    // At least one region stays On: a failover sets both controls in one call, so it never trips this.
    new arc.CfnSafetyRule(this, 'AtLeastOneRegionOn', {
      name: `${prefix}-at-least-one-on`,
      controlPanelArn: panel.attrControlPanelArn,
      ruleConfig: { type: 'ATLEAST', threshold: 1, inverted: false },
      assertionRule: { assertedControls: [primary.attrRoutingControlArn, secondary.attrRoutingControlArn], waitPeriodMs: 5000 },
    });
    this.clusterArn = cluster.attrClusterArn;
    this.routingControlArns = { primary: primary.attrRoutingControlArn, secondary: secondary.attrRoutingControlArn };
  }
}
