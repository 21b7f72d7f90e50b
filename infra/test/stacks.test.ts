import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CfnRule } from 'aws-cdk-lib/aws-events';
import { WORKFLOWS, STOP_FLAG_CACHE_TTL_SECONDS, INITIATOR_MAX_RETRIES, type WorkflowName } from '@corebank/workflow';
import { ACCOUNT_HEADER as KIT_ACCOUNT_HEADER, canaryAccountId } from '@corebank/kit';
import { canaryAlarms, canaryName as monitorCanaryName } from '@corebank/monitor/canaries';
import { buildApp } from '../lib/app.ts';
import { ACCOUNT_HEADER, CANARY_ALARM, CANARY_SCRIPT, canaryName } from '../lib/canary.ts';
import { SERVICES } from '../lib/config.ts';
import { STEP_STATE_SEPARATOR } from '../lib/failover.ts';
import { executionOrder, parseDefinition, synthesizeForTest } from './synth.ts';
import cdkJson from '../cdk.json' with { type: 'json' };

let synth: ReturnType<typeof synthesizeForTest>;
let primary: Template;
let secondary: Template;
let recovery: Template;
let monitoring: Template;

beforeAll(() => {
  synth = synthesizeForTest();
  primary = Template.fromStack(synth.stacks.primary);
  secondary = Template.fromStack(synth.stacks.secondary);
  recovery = Template.fromStack(synth.stacks.recovery);
  monitoring = Template.fromStack(synth.stacks.monitoring);
});
afterAll(() => synth?.cleanup());

/** Template lookups happen inside the tests: it.each lists are built before beforeAll runs. */
const PLACES = ['primary', 'secondary'] as const;
const templateOf = (place: (typeof PLACES)[number]) => (place === 'primary' ? primary : secondary);

describe('stacks', () => {
  it('are named as in the seed, in the configured regions, with a fixed account', () => {
    const { primary: p, secondary: s, recovery: r, monitoring: m } = synth.stacks;
    expect([p.stackName, p.region, p.account]).toEqual(['BLEAFSI-CoreBanking-primary-Dev', 'ap-northeast-1', '111111111111']);
    expect([s.stackName, s.region]).toEqual(['BLEAFSI-CoreBanking-secondary-Dev', 'ap-northeast-3']);
    expect([r.stackName, r.region]).toEqual(['BLEAFSI-CoreBanking-recovery-Dev', 'us-west-2']);
    expect([m.stackName, m.region]).toEqual(['BLEAFSI-CoreBanking-monitoring-Dev', 'us-west-2']);
    // recovery → primary → monitoring → secondary: each needs something of the one before.
    expect(m.dependencies.map((d) => d.stackName)).toContain(p.stackName);
    expect(s.dependencies.map((d) => d.stackName)).toEqual(expect.arrayContaining([p.stackName, m.stackName, r.stackName]));
  });

  it('need no lookup: every context value is committed', () => {
    expect(synth.app.synth().manifest.missing ?? []).toEqual([]);
  });

  it('pass the cdk-nag AwsSolutions checks: no unsuppressed error or warning', () => {
    // The messages of the assembly synthesized once (Annotations.fromStack would synthesize the whole app again per call).
    const assembly = synth.app.synth();
    for (const stack of Object.values(synth.stacks)) {
      const messages = assembly.getStackArtifact(stack.artifactId).messages;
      const findings = messages.filter((m) => (m.level === 'error' || m.level === 'warning') && /AwsSolutions-|CdkNagValidationFailure/.test(String(m.entry.data)));
      expect(findings.map((f) => `${f.id}: ${String(f.entry.data).split(':')[0]}`)).toEqual([]);
    }
  });

  it('give every cdk-nag suppression a reason', () => {
    let count = 0;
    for (const template of [primary, secondary, recovery, monitoring]) {
      const json = template.toJSON();
      const metadata = [json.Metadata, ...Object.values<any>(json.Resources).map((r) => r.Metadata)];
      for (const entry of metadata) {
        for (const rule of entry?.cdk_nag?.rules_to_suppress ?? []) {
          count++;
          expect(rule.reason, rule.id).toMatch(/\w+ \w+ \w+/);
        }
      }
    }
    expect(count).toBeGreaterThan(10);
  });
});

