import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { INITIATOR_MAX_RETRIES, INITIATOR_RETRY_INTERVAL_MS, type WorkflowName } from '@corebank/workflow';
import { PROJECT_PREFIX, type EnvironmentParameters } from './config.ts';
import { sharedNames } from './region-stack.ts';

/** CloudWatch Alarm State Change events of these alarms entering ALARM. */
export function alarmStateChangePattern(alarmNames: string[]): events.EventPattern {
  return {
    source: ['aws.cloudwatch'],
    detailType: ['CloudWatch Alarm State Change'],
    detail: { alarmName: alarmNames, state: { value: ['ALARM'] } },
  };
}

export interface AutoFailoverProps {
  parameters: EnvironmentParameters;
  /** The failover, failback and unplanned-failover state machines (GlobalRouting). */
  stateMachines: Record<WorkflowName, sfn.IStateMachine>;
  /** The canary alarms by the region they live in. */
  alarms: { name: string; region: string }[];
}

/**
 * The seed's automatic failover on AWS, in the secondary region (the one left standing): the
 * EventBridge rule (disabled unless context `autoFailover` is true) on either canary alarm
 * entering ALARM (the monitoring region's alarm arrives forwarded to this region's default
 * bus), and the initiator state machine it starts (the seed's FailoverInitiatorStateMachine):
 *
 *   Begin → Observe (parallel SDK calls: both alarms, RUNNING executions of the three
 *   workflows and of the initiator, the rule's state, Aurora's writer) → Decide (a Lambda:
 *   decideInitiation of @corebank/workflow, the local control plane's rules) → start the
 *   failover | wait for the decision's retry time and observe again (10 s, at most 10
 *   retries) | MaxRetriesExceeded | ignored.
 */
