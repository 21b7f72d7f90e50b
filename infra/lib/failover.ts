import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { WORKFLOWS, type RegionRole, type WorkflowDefinition, type WorkflowName, type WorkflowStep } from '@corebank/workflow';
import type { EnvironmentParameters } from './config.ts';
import type { RecoveryStack } from './recovery-stack.ts';
import { type RegionPlace, type RegionStack, sharedNames } from './region-stack.ts';

/** State names are the step's name, or `<step>.<part>` when a step needs more than one state. */
export const STEP_STATE_SEPARATOR = '.';

export interface GlobalRoutingProps {
  parameters: EnvironmentParameters;
  regions: Record<RegionPlace, RegionStack>;
  recovery: RecoveryStack;
  /** VPCs of other regions that resolve the API names too (the monitoring region's canary). */
  otherVpcs: { vpcId: string; region: string }[];
}

/**
 * Route 53 (private hosted zone, api.<region>.<zone>, api.<zone> failover records governed by
 * the ARC routing controls) and the failover / failback state machines. They live in the
 * secondary region, which is the one left standing when the primary is lost.
 */
export class GlobalRouting extends Construct {
  readonly stateMachines: Record<WorkflowName, sfn.StateMachine>;

  constructor(scope: Construct, id: string, props: GlobalRoutingProps) {
    super(scope, id);
    const { parameters, regions, recovery, otherVpcs } = props;
    const zoneName = parameters.hostedZoneName;

    const zone = new route53.CfnHostedZone(this, 'PrivateHostedZone', {
      name: zoneName,
      hostedZoneConfig: { comment: 'corebank API endpoints (private)' },
      vpcs: [
        ...(['primary', 'secondary'] as const).map((place) => ({ vpcId: regions[place].vpc.vpcId, vpcRegion: parameters[place].region })),
        ...otherVpcs.map(({ vpcId, region }) => ({ vpcId, vpcRegion: region })),
      ],
    });
    for (const place of ['primary', 'secondary'] as const) {
      const alb = regions[place].alb;
      const aliasTarget = { dnsName: alb.loadBalancerDnsName, hostedZoneId: alb.loadBalancerCanonicalHostedZoneId, evaluateTargetHealth: true };
      new route53.CfnRecordSet(this, `RegionalRecord-${place}`, {
        hostedZoneId: zone.attrId, name: `api.${parameters[place].region}.${zoneName}`, type: 'A', aliasTarget,
      });
      const healthCheck = new route53.CfnHealthCheck(this, `RoutingControlHealthCheck-${place}`, {
        healthCheckConfig: { type: 'RECOVERY_CONTROL', routingControlArn: recovery.routingControlArns[place] },
        healthCheckTags: [{ key: 'Name', value: `corebank-${parameters.envName}-${place}` }],
      });
      new route53.CfnRecordSet(this, `GlobalRecord-${place}`, {
        hostedZoneId: zone.attrId, name: `api.${zoneName}`, type: 'A', aliasTarget,
        setIdentifier: place, failover: place === 'primary' ? 'PRIMARY' : 'SECONDARY', healthCheckId: healthCheck.attrHealthCheckId,
      });
    }

    const updateRoutingControls = new RoutingControlFunction(this, 'UpdateRoutingControls', { clusterArn: recovery.clusterArn, controlRegion: parameters.monitoringRegion, routingControlArns: Object.values(recovery.routingControlArns) });
    const releaseLeases = new ReleaseLeasesFunction(this, 'ReleaseLeases', {
      mainTable: sharedNames(parameters).mainTable,
      regions: [parameters.primary.region, parameters.secondary.region],
    });
    this.stateMachines = Object.fromEntries(Object.values(WORKFLOWS).map((definition) => [
      definition.name,
      buildStateMachine(this, definition, { parameters, recovery, updateRoutingControls: updateRoutingControls.function, releaseLeases: releaseLeases.function }),
    ])) as Record<WorkflowName, sfn.StateMachine>;
    for (const [name, machine] of Object.entries(this.stateMachines)) {
      new CfnOutput(this, `${pascal(name)}StateMachineArn`, { value: machine.stateMachineArn, description: `aws stepfunctions start-execution --state-machine-arn <this> (${name})` });
    }
  }
}

interface BuildContext {
  parameters: EnvironmentParameters;
  recovery: RecoveryStack;
  updateRoutingControls: lambda.IFunction;
  releaseLeases: lambda.IFunction;
}