describe('each region', () => {
  it.each(PLACES)('%s: ALB routes /balance*, /count*, /transaction* to target groups checked on /health, anything else 400', (place) => {
    const template = templateOf(place);
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '400' }) })],
    });
    const rules = template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule');
    const patterns = Object.values<any>(rules).map((r) => [r.Properties.Priority, r.Properties.Conditions[0].PathPatternConfig.Values[0]]).sort((a, b) => a[0] - b[0]);
    expect(patterns).toEqual([[10, '/balance*'], [20, '/count*'], [30, '/transaction*']]);
    const groups = Object.values<any>(template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup'));
    expect(groups).toHaveLength(3);
    for (const group of groups) expect(group.Properties).toMatchObject({ HealthCheckPath: '/health', Port: 8080, TargetType: 'ip' });
  });

  it.each(PLACES)('%s: runs the four services on Fargate, the worker with desired count 1, each with the Application Signals sidecar', (place) => {
    const template = templateOf(place);
    const services = Object.values<any>(template.findResources('AWS::ECS::Service')).map((s) => s.Properties);
    expect(services.map((s) => s.ServiceName).sort()).toEqual([...SERVICES].sort());
    expect(services.find((s) => s.ServiceName === 'transaction-worker').DesiredCount).toBe(1);
    for (const s of services) expect(s.LaunchType).toBe('FARGATE');
    const taskDefinitions = Object.values<any>(template.findResources('AWS::ECS::TaskDefinition')).map((t) => t.Properties.ContainerDefinitions);
    for (const service of SERVICES) {
      const containers = taskDefinitions.find((cs) => cs.some((c: any) => c.Environment?.some((e: any) => e.Name === 'OTEL_RESOURCE_ATTRIBUTES' && e.Value === `service.name=${service}`)));
      expect(containers, service).toBeDefined();
      const agent = containers.find((c: any) => c.Name === 'ecs-cwagent');
      expect(JSON.parse(agent.Environment.find((e: any) => e.Name === 'CW_CONFIG_CONTENT').Value)).toEqual({
        traces: { traces_collected: { application_signals: {} } },
        logs: { metrics_collected: { application_signals: {} } },
      });
      const app = containers.find((c: any) => c.Name === 'app');
      const env = Object.fromEntries(app.Environment.map((e: any) => [e.Name, e.Value]));
      expect(env).toMatchObject({ PORT: '8080', HOST: '0.0.0.0', OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'true' });
      expect(app.Secrets.map((s: any) => s.Name)).toContain('SERVICE_TOKEN');
    }
  });

  it.each(PLACES)('%s: has its own param table and the eight alarms (ALARM and OK to the e-mail topic)', (place) => {
    const template = templateOf(place);
    template.hasResourceProperties('AWS::DynamoDB::Table', { KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }] });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'corebank-alerts@example.com' });
    // The canary alarm of the secondary region is checked with the automatic failover (below).
    const alarms = Object.values<any>(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties).filter((a) => !a.AlarmName.startsWith('canary-'));
    expect(alarms.map((a) => a.AlarmName).sort()).toEqual(SERVICES.flatMap((s) => [`${s}-HighErrorRate`, `${s}-HighLatency`]).sort());
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2, DatapointsToAlarm: 2 });
      expect(alarm.AlarmActions).toHaveLength(1);
      expect(alarm.OKActions).toEqual(alarm.AlarmActions);
      if (alarm.AlarmName.endsWith('HighLatency')) {
        expect(alarm.Threshold).toBe(1000);
        expect(alarm.Metrics[0].MetricStat).toMatchObject({ Metric: { MetricName: 'Latency', Namespace: 'ApplicationSignals' }, Period: 300, Stat: 'Average' });
      } else {
        expect(alarm.Threshold).toBe(5);
        const [expression, fault] = alarm.Metrics;
        expect(expression.Expression).toMatch(/^fault_\w+ \* 100$/);
        expect(fault.MetricStat).toMatchObject({ Metric: { MetricName: 'Fault', Namespace: 'ApplicationSignals' }, Period: 300, Stat: 'Average' });
      }
    }
  });
});

describe('data', () => {
  it('is one DynamoDB global table (PK/SK, GSI1) replicated to both regions', () => {
    primary.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'BLEAFSI-CoreBanking-Dev-main',
      KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'GSI1', KeySchema: [{ AttributeName: 'GSI1PK', KeyType: 'HASH' }, { AttributeName: 'GSI1SK', KeyType: 'RANGE' }] })],
    });
    const table = Object.values<any>(primary.findResources('AWS::DynamoDB::GlobalTable'))[0];
    expect(table.Properties.Replicas.map((r: any) => r.Region).sort()).toEqual(['ap-northeast-1', 'ap-northeast-3']);
    secondary.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
  });

  it('is an Aurora PostgreSQL global database: writer cluster in the primary, secondary cluster joining it', () => {
    primary.hasResourceProperties('AWS::RDS::DBCluster', { Engine: 'aurora-postgresql', DBClusterIdentifier: 'bleafsi-corebanking-dev-db-ap-northeast-1', StorageEncrypted: true });
    primary.hasResourceProperties('AWS::RDS::GlobalCluster', { GlobalClusterIdentifier: 'bleafsi-corebanking-dev-global' });
    secondary.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql', GlobalClusterIdentifier: 'bleafsi-corebanking-dev-global', DBClusterIdentifier: 'bleafsi-corebanking-dev-db-ap-northeast-3',
      MasterUsername: Match.absent(),
    });
    primary.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'BLEAFSI-CoreBanking-Dev-service-token', ReplicaRegions: [{ Region: 'ap-northeast-3' }] });
    primary.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'BLEAFSI-CoreBanking-Dev-db-credentials', ReplicaRegions: [{ Region: 'ap-northeast-3' }] });
  });
});

