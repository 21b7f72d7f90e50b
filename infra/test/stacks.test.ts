import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { WORKFLOWS, STOP_FLAG_CACHE_TTL_SECONDS, type WorkflowName } from '@corebank/workflow';
import { SERVICES } from '../lib/config.ts';
import { STEP_STATE_SEPARATOR } from '../lib/failover.ts';
import { executionOrder, parseDefinition, synthesizeForTest } from './synth.ts';

let synth: ReturnType<typeof synthesizeForTest>;
let primary: Template;
let secondary: Template;
let recovery: Template;

beforeAll(() => {
  synth = synthesizeForTest();
  primary = Template.fromStack(synth.stacks.primary);
  secondary = Template.fromStack(synth.stacks.secondary);
  recovery = Template.fromStack(synth.stacks.recovery);
});
afterAll(() => synth?.cleanup());

/** Template lookups happen inside the tests: it.each lists are built before beforeAll runs. */
const PLACES = ['primary', 'secondary'] as const;
const templateOf = (place: (typeof PLACES)[number]) => (place === 'primary' ? primary : secondary);

describe('stacks', () => {
  it('are named as in the seed, in the configured regions, with a fixed account', () => {
    const { primary: p, secondary: s, recovery: r } = synth.stacks;
    expect([p.stackName, p.region, p.account]).toEqual(['BLEAFSI-CoreBanking-primary-Dev', 'ap-northeast-1', '111111111111']);
    expect([s.stackName, s.region]).toEqual(['BLEAFSI-CoreBanking-secondary-Dev', 'ap-northeast-3']);
    expect([r.stackName, r.region]).toEqual(['BLEAFSI-CoreBanking-recovery-Dev', 'us-west-2']);
  });

  it('need no lookup: every context value is committed', () => {
    expect(synth.app.synth().manifest.missing ?? []).toEqual([]);
  });

  it('pass the cdk-nag AwsSolutions checks: no unsuppressed error or warning', () => {
    for (const stack of Object.values(synth.stacks)) {
      const findings = [
        ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ];
      expect(findings.map((f) => `${f.id}: ${String(f.entry.data).split(':')[0]}`)).toEqual([]);
    }
  });

  it('give every cdk-nag suppression a reason', () => {
    let count = 0;
    for (const template of [primary, secondary, recovery]) {
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
    // The canary alarm of the secondary region is checked with the automatic failover (auto-failover.test.ts).
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
    for (const template of [primary, secondary, recovery]) {
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