/** One state machine from one workflow definition: each step becomes its states, in order. */
export function buildStateMachine(scope: Construct, definition: WorkflowDefinition, context: BuildContext): sfn.StateMachine {
  const construct = new Construct(scope, `${pascal(definition.name)}Workflow`);
  const placeOf = (role: RegionRole): RegionPlace => (role === 'source' ? definition.source : definition.destination);
  const fragments = definition.steps.map((step) => stepStates(construct, step, placeOf, context));
  let chain = sfn.Chain.start(fragments[0]!);
  for (const fragment of fragments.slice(1)) chain = chain.next(fragment);
  const timeout = Math.max(...definition.steps.map((step) => (step.kind === 'wait-database-available' ? step.timeoutSeconds : 0))) + 15 * 60;
  return new sfn.StateMachine(construct, 'StateMachine', {
    stateMachineName: `${sharedNames(context.parameters).clusterName('primary').replace('-primary', '')}-${definition.name}`,
    comment: definition.description,
    definitionBody: sfn.DefinitionBody.fromChainable(chain),
    timeout: Duration.seconds(timeout),
    tracingEnabled: true,
    logs: {
      destination: new logs.LogGroup(construct, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
      level: sfn.LogLevel.ALL,
    },
  });
}

function stepStates(scope: Construct, step: WorkflowStep, placeOf: (role: RegionRole) => RegionPlace, context: BuildContext): sfn.IChainable {
  const { parameters } = context;
  const names = sharedNames(parameters);
  const stack = Stack.of(scope);
  const regionOf = (role: RegionRole) => parameters[placeOf(role)].region;
  const clusterArn = (role: RegionRole) => stack.formatArn({ service: 'rds', region: regionOf(role), resource: 'cluster', resourceName: names.dbCluster(regionOf(role)), arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  const globalClusterArn = stack.formatArn({ service: 'rds', region: '', resource: 'global-cluster', resourceName: names.globalCluster, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  const comment = step.description;
  switch (step.kind) {
    case 'set-stop-flag': {
      const region = regionOf(step.region);
      const table = names.paramTable(region);
      return tasks.CallAwsServiceCrossRegion.jsonPath(scope, step.name, {
        comment, service: 'dynamodb', action: 'putItem', region,
        parameters: { TableName: table, Item: { PK: { S: 'stopFlag' }, value: { S: step.value } } },
        iamResources: [stack.formatArn({ service: 'dynamodb', region, resource: 'table', resourceName: table })],
        iamAction: 'dynamodb:PutItem',
        resultPath: sfn.JsonPath.DISCARD,
      });
    }
    case 'wait':
      return new sfn.Wait(scope, step.name, { comment, time: sfn.WaitTime.duration(Duration.seconds(step.seconds)) });
    case 'set-routing-controls':
      return new tasks.LambdaInvoke(scope, step.name, {
        comment,
        lambdaFunction: context.updateRoutingControls,
        payload: sfn.TaskInput.fromObject({
          states: [
            { RoutingControlArn: context.recovery.routingControlArns[placeOf(step.off)], RoutingControlState: 'Off' },
            { RoutingControlArn: context.recovery.routingControlArns[placeOf(step.on)], RoutingControlState: 'On' },
          ],
        }),
        resultPath: '$.routingControls',
        payloadResponseOnly: true,
      });
    case 'switch-database': {
      const region = regionOf(step.target);
      return tasks.CallAwsServiceCrossRegion.jsonPath(scope, step.name, {
        comment, service: 'rds', region,
        action: step.allowDataLoss ? 'failoverGlobalCluster' : 'switchoverGlobalCluster',
        iamAction: step.allowDataLoss ? 'rds:FailoverGlobalCluster' : 'rds:SwitchoverGlobalCluster',
        parameters: step.allowDataLoss
          ? { GlobalClusterIdentifier: names.globalCluster, TargetDbClusterIdentifier: clusterArn(step.target), AllowDataLoss: true }
          : { GlobalClusterIdentifier: names.globalCluster, TargetDbClusterIdentifier: clusterArn(step.target) },
        iamResources: [globalClusterArn, clusterArn('source'), clusterArn('destination')],
        resultPath: sfn.JsonPath.DISCARD,
      });
    }
    case 'wait-database-available': {
      const region = regionOf(step.target);
      const wait = new sfn.Wait(scope, step.name, { comment, time: sfn.WaitTime.duration(Duration.seconds(step.pollSeconds)) });
      const describe = tasks.CallAwsServiceCrossRegion.jsonPath(scope, `${step.name}${STEP_STATE_SEPARATOR}Describe`, {
        service: 'rds', action: 'describeGlobalClusters', region,
        iamAction: 'rds:DescribeGlobalClusters',
        parameters: { GlobalClusterIdentifier: names.globalCluster },
        iamResources: [globalClusterArn],
        resultSelector: {
          'status.$': '$.GlobalClusters[0].Status',
          'writers.$': '$.GlobalClusters[0].GlobalClusterMembers[?(@.IsWriter == true)].DBClusterArn',
        },
        resultPath: '$.database',
      });
      const done = new sfn.Pass(scope, `${step.name}${STEP_STATE_SEPARATOR}Available`, { comment: 'the destination is the writer and the global database is available' });
      const check = new sfn.Choice(scope, `${step.name}${STEP_STATE_SEPARATOR}Check`)
        .when(sfn.Condition.and(
          sfn.Condition.stringEquals('$.database.status', 'available'),
          sfn.Condition.stringEquals('$.database.writers[0]', clusterArn(step.target)),
        ), done)
        .otherwise(wait);
      wait.next(describe).next(check);
      return sfn.Chain.custom(wait, [done], wait);
    }
    case 'release-leases':
      return new tasks.LambdaInvoke(scope, step.name, {
        comment,
        lambdaFunction: context.releaseLeases,
        payload: sfn.TaskInput.fromObject({ lostRegion: regionOf(step.of), region: regionOf(step.via) }),
        resultPath: '$.releasedLeases',
        payloadResponseOnly: true,
      });
  }
}

/**
 * Fences a lost region's saga workers: in the main table's replica of the surviving region,
 * releases each pending saga's lease whose owner starts with the lost region (lease owners
 * are `<region>/...`), conditioned on that owner being unchanged. The transaction service's
 * SagaStore.releaseLeasesOfRegion does the same locally. Safe: a step the surviving worker
 * runs again is answered from the services' ledgers (idempotent on the transactionId), and
 * every later write of a lost worker carries its owner in its condition and fails.
 */
class ReleaseLeasesFunction extends Construct {
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: { mainTable: string; regions: string[] }) {
    super(scope, id);
    this.function = new lambda.Function(this, 'Function', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      timeout: Duration.seconds(300),
      environment: { MAIN_TABLE: props.mainTable },
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
      code: lambda.Code.fromInline(RELEASE_LEASES_HANDLER),
    });
    const stack = Stack.of(this);
    const tableArn = (region: string) => stack.formatArn({ service: 'dynamodb', region, resource: 'table', resourceName: props.mainTable });
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: props.regions.map((region) => `${tableArn(region)}/index/GSI1`) }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: props.regions.map(tableArn) }));
  }
}