describe('outputs of the primary stack', () => {
  const outputs = () => primary.toJSON().Outputs as Record<string, { Value: unknown }>;
  const text = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const join = (value as any)['Fn::Join'];
    return join ? join[1].map((part: unknown) => (typeof part === 'string' ? part : '<ref>')).join(join[0]) : '<ref>';
  };

  it('read as in the seed', () => {
    const names = Object.keys(outputs());
    for (const name of ['SampleAppClientInstanceBastionHostId', 'SampleMultiRegionAppBalanceMigrationCommand', 'SampleMultiRegionAppCountMigrationCommand', 'SampleMultiRegionAppParamTableName']) {
      expect(names.some((n) => new RegExp(`^${name}[0-9A-F]{8}$`).test(n)), name).toBe(true);
    }
  });

  it.each(['Balance', 'Count'])('%s migration command is the full aws ecs run-task of the migration task', (service) => {
    const [, output] = Object.entries(outputs()).find(([name]) => name.startsWith(`SampleMultiRegionApp${service}MigrationCommand`))!;
    expect(text(output.Value)).toBe(
      'aws ecs run-task --cluster <ref> --task-definition <ref> --launch-type FARGATE '
      + '--network-configuration "awsvpcConfiguration={subnets=[<ref>,<ref>],securityGroups=[<ref>],assignPublicIp=DISABLED}" '
      + `--region ap-northeast-1 # runs: node services/${service.toLowerCase()}/dist/main.js migrate`,
    );
    const taskDefinitionId = (output.Value as any)['Fn::Join'][1][3].Ref;
    const taskDefinition = primary.toJSON().Resources[taskDefinitionId];
    expect(taskDefinitionId).toMatch(new RegExp(`^SampleMultiRegionApp${service}Task`));
    const app = taskDefinition.Properties.ContainerDefinitions.find((c: any) => c.Name === 'app');
    expect(app.Command.join(' ')).toMatch(/DATABASE_URL=.* exec node "\$ENTRY" migrate$/);
  });

  it('bastion host is reached through SSM only: no SSH key, no inbound rule', () => {
    primary.hasResourceProperties('AWS::EC2::Instance', { KeyName: Match.absent() });
    const instance = Object.values<any>(primary.findResources('AWS::EC2::Instance'))[0];
    const groupId = instance.Properties.SecurityGroupIds[0]['Fn::GetAtt'][0];
    expect(primary.toJSON().Resources[groupId].Properties.SecurityGroupIngress).toBeUndefined();
    primary.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.arrayWith([Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([':iam::aws:policy/AmazonSSMManagedInstanceCore']) ]) })]) });
  });

  it('dashboard CoreBanking-ApplicationSignals-Dev shows both regions', () => {
    primary.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'CoreBanking-ApplicationSignals-Dev' });
    const body = JSON.stringify(Object.values<any>(primary.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    expect(body).toContain('ap-northeast-3');
    expect(body).toContain('ApplicationSignals');
  });
});

describe('Route 53 and ARC', () => {
  it('ARC cluster, control panel, two routing controls and a safety rule live in us-west-2', () => {
    recovery.resourceCountIs('AWS::Route53RecoveryControl::Cluster', 1);
    recovery.resourceCountIs('AWS::Route53RecoveryControl::ControlPanel', 1);
    recovery.resourceCountIs('AWS::Route53RecoveryControl::RoutingControl', 2);
    recovery.hasResourceProperties('AWS::Route53RecoveryControl::SafetyRule', { RuleConfig: { Type: 'ATLEAST', Threshold: 1, Inverted: false } });
  });

  it('private hosted zone with api.<region>.<zone> per ALB and api.<zone> failover records governed by routing controls', () => {
    secondary.hasResourceProperties('AWS::Route53::HostedZone', {
      Name: 'example.com',
      VPCs: [Match.objectLike({ VPCRegion: 'ap-northeast-1' }), Match.objectLike({ VPCRegion: 'ap-northeast-3' }), Match.objectLike({ VPCRegion: 'us-west-2' })],
    });
    const records = Object.values<any>(secondary.findResources('AWS::Route53::RecordSet')).map((r) => r.Properties);
    expect(records.map((r) => [r.Name, r.Failover ?? null]).sort()).toEqual([
      ['api.ap-northeast-1.example.com', null], ['api.ap-northeast-3.example.com', null],
      ['api.example.com', 'PRIMARY'], ['api.example.com', 'SECONDARY'],
    ]);
    for (const record of records.filter((r) => r.Failover)) expect(record.HealthCheckId).toBeDefined();
    secondary.resourceCountIs('AWS::Route53::HealthCheck', 2);
    secondary.hasResourceProperties('AWS::Route53::HealthCheck', { HealthCheckConfig: { Type: 'RECOVERY_CONTROL', RoutingControlArn: Match.anyValue() } });
  });
});