export class AutoFailover extends Construct {
  readonly rule: events.Rule;
  readonly initiator: sfn.StateMachine;
  readonly decide: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: AutoFailoverProps) {
    super(scope, id);
    const { parameters, stateMachines, alarms } = props;
    const stack = Stack.of(this);
    const prefix = `${PROJECT_PREFIX}-${parameters.envName}`;
    const ruleName = `${prefix}-auto-failover`;
    const initiatorName = `${prefix}-failover-initiator`;
    const names = sharedNames(parameters);

    this.decide = new nodejs.NodejsFunction(this, 'DecideFunction', {
      entry: fileURLToPath(new URL('./initiator-handler.ts', import.meta.url)),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      timeout: Duration.seconds(10),
      projectRoot: fileURLToPath(new URL('../..', import.meta.url)),
      depsLockFilePath: fileURLToPath(new URL('../../package-lock.json', import.meta.url)),
      // esbuild from the workspace, on this machine: synth needs neither Docker nor the network.
      bundling: { forceDockerBundling: false, target: 'node22', format: nodejs.OutputFormat.CJS },
      logGroup: new logs.LogGroup(this, 'DecideLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
      description: 'The failover initiator\'s decision: decideInitiation (@corebank/workflow) over what the initiator state machine observed',
    });

    const alarmArn = (alarm: { name: string; region: string }) => stack.formatArn({ service: 'cloudwatch', region: alarm.region, resource: 'alarm', resourceName: alarm.name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const observeAlarm = (alarm: { name: string; region: string }) => {
      const common = {
        service: 'cloudwatch', action: 'describeAlarms', iamAction: 'cloudwatch:DescribeAlarms',
        parameters: { AlarmNames: [alarm.name] },
        iamResources: [alarmArn(alarm)],
        resultSelector: { kind: 'alarm', name: alarm.name, 'states.$': '$.MetricAlarms[*].StateValue' },
      };
      return alarm.region === stack.region
        ? tasks.CallAwsService.jsonPath(this, `DescribeAlarm ${alarm.name}`, common)
        : tasks.CallAwsServiceCrossRegion.jsonPath(this, `DescribeAlarm ${alarm.name}`, { ...common, region: alarm.region });
    };
    const listRunning = (id: string, stateMachineArn: string, tag: Record<string, string>) => tasks.CallAwsService.jsonPath(this, id, {
      service: 'sfn', action: 'listExecutions', iamAction: 'states:ListExecutions',
      parameters: { StateMachineArn: stateMachineArn, StatusFilter: 'RUNNING' },
      iamResources: [stateMachineArn],
      resultSelector: { ...tag, 'running.$': '$.Executions' },
    });
    const initiatorArn = stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: initiatorName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const ruleArn = stack.formatArn({ service: 'events', resource: 'rule', resourceName: ruleName });
    const globalClusterArn = stack.formatArn({ service: 'rds', region: '', resource: 'global-cluster', resourceName: names.globalCluster, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    const observe = new sfn.Parallel(this, 'Observe', { comment: 'What decideInitiation needs, read at every attempt', resultPath: '$.observations' });
    for (const alarm of alarms) observe.branch(observeAlarm(alarm));
    for (const [workflow, machine] of Object.entries(stateMachines)) {
      observe.branch(listRunning(`ListRunning ${workflow}`, machine.stateMachineArn, { kind: 'executions', workflow }));
    }
    observe.branch(listRunning('ListRunning initiations', initiatorArn, { kind: 'initiations' }));
    observe.branch(tasks.CallAwsService.jsonPath(this, 'DescribeRule', {
      service: 'eventbridge', action: 'describeRule', iamAction: 'events:DescribeRule',
      parameters: { Name: ruleName }, iamResources: [ruleArn],
      resultSelector: { kind: 'rule', 'state.$': '$.State' },
    }));
    observe.branch(tasks.CallAwsService.jsonPath(this, 'DescribeGlobalCluster', {
      service: 'rds', action: 'describeGlobalClusters', iamAction: 'rds:DescribeGlobalClusters',
      parameters: { GlobalClusterIdentifier: names.globalCluster }, iamResources: [globalClusterArn],
      resultSelector: { kind: 'database', 'writers.$': '$.GlobalClusters[0].GlobalClusterMembers[?(@.IsWriter == true)].DBClusterArn' },
    }));

    const begin = new sfn.Pass(this, 'Begin', { comment: 'One initiation per alarm entering ALARM', parameters: { attempts: 0 }, resultPath: '$.initiation' });
    const decide = new tasks.LambdaInvoke(this, 'Decide', {
      lambdaFunction: this.decide,
      payload: sfn.TaskInput.fromObject({
        observations: sfn.JsonPath.objectAt('$.observations'),
        initiation: sfn.JsonPath.objectAt('$.initiation'),
        watchedRegion: parameters.primary.region,
        self: { executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'), startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime') },
      }),
      resultPath: '$.decision',
      payloadResponseOnly: true,
    });
    const startFailover = new tasks.StepFunctionsStartExecution(this, 'StartFailover', {
      comment: 'Both canary alarms in ALARM and no execution running: the failover workflow',
      stateMachine: stateMachines.failover,
      input: sfn.TaskInput.fromObject({ triggeredBy: 'auto-failover', initiation: sfn.JsonPath.stringAt('$$.Execution.Id'), reason: sfn.JsonPath.stringAt('$.decision.reason') }),
      resultPath: '$.failover',
    });
    const waitToRetry = new sfn.Wait(this, 'WaitToRetry', { comment: `${INITIATOR_RETRY_INTERVAL_MS / 1000} s after the last check`, time: sfn.WaitTime.timestampPath('$.decision.retryAtTimestamp') });
    const nextAttempt = new sfn.Pass(this, 'NextAttempt', {
      parameters: { 'attempts.$': '$.decision.attempts', 'lastAttemptAt.$': '$.decision.lastAttemptAt' },
      resultPath: '$.initiation',
    });
    const giveUp = new sfn.Fail(this, 'MaxRetriesExceeded', { error: 'MaxRetriesExceeded', causePath: '$.decision.reason' });
    const ignored = new sfn.Succeed(this, 'Ignored', { comment: 'The rule is disabled, the failover already happened, or an earlier initiation is open' });
    const choose = new sfn.Choice(this, 'Choose')
      .when(sfn.Condition.stringEquals('$.decision.kind', 'start'), startFailover)
      .when(sfn.Condition.stringEquals('$.decision.kind', 'wait-retry'), waitToRetry)
      .when(sfn.Condition.stringEquals('$.decision.kind', 'give-up'), giveUp)
      .otherwise(ignored);
    waitToRetry.next(nextAttempt).next(observe);
    const definition = begin.next(observe).next(decide).next(choose);

    const construct = new Construct(this, 'Initiator');
    this.initiator = new sfn.StateMachine(construct, 'StateMachine', {
      stateMachineName: initiatorName,
      comment: `The failover initiator: starts the failover when both canary alarms are in ALARM and no workflow runs; checks again every ${INITIATOR_RETRY_INTERVAL_MS / 1000} s, at most ${INITIATOR_MAX_RETRIES} times`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: Duration.minutes(10),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(construct, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
        level: sfn.LogLevel.ALL,
      },
    });

    this.rule = new events.Rule(this, 'Rule', {
      ruleName,
      description: 'Automatic failover: a canary alarm entering ALARM starts the failover initiator (disabled by default, as in the seed)',
      enabled: parameters.autoFailoverEnabled,
      eventPattern: alarmStateChangePattern(alarms.map((alarm) => alarm.name)),
      targets: [new targets.SfnStateMachine(this.initiator)],
    });

    new CfnOutput(this, 'EnableAutoFailoverCommand', { value: `aws events enable-rule --name ${ruleName} --region ${stack.region}`, description: 'Turns automatic failover on (disable-rule turns it off)' });
    new CfnOutput(this, 'InitiatorStateMachineArn', { value: this.initiator.stateMachineArn, description: 'The failover initiator (its executions show each decision)' });
  }
}