/** The index, partition and status are the transaction service's (store/tables.ts, saga/machine.ts). */
export const RELEASE_LEASES_HANDLER = `
const { DynamoDBClient, QueryCommand, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');
exports.handler = async (event) => {
  const client = new DynamoDBClient({ region: event.region });
  const TableName = process.env.MAIN_TABLE;
  let held = 0, released = 0, ExclusiveStartKey;
  do {
    const page = await client.send(new QueryCommand({
      TableName, IndexName: 'GSI1', KeyConditionExpression: 'GSI1PK = :pending_pk', FilterExpression: 'begins_with(leaseOwner, :lost)',
      ExpressionAttributeValues: { ':pending_pk': { S: 'pending' }, ':lost': { S: event.lostRegion + '/' } }, ExclusiveStartKey,
    }));
    for (const item of page.Items || []) {
      held++;
      try {
        await client.send(new UpdateItemCommand({
          TableName, Key: { PK: item.PK, SK: item.SK },
          UpdateExpression: 'SET leaseUntil = :zero REMOVE leaseOwner',
          ConditionExpression: '#status = :pending AND leaseOwner = :owner',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':zero': { N: '0' }, ':pending': { S: 'status#pending' }, ':owner': item.leaseOwner },
        }));
        released++;
      } catch (error) {
        if (error.name !== 'ConditionalCheckFailedException') throw error;
      }
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { lostRegion: event.lostRegion, held, released };
};
`;

/**
 * Sets routing control states through the ARC cluster's data plane, trying each regional
 * cluster endpoint in turn (AWS's guidance: any one of them may be unavailable). The
 * endpoints come from the control plane at run time (DescribeCluster), so none is hard-coded.
 */
class RoutingControlFunction extends Construct {
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: { clusterArn: string; controlRegion: string; routingControlArns: string[] }) {
    super(scope, id);
    this.function = new lambda.Function(this, 'Function', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      timeout: Duration.seconds(60),
      environment: { CLUSTER_ARN: props.clusterArn, CONTROL_REGION: props.controlRegion },
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
      code: lambda.Code.fromInline(ROUTING_CONTROL_HANDLER),
    });
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['route53-recovery-control-config:DescribeCluster'], resources: [props.clusterArn] }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['route53-recovery-cluster:UpdateRoutingControlStates'], resources: props.routingControlArns }));
  }
}

export const ROUTING_CONTROL_HANDLER = `
const { Route53RecoveryControlConfigClient, DescribeClusterCommand } = require('@aws-sdk/client-route53-recovery-control-config');
const { Route53RecoveryClusterClient, UpdateRoutingControlStatesCommand } = require('@aws-sdk/client-route53-recovery-cluster');
exports.handler = async (event) => {
  const config = new Route53RecoveryControlConfigClient({ region: process.env.CONTROL_REGION });
  const { Cluster } = await config.send(new DescribeClusterCommand({ ClusterArn: process.env.CLUSTER_ARN }));
  const failures = [];
  for (const { Endpoint, Region } of Cluster.ClusterEndpoints) {
    const client = new Route53RecoveryClusterClient({ region: Region, endpoint: Endpoint, maxAttempts: 1 });
    try {
      await client.send(new UpdateRoutingControlStatesCommand({ UpdateRoutingControlStateEntries: event.states }));
      return { endpoint: Endpoint, region: Region, failures };
    } catch (error) {
      failures.push({ endpoint: Endpoint, error: String(error && error.name || error) });
    }
  }
  throw new Error('every ARC cluster endpoint failed: ' + JSON.stringify(failures));
};
`;

const pascal = (name: string) => name.split('-').map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