describe('failover workflows', () => {
  const definitionOf = (name: WorkflowName) => {
    const machines = Object.values<any>(secondary.findResources('AWS::StepFunctions::StateMachine'));
    const machine = machines.find((m) => JSON.stringify(m.Properties.StateMachineName).endsWith(`-${name}"`));
    expect(machine, name).toBeDefined();
    return parseDefinition(machine.Properties.DefinitionString);
  };

  it.each(Object.keys(WORKFLOWS) as WorkflowName[])('%s: the state machine runs the steps of @corebank/workflow in order', (name) => {
    const definition = definitionOf(name);
    const steps = executionOrder(definition).map((state) => state.split(STEP_STATE_SEPARATOR)[0]);
    const distinct = steps.filter((step, i) => step !== steps[i - 1]);
    expect(distinct).toEqual(WORKFLOWS[name].steps.map((step) => step.name));
    // every state belongs to a step of the definition
    for (const state of Object.keys(definition.States)) expect(WORKFLOWS[name].steps.map((s) => s.name)).toContain(state.split(STEP_STATE_SEPARATOR)[0]);
  });

  it('failover closes Tokyo, waits the stopFlag TTL, switches over to Osaka without data loss, opens Osaka', () => {
    const { States } = definitionOf('failover');
    expect(States.CloseSourceRegion.Parameters).toMatchObject({ region: 'ap-northeast-1', service: 'dynamodb', action: 'putItem', parameters: { TableName: 'BLEAFSI-CoreBanking-Dev-param-ap-northeast-1', Item: { PK: { S: 'stopFlag' }, value: { S: 'true' } } } });
    expect(States.WaitForStopFlagToPropagate).toMatchObject({ Type: 'Wait', Seconds: STOP_FLAG_CACHE_TTL_SECONDS });
    expect(States.SwitchRoutingControls.Parameters.states.map((s: any) => s.RoutingControlState)).toEqual(['Off', 'On']);
    expect(States.SwitchOverDatabase.Parameters).toMatchObject({ region: 'ap-northeast-3', service: 'rds', action: 'switchoverGlobalCluster' });
    expect(States.SwitchOverDatabase.Parameters.parameters.AllowDataLoss).toBeUndefined();
    expect(States['WaitForDatabaseAvailable.Check'].Choices[0].And[0]).toEqual({ Variable: '$.database.status', StringEquals: 'available' });
    expect(States['WaitForDatabaseAvailable.Check'].Default).toBe('WaitForDatabaseAvailable');
    expect(States.OpenDestinationRegion.Parameters).toMatchObject({ region: 'ap-northeast-3', parameters: { TableName: 'BLEAFSI-CoreBanking-Dev-param-ap-northeast-3', Item: { value: { S: 'false' } } } });
  });

  it('failback runs the other way; the unplanned failover promotes Osaka with AllowDataLoss and touches nothing in Tokyo', () => {
    const failback = definitionOf('failback').States;
    expect(failback.CloseSourceRegion.Parameters.region).toBe('ap-northeast-3');
    expect(failback.OpenDestinationRegion.Parameters.region).toBe('ap-northeast-1');
    const unplanned = definitionOf('failover-allow-data-loss').States;
    expect(unplanned.FailOverDatabaseAllowingDataLoss.Parameters).toMatchObject({ action: 'failoverGlobalCluster', parameters: { AllowDataLoss: true } });
    expect(JSON.stringify(unplanned)).not.toContain('param-ap-northeast-1');
    // The lost region's saga leases are released (through Osaka's replica) before Osaka opens.
    expect(unplanned.ReleaseLeasesOfLostRegion).toMatchObject({ Type: 'Task', Next: 'OpenDestinationRegion' });
    expect(JSON.stringify(unplanned.ReleaseLeasesOfLostRegion.Parameters)).toMatch(/"lostRegion":"ap-northeast-1","region":"ap-northeast-3"/);
  });
});

describe('least privilege', () => {
  const policies = (template: Template) => Object.entries<any>(template.findResources('AWS::IAM::Policy'));
  const statements = (policy: any) => policy.Properties.PolicyDocument.Statement as any[];
  const actionsOf = (statement: any) => [statement.Action].flat();

  it('no policy of ours allows every action', () => {
    for (const template of [primary, secondary, recovery, monitoring]) {
      for (const [id, policy] of policies(template)) for (const s of statements(policy)) expect(actionsOf(s), id).not.toContain('*');
    }
  });

  it('the workflows\' state machines may only invoke their functions (routing controls, lease release) and write logs and traces', () => {
    const workflows = policies(secondary).filter(([id]) => id.includes('WorkflowStateMachineRole'));
    expect(workflows).toHaveLength(3);
    for (const [id, policy] of workflows) {
      const actions = new Set(statements(policy).flatMap(actionsOf));
      for (const action of actions) expect(action, id).toMatch(/^(lambda:InvokeFunction|xray:|logs:)/);
    }
  });

  it('the cross-region function may write only the param tables, switch only this global database and read only the monitoring region\'s canary alarm', () => {
    const [, policy] = policies(secondary).find(([id]) => id.startsWith('CrossRegionAwsSdk'))!;
    const byAction = Object.fromEntries(statements(policy).map((s) => [actionsOf(s).join(','), JSON.stringify(s.Resource)]));
    expect(Object.keys(byAction).sort()).toEqual(['cloudwatch:DescribeAlarms', 'dynamodb:PutItem', 'rds:DescribeGlobalClusters', 'rds:FailoverGlobalCluster', 'rds:SwitchoverGlobalCluster']);
    expect(byAction['cloudwatch:DescribeAlarms']).toMatch(/^[^*]*":cloudwatch:us-west-2:111111111111:alarm:canary-us-west-2"[^*]*$/);
    expect(byAction['dynamodb:PutItem']).toMatch(/table\/BLEAFSI-CoreBanking-Dev-param-ap-northeast-[13]/);
    expect(byAction['dynamodb:PutItem']).not.toContain('*');
    expect(byAction['rds:SwitchoverGlobalCluster']).toContain('global-cluster:bleafsi-corebanking-dev-global');
    expect(byAction['rds:SwitchoverGlobalCluster']).not.toContain('*');
  });

  it('the lease-release function may only query GSI1 and update items of the main table', () => {
    const [, policy] = policies(secondary).find(([id]) => id.startsWith('GlobalRoutingReleaseLeasesFunction'))!;
    const byAction = Object.fromEntries(statements(policy).map((s) => [actionsOf(s).join(','), JSON.stringify(s.Resource)]));
    expect(Object.keys(byAction).sort()).toEqual(['dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(byAction['dynamodb:Query']).toMatch(/table\/BLEAFSI-CoreBanking-Dev-main\/index\/GSI1/);
    expect(byAction['dynamodb:UpdateItem']).toMatch(/table\/BLEAFSI-CoreBanking-Dev-main"/);
    expect(JSON.stringify(policy)).not.toContain('*');
  });

  it.each(PLACES)('%s: service task roles reach only their own tables', (place) => {
    const template = templateOf(place);
    for (const [id, policy] of policies(template).filter(([id]) => /TaskDefinitionTaskRole/.test(id))) {
      for (const s of statements(policy)) {
        for (const action of actionsOf(s)) expect(action, id).toMatch(/^dynamodb:/);
        expect(JSON.stringify(s.Resource), id).toMatch(/MainTable|BLEAFSI-CoreBanking-Dev-main|ParamTable/);
      }
    }
  });
});

describe('automatic failover', () => {
  const ORIGINS = [['secondary', 'ap-northeast-3'], ['monitoring', 'us-west-2']] as const;
  const templateFor = (stack: 'secondary' | 'monitoring') => (stack === 'secondary' ? secondary : monitoring);
  const single = (template: Template, type: string) => {
    const found = Object.entries<any>(template.findResources(type));
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  const resourceId = (value: any) => value?.Ref ?? value?.['Fn::GetAtt']?.[0];

  it('restates the local canary alarm, names and account header exactly (monitor, kit)', () => {
    const [local] = canaryAlarms({ origins: ['us-west-2'] });
    const { name, service, origin, ...definition } = local!;
    expect(CANARY_ALARM).toEqual(definition);
    expect([name, canaryName('us-west-2'), canaryAccountId('us-west-2')]).toEqual([monitorCanaryName('us-west-2'), monitorCanaryName('us-west-2'), monitorCanaryName('us-west-2')]);
    expect(ACCOUNT_HEADER).toBe(KIT_ACCOUNT_HEADER);
  });

  it.each(ORIGINS)('%s stack: a Synthetics canary in its VPC makes the round trip to Tokyo\'s regional API once a minute', (stack, origin) => {
    const [, canary] = single(templateFor(stack), 'AWS::Synthetics::Canary');
    expect(canary.Properties).toMatchObject({
      Name: `canary-${origin}`,
      RuntimeVersion: 'syn-nodejs-puppeteer-9.1',
      Schedule: { Expression: 'rate(1 minute)' },
      Code: { Handler: 'index.handler', Script: fs.readFileSync(CANARY_SCRIPT, 'utf8') },
      RunConfig: { EnvironmentVariables: { BASE_URL: 'http://api.ap-northeast-1.example.com', ACCOUNT_HEADER: 'X_ACCOUNT_ID', ACCOUNT_ID: `canary-${origin}`, RUN_TIMEOUT_MS: '30000' } },
      StartCanaryAfterCreation: true,
    });
    // The run's budget is below the canary's timeout, which is below the period.
    expect(canary.Properties.RunConfig.TimeoutInSeconds).toBeGreaterThan(30);
    expect(canary.Properties.RunConfig.TimeoutInSeconds).toBeLessThan(60);
    expect(canary.Properties.VPCConfig.SubnetIds).toHaveLength(2);
  });

  it.each(ORIGINS)('%s stack: alarm canary-<origin> on SuccessPercent < 100 for 2 of 2 periods of 60 s, missing data missing, ALARM and OK to the topic', (stack, origin) => {
    const template = templateFor(stack);
    const alarms = Object.values<any>(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties).filter((a) => a.AlarmName.startsWith('canary-'));
    expect(alarms).toHaveLength(1);
    const [canaryId] = single(template, 'AWS::Synthetics::Canary');
    expect(alarms[0]).toMatchObject({
      AlarmName: `canary-${origin}`,
      Namespace: 'CloudWatchSynthetics', MetricName: 'SuccessPercent', Statistic: 'Average', Period: 60,
      Dimensions: [{ Name: 'CanaryName', Value: { Ref: canaryId } }],
      Threshold: 100, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'missing',
    });
    expect(alarms[0].AlarmActions).toHaveLength(1);
    expect(alarms[0].OKActions).toEqual(alarms[0].AlarmActions);
    expect(template.toJSON().Resources[resourceId(alarms[0].AlarmActions[0])].Type).toBe('AWS::SNS::Topic');
  });

  it.each(ORIGINS)('%s stack: the canary\'s VPC is peered with Tokyo\'s, with routes both ways, and Tokyo\'s ALB admits it', (stack, origin) => {
    const template = templateFor(stack);
    const cidr = origin === 'us-west-2' ? '10.102.0.0/16' : '10.101.0.0/16';
    const [peeringId, peering] = single(template, 'AWS::EC2::VPCPeeringConnection');
    expect(peering.Properties).toMatchObject({ PeerRegion: 'ap-northeast-1', PeerOwnerId: '111111111111' });
    const localRoutes = Object.values<any>(template.findResources('AWS::EC2::Route')).map((r) => r.Properties).filter((r) => r.VpcPeeringConnectionId);
    expect(localRoutes).toHaveLength(2);
    for (const route of localRoutes) expect(route).toMatchObject({ DestinationCidrBlock: '10.100.0.0/16', VpcPeeringConnectionId: { Ref: peeringId } });
    // Tokyo's side: one route per App route table, made in ap-northeast-1 by the custom resource.
    const peerRoutes = Object.values<any>(template.findResources('Custom::AWS')).map((r) => JSON.stringify(r.Properties.Create));
    expect(peerRoutes).toHaveLength(2);
    for (const create of peerRoutes) {
      expect(create).toContain('\\"action\\":\\"createRoute\\",\\"region\\":\\"ap-northeast-1\\"');
      expect(create).toContain(`\\"DestinationCidrBlock\\":\\"${cidr}\\"`);
      expect(create).toContain(peeringId);
    }
    const albGroup = Object.values<any>(primary.findResources('AWS::EC2::SecurityGroup')).find((g) => g.Properties.GroupDescription === 'internal ALB');
    expect(albGroup.Properties.SecurityGroupIngress).toEqual(expect.arrayContaining([expect.objectContaining({ CidrIp: cidr, FromPort: 80, ToPort: 80 })]));
  });

  it('the monitoring VPC has no internet path: S3 and CloudWatch through endpoints', () => {
    monitoring.resourceCountIs('AWS::EC2::NatGateway', 0);
    monitoring.resourceCountIs('AWS::EC2::InternetGateway', 0);
    const endpoints = Object.values<any>(monitoring.findResources('AWS::EC2::VPCEndpoint')).map((e) => JSON.stringify(e.Properties.ServiceName));
    expect(endpoints.some((name) => name.includes('.s3'))).toBe(true);
    expect(endpoints.some((name) => name.includes('.monitoring'))).toBe(true);
  });

  it('the rule in Osaka ships DISABLED, fires on either canary alarm entering ALARM, and starts the initiator', () => {
    const rules = Object.values<any>(secondary.findResources('AWS::Events::Rule')).map((r) => r.Properties).filter((r) => r.Name === 'BLEAFSI-CoreBanking-Dev-auto-failover');
    expect(rules).toHaveLength(1);
    const [rule] = rules;
    expect(rule.State).toBe('DISABLED');
    expect(rule.EventPattern).toEqual({
      source: ['aws.cloudwatch'], 'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: ['canary-ap-northeast-3', 'canary-us-west-2'], state: { value: ['ALARM'] } },
    });
    const initiator = secondary.toJSON().Resources[resourceId(rule.Targets[0].Arn)];
    expect(initiator.Properties.StateMachineName).toBe('BLEAFSI-CoreBanking-Dev-failover-initiator');
  });

  it('context autoFailover=true deploys the rule enabled', () => {
    // Construction only: no synth, no bundling, no staging, so this costs a second of the suite, not a synth.
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-cdk-'));
    try {
      const built = buildApp({ outdir, context: { ...cdkJson.context, autoFailover: 'true', 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true } });
      expect((built.autoFailover.rule.node.defaultChild as CfnRule).state).toBe('ENABLED');
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('the monitoring region forwards its alarm\'s state changes to Osaka\'s default event bus', () => {
    const [, rule] = single(monitoring, 'AWS::Events::Rule');
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.EventPattern.detail.alarmName).toEqual(['canary-us-west-2']);
    expect(JSON.stringify(rule.Properties.Targets[0].Arn)).toContain(':events:ap-northeast-3:111111111111:event-bus/default');
  });

  describe('the initiator state machine', () => {
    const machine = () => Object.entries<any>(secondary.findResources('AWS::StepFunctions::StateMachine')).find(([, m]) => m.Properties.StateMachineName === 'BLEAFSI-CoreBanking-Dev-failover-initiator')!;
    const states = () => parseDefinition(machine()[1].Properties.DefinitionString);
    const tokens = () => (machine()[1].Properties.DefinitionString['Fn::Join'][1] as unknown[]).filter((part) => typeof part !== 'string');

    it('observes, decides (Lambda), then starts the failover, waits and observes again, gives up, or ends', () => {
      const definition = states();
      expect(executionOrder(definition)).toEqual(['Begin', 'Observe', 'Decide', 'Choose', 'StartFailover']);
      const { Choose, WaitToRetry, NextAttempt, MaxRetriesExceeded, Ignored } = definition.States;
      expect(Choose.Choices.map((c: any) => [c.StringEquals, c.Next])).toEqual([['start', 'StartFailover'], ['wait-retry', 'WaitToRetry'], ['give-up', 'MaxRetriesExceeded']]);
      expect(Choose.Default).toBe('Ignored');
      expect(WaitToRetry).toMatchObject({ TimestampPath: '$.decision.retryAtTimestamp', Next: 'NextAttempt' });
      expect(NextAttempt).toMatchObject({ Parameters: { 'attempts.$': '$.decision.attempts', 'lastAttemptAt.$': '$.decision.lastAttemptAt' }, Next: 'Observe' });
      expect(MaxRetriesExceeded).toMatchObject({ Type: 'Fail', Error: 'MaxRetriesExceeded' });
      expect(Ignored.Type).toBe('Succeed');
      // 10 retries 10 s apart fit well inside the execution's timeout.
      expect((definition as { TimeoutSeconds?: number }).TimeoutSeconds).toBeGreaterThan(2 * INITIATOR_MAX_RETRIES * 10);
    });

    it('observes both alarms in their regions, the three workflows, its own initiations, the rule and Aurora\'s writer', () => {
      const branches = states().States.Observe.Branches.map((b: any) => b.States[b.StartAt]);
      const byName = Object.fromEntries(states().States.Observe.Branches.map((b: any) => [b.StartAt, b.States[b.StartAt]]));
      expect(Object.keys(byName)).toEqual([
        'DescribeAlarm canary-ap-northeast-3', 'DescribeAlarm canary-us-west-2',
        'ListRunning failover', 'ListRunning failback', 'ListRunning failover-allow-data-loss', 'ListRunning initiations',
        'DescribeRule', 'DescribeGlobalCluster',
      ]);
      for (const branch of branches) expect(branch.ResultSelector.kind).toMatch(/^(alarm|executions|initiations|rule|database)$/);
      expect(byName['DescribeAlarm canary-ap-northeast-3'].Resource).toMatch(/:states:::aws-sdk:cloudwatch:describeAlarms$/);
      expect(byName['DescribeAlarm canary-us-west-2'].Parameters).toMatchObject({ region: 'us-west-2', service: 'cloudwatch', action: 'describeAlarms', parameters: { AlarmNames: ['canary-us-west-2'] } });
      expect(byName['ListRunning failover'].Parameters.StatusFilter).toBe('RUNNING');
      expect(byName.DescribeRule.Parameters).toEqual({ Name: 'BLEAFSI-CoreBanking-Dev-auto-failover' });
      expect(byName.DescribeGlobalCluster.Parameters).toEqual({ GlobalClusterIdentifier: 'bleafsi-corebanking-dev-global' });
    });

    it('starts the failover state machine, and the Decide function is the bundled decideInitiation', () => {
      const refs = tokens().map(resourceId);
      const failover = Object.entries<any>(secondary.findResources('AWS::StepFunctions::StateMachine')).find(([, m]) => JSON.stringify(m.Properties.StateMachineName).endsWith('-failover"'))![0];
      expect(refs).toContain(failover);
      const decideId = refs.find((id: string) => id?.startsWith('AutoFailoverDecideFunction'));
      const decide = secondary.toJSON().Resources[decideId];
      expect(decide.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler' });
      // The asset's folder in the cloud assembly is named by the hash its S3 key carries.
      const bundle = path.join(synth.outdir, `asset.${decide.Properties.Code.S3Key.replace(/\.zip$/, '')}`, 'index.js');
      const code = fs.readFileSync(bundle, 'utf8');
      expect(code).toContain('already failed over');
      expect(code).toContain('merged into the initiation begun earlier');
      expect(code).not.toMatch(/require\(["']@aws-sdk/);
    });

    it('may read only the two alarms, the workflows, the rule and the global cluster, start only the failover, invoke only Decide', () => {
      const [id] = machine();
      const [, policy] = Object.entries<any>(secondary.findResources('AWS::IAM::Policy')).find(([policyId]) => policyId.startsWith(`${id.replace(/[0-9A-F]{8}$/, '')}Role`))!;
      const statements = policy.Properties.PolicyDocument.Statement as any[];
      const actions = statements.flatMap((s) => [s.Action].flat()).sort();
      expect(actions.filter((a) => !/^(xray|logs):/.test(a))).toEqual([
        'cloudwatch:DescribeAlarms', 'events:DescribeRule', 'lambda:InvokeFunction', 'lambda:InvokeFunction', 'rds:DescribeGlobalClusters',
        'states:ListExecutions', 'states:ListExecutions', 'states:ListExecutions', 'states:ListExecutions', 'states:StartExecution',
      ]);
      const resourcesOf = (action: string) => JSON.stringify(statements.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Resource));
      expect(resourcesOf('cloudwatch:DescribeAlarms')).toContain(':alarm:canary-ap-northeast-3');
      expect(resourcesOf('events:DescribeRule')).toContain(':rule/BLEAFSI-CoreBanking-Dev-auto-failover');
      expect(resourcesOf('states:ListExecutions')).toContain(':stateMachine:BLEAFSI-CoreBanking-Dev-failover-initiator');
      // Decide, and CDK's cross-region SDK function (the monitoring region's alarm)
      expect(resourcesOf('lambda:InvokeFunction').match(/"(AutoFailoverDecideFunction|CrossRegionAwsSdk)[0-9A-Fa-f]+"/g)?.map((ref) => ref.replace(/[0-9A-Fa-f]+"$/, '')).sort()).toEqual(['"AutoFailoverDecideFunction', '"AutoFailoverDecideFunction', '"CrossRegionAwsSdk', '"CrossRegionAwsSdk']);
      for (const action of ['cloudwatch:DescribeAlarms', 'events:DescribeRule', 'rds:DescribeGlobalClusters', 'states:ListExecutions', 'states:StartExecution']) {
        expect(resourcesOf(action), action).not.toContain('*');
      }
    });
  });

  describe('fault injection (primary)', () => {
    const templates = () => Object.values<any>(primary.findResources('AWS::FIS::ExperimentTemplate')).map((t) => t.Properties);
    const action = (id: string) => templates().map((t) => Object.values<any>(t.Actions)[0]).find((a) => a.ActionId === id);

    it('packet loss: 30 % for 5 minutes on the bastion host (the load client), no stop condition', () => {
      const packetLoss = action('aws:ssm:send-command');
      expect(JSON.stringify(packetLoss.Parameters.documentArn)).toContain(':document/AWSFIS-Run-Network-Packet-Loss');
      expect(JSON.parse(packetLoss.Parameters.documentParameters)).toMatchObject({ LossPercent: '30', DurationSeconds: '300', Interface: 'ens5' });
      expect(packetLoss.Parameters.duration).toBe('PT5M');
      const template = templates().find((t) => t.Actions.PacketLoss)!;
      expect(template.StopConditions).toEqual([{ Source: 'none' }]);
      const [bastionId] = Object.keys(primary.findResources('AWS::EC2::Instance'));
      expect(JSON.stringify(template.Targets.LoadClientHost.ResourceArns)).toContain(`{"Ref":"${bastionId}"}`);
    });

    it('scale-to-zero: an SSM Automation sets the transaction service to 0, holds, and back to its count, also when stopped', () => {
      const scale = action('aws:ssm:start-automation-execution');
      expect(JSON.stringify(scale.Parameters.documentArn)).toContain(':document/BLEAFSI-CoreBanking-Dev-ScaleTransactionToZero');
      expect(scale.Parameters.maxDuration).toBe('PT20M');
      const [, document] = single(primary, 'AWS::SSM::Document');
      const { parameters, mainSteps } = document.Properties.Content;
      expect(mainSteps.map((step: any) => [step.name, step.action, step.inputs.desiredCount ?? null])).toEqual([
        ['ScaleToZero', 'aws:executeAwsApi', 0], ['Hold', 'aws:sleep', null], ['ScaleBack', 'aws:executeAwsApi', '{{ RestoreCount }}'],
      ]);
      expect(mainSteps[1]).toMatchObject({ onCancel: 'step:ScaleBack', onFailure: 'step:ScaleBack' });
      expect(parameters.RestoreCount.default).toBe(1);
      const transaction = Object.entries<any>(primary.findResources('AWS::ECS::Service')).find(([, s]) => s.Properties.ServiceName === 'transaction')![0];
      expect(parameters.Service.default).toEqual({ 'Fn::GetAtt': [transaction, 'Name'] });
      const automationPolicy = Object.entries<any>(primary.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('FaultInjectionAutomationRole'))![1];
      expect(automationPolicy.Properties.PolicyDocument.Statement).toEqual([expect.objectContaining({ Action: 'ecs:UpdateService', Resource: { Ref: transaction } })]);
    });

    it('prints the seed\'s manual commands: update-service --desired-count 0, and back to 1', () => {
      const outputs = Object.entries<any>(primary.toJSON().Outputs);
      const text = (value: any) => value['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : '<ref>')).join('');
      const command = (name: string) => text(outputs.find(([id]) => id.startsWith(name))![1].Value);
      expect(command('FaultInjectionScaleTransactionToZeroCommand')).toBe('aws ecs update-service --cluster <ref> --service <ref> --desired-count 0 --region ap-northeast-1');
      expect(command('FaultInjectionScaleTransactionBackCommand')).toBe('aws ecs update-service --cluster <ref> --service <ref> --desired-count 1 --region ap-northeast-1');
      expect(command('FaultInjectionPacketLossExperiment')).toBe('aws fis start-experiment --experiment-template-id <ref> --region ap-northeast-1');
    });
  });
});
