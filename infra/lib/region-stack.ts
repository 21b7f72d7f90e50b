import * as path from 'node:path';
import { ArnFormat, CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { CONTAINER_PORT, PROJECT_PREFIX, type EnvironmentParameters, type ServiceName, resourceId, stackName } from './config.ts';
import { addDashboard, addServiceAlarms } from './monitoring.ts';

export type RegionPlace = 'primary' | 'secondary';

export interface RegionStackProps extends StackProps {
  parameters: EnvironmentParameters;
  place: RegionPlace;
  /** Repository root: the Docker build context of services/Dockerfile and client/Dockerfile. */
  repoRoot: string;
}

/** Names that both regions and the failover workflow need, derived, so no lookup crosses a region. */
export function sharedNames(parameters: EnvironmentParameters) {
  const env = parameters.envName;
  return {
    mainTable: `${PROJECT_PREFIX}-${env}-main`,
    paramTable: (region: string) => `${PROJECT_PREFIX}-${env}-param-${region}`,
    globalCluster: resourceId(env, 'global'),
    dbCluster: (region: string) => resourceId(env, `db-${region}`),
    dbSecret: `${PROJECT_PREFIX}-${env}-db-credentials`,
    serviceTokenSecret: `${PROJECT_PREFIX}-${env}-service-token`,
    clusterName: (place: RegionPlace) => stackName(place, env),
  };
}

const DB_USER = 'corebank';
/** Generated passwords go into a URL (DATABASE_URL): letters and digits only. */
const PASSWORD_EXCLUDED = ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** CloudWatch agent configuration that receives Application Signals traces and metrics on :4316. */
const CW_AGENT_CONFIG = JSON.stringify({
  traces: { traces_collected: { application_signals: {} } },
  logs: { metrics_collected: { application_signals: {} } },
});

/**
 * One region of the deployment: network, ECS cluster, ALB, the four services, Aurora,
 * DynamoDB, secrets, bastion host with the load client, migration tasks, alarms.
 */
export class RegionStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly cluster: ecs.Cluster;
  readonly paramTable: dynamodb.Table;
  readonly dbClusterArn: string;
  readonly alarmTopic: sns.Topic;
  /** The Fargate services by name (the fault-injection templates scale `transaction`). */
  readonly services = {} as Record<ServiceName, ecs.FargateService>;
  /** The bastion host with the load client (primary only; the packet-loss experiment targets it). */
  bastion?: ec2.Instance;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, props);
    const { parameters, place, repoRoot } = props;
    const names = sharedNames(parameters);
    const regionParameters = parameters[place];
    const region = regionParameters.region;
    const otherRegion = parameters[place === 'primary' ? 'secondary' : 'primary'].region;

    // Network: two AZs named explicitly so synth needs no availability-zone lookup.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(regionParameters.vpcCidr),
      availabilityZones: [`${region}a`, region === 'ap-northeast-1' ? `${region}c` : `${region}b`],
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'App', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'Db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: { All: { destination: ec2.FlowLogDestination.toCloudWatchLogs(), trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    const appSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: names.clusterName(place),
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      defaultCloudMapNamespace: { name: 'corebank.local', useForServiceConnect: true, vpc: this.vpc },
    });

    // Secrets: created in the primary and replicated to the secondary under the same name.
    const serviceToken = place === 'primary'
      ? new secretsmanager.Secret(this, 'ServiceToken', {
        secretName: names.serviceTokenSecret,
        description: 'Shared secret the transaction worker sends on the internal PUT /balance/* and /count/* routes',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        replicaRegions: [{ region: otherRegion }],
      })
      : secretsmanager.Secret.fromSecretNameV2(this, 'ServiceToken', names.serviceTokenSecret);

    // DynamoDB: one global main table (created by the primary with its replica), and a param table per region.
    const mainTable = place === 'primary'
      ? new dynamodb.TableV2(this, 'MainTable', {
        tableName: names.mainTable,
        partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
        globalSecondaryIndexes: [{
          indexName: 'GSI1',
          partitionKey: { name: 'GSI1PK', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'GSI1SK', type: dynamodb.AttributeType.STRING },
        }],
        billing: dynamodb.Billing.onDemand(),
        timeToLiveAttribute: 'expiresAt',
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: parameters.deletionProtection,
        removalPolicy: parameters.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        replicas: [{ region: otherRegion }],
      })
      : dynamodb.TableV2.fromTableName(this, 'MainTable', names.mainTable);

    this.paramTable = new dynamodb.Table(this, 'ParamTable', {
      tableName: names.paramTable(region),
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: parameters.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // Aurora PostgreSQL Global Database: the writer in the primary, a read-only secondary cluster.
    const dbSecurityGroup = new ec2.SecurityGroup(this, 'DbSecurityGroup', { vpc: this.vpc, description: 'Aurora PostgreSQL', allowAllOutbound: false });
    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', { vpc: this.vpc, description: 'ECS tasks of the corebank services' });
    dbSecurityGroup.addIngressRule(serviceSecurityGroup, ec2.Port.tcp(5432), 'services and migration tasks');
    let dbHost: string;
    let dbSecret: secretsmanager.ISecret;
    const engineVersion = rds.AuroraPostgresEngineVersion.VER_16_6;
    if (place === 'primary') {
      const cluster = new rds.DatabaseCluster(this, 'Aurora', {
        clusterIdentifier: names.dbCluster(region),
        engine: rds.DatabaseClusterEngine.auroraPostgres({ version: engineVersion }),
        credentials: rds.Credentials.fromGeneratedSecret(DB_USER, {
          secretName: names.dbSecret,
          excludeCharacters: PASSWORD_EXCLUDED,
          replicaRegions: [{ region: otherRegion }],
        }),
        writer: rds.ClusterInstance.provisioned('Writer', { instanceType: new ec2.InstanceType(parameters.auroraInstanceClass) }),
        vpc: this.vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        securityGroups: [dbSecurityGroup],
        storageEncrypted: true,
        deletionProtection: parameters.deletionProtection,
        removalPolicy: parameters.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
        cloudwatchLogsExports: ['postgresql'],
        backup: { retention: Duration.days(7) },
      });
      new rds.CfnGlobalCluster(this, 'GlobalCluster', {
        globalClusterIdentifier: names.globalCluster,
        sourceDbClusterIdentifier: cluster.clusterArn,
        deletionProtection: parameters.deletionProtection,
      });
      dbHost = cluster.clusterEndpoint.hostname;
      dbSecret = cluster.secret!;
      this.dbClusterArn = cluster.clusterArn;
    } else {
      // The L2 cluster cannot join a global database as a secondary: L1 resources, no credentials of its own.
      const key = new kms.Key(this, 'AuroraKey', { enableKeyRotation: true, description: 'Aurora secondary cluster storage' });
      const subnetGroup = new rds.SubnetGroup(this, 'AuroraSubnets', {
        vpc: this.vpc, description: 'Aurora secondary', vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const cluster = new rds.CfnDBCluster(this, 'Aurora', {
        dbClusterIdentifier: names.dbCluster(region),
        globalClusterIdentifier: names.globalCluster,
        engine: 'aurora-postgresql',
        engineVersion: engineVersion.auroraPostgresFullVersion,
        dbSubnetGroupName: subnetGroup.subnetGroupName,
        vpcSecurityGroupIds: [dbSecurityGroup.securityGroupId],
        storageEncrypted: true,
        kmsKeyId: key.keyArn,
        deletionProtection: parameters.deletionProtection,
        enableCloudwatchLogsExports: ['postgresql'],
        backupRetentionPeriod: 7,
      });
      new rds.CfnDBInstance(this, 'AuroraReader', {
        dbClusterIdentifier: cluster.ref,
        dbInstanceClass: `db.${parameters.auroraInstanceClass}`,
        engine: 'aurora-postgresql',
        publiclyAccessible: false,
      });
      dbHost = cluster.attrEndpointAddress;
      dbSecret = secretsmanager.Secret.fromSecretNameV2(this, 'DbSecret', names.dbSecret);
      this.dbClusterArn = this.formatArn({ service: 'rds', resource: 'cluster', resourceName: names.dbCluster(region), arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    }

    // Load balancer: internal, reached through the private hosted zone as api.<region>.<zone>.
    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', { vpc: this.vpc, description: 'internal ALB' });
    albSecurityGroup.addIngressRule(ec2.Peer.ipv4(parameters.primary.vpcCidr), ec2.Port.tcp(80), 'primary VPC (bastion)');
    albSecurityGroup.addIngressRule(ec2.Peer.ipv4(parameters.secondary.vpcCidr), ec2.Port.tcp(80), 'secondary VPC (canary, bastion after a failover)');
    albSecurityGroup.addIngressRule(ec2.Peer.ipv4(parameters.monitoringVpcCidr), ec2.Port.tcp(80), 'monitoring VPC (canary)');
    serviceSecurityGroup.addIngressRule(albSecurityGroup, ec2.Port.tcp(CONTAINER_PORT), 'ALB to services');
    serviceSecurityGroup.addIngressRule(serviceSecurityGroup, ec2.Port.tcp(CONTAINER_PORT), 'service to service (Service Connect)');
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', { vpc: this.vpc, internetFacing: false, securityGroup: albSecurityGroup, vpcSubnets: appSubnets });
    const listener = this.alb.addListener('Http', {
      port: 80,
      open: false,
      defaultAction: elbv2.ListenerAction.fixedResponse(400, {
        contentType: 'application/json',
        messageBody: '{"error":"bad_request","message":"no such route"}',
      }),
    });

    // The four services: one image per service from services/Dockerfile, built by `cdk deploy`.
    const app = new Construct(this, 'SampleMultiRegionApp');
    const imageFor = (service: 'balance' | 'count' | 'transaction') => ecs.ContainerImage.fromAsset(repoRoot, {
      file: 'services/Dockerfile',
      buildArgs: service === 'transaction' ? { SERVICE: service, ENTRY: 'dist/api-main.js' } : { SERVICE: service },
      exclude: ['**/node_modules', '.git', '.corebank', 'test-artifacts', '**/cdk.out', '**/dist', '**/*.log', 'test', '**/*.test.ts', 'infra/lib', 'infra/bin', 'infra/test', 'infra/canary'],
    });
    const images = { balance: imageFor('balance'), count: imageFor('count'), transaction: imageFor('transaction') };
    const databaseUrlCommand = (extra: string) => [
      'sh', '-c',
      `DATABASE_URL="postgres://$DB_USER:$DB_PASSWORD@$DB_HOST:5432/postgres?sslmode=no-verify" exec node "$ENTRY"${extra}`,
    ];
    const dbEnvironment = { DB_HOST: dbHost };
    const dbSecrets = {
      DB_USER: ecs.Secret.fromSecretsManager(dbSecret, 'username'),
      DB_PASSWORD: ecs.Secret.fromSecretsManager(dbSecret, 'password'),
    };
    const tableEnvironment = { AWS_REGION: region, MAIN_TABLE: names.mainTable, PARAM_TABLE: names.paramTable(region) };
    const tokenSecret = { SERVICE_TOKEN: ecs.Secret.fromSecretsManager(serviceToken) };

    interface ServiceSpec {
      name: ServiceName;
      image: ecs.ContainerImage;
      environment: Record<string, string>;
      secrets: Record<string, ecs.Secret>;
      command?: string[];
      pathPattern?: string;
      priority?: number;
      tables: boolean;
    }
    const specs: ServiceSpec[] = [
      { name: 'balance', image: images.balance, environment: dbEnvironment, secrets: { ...dbSecrets, ...tokenSecret }, command: databaseUrlCommand(''), pathPattern: '/balance*', priority: 10, tables: false },
      { name: 'count', image: images.count, environment: dbEnvironment, secrets: { ...dbSecrets, ...tokenSecret }, command: databaseUrlCommand(''), pathPattern: '/count*', priority: 20, tables: false },
      { name: 'transaction', image: images.transaction, environment: { ...tableEnvironment, WORKER_URL: `http://transaction-worker:${CONTAINER_PORT}` }, secrets: tokenSecret, pathPattern: '/transaction*', priority: 30, tables: true },
      {
        name: 'transaction-worker', image: images.transaction,
        environment: { ...tableEnvironment, ENTRY: 'services/transaction/dist/worker-main.js', BALANCE_URL: `http://balance:${CONTAINER_PORT}`, COUNT_URL: `http://count:${CONTAINER_PORT}` },
        secrets: tokenSecret, tables: true,
      },
    ];

    const logGroup = new logs.LogGroup(this, 'ServiceLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const taskDefinitionFor = (id: string, spec: ServiceSpec, command: string[] | undefined, withSignals: boolean) => {
      const taskDefinition = new ecs.FargateTaskDefinition(app, id, { cpu: 512, memoryLimitMiB: 1024 });
      const container = taskDefinition.addContainer('app', {
        image: spec.image,
        command,
        environment: {
          ...spec.environment,
          PORT: String(CONTAINER_PORT),
          HOST: '0.0.0.0',
          ...(withSignals ? applicationSignalsEnvironment(spec.name) : {}),
        },
        secrets: spec.secrets,
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: spec.name }),
        portMappings: withSignals ? [{ name: 'http', containerPort: CONTAINER_PORT }] : [],
        healthCheck: withSignals ? {
          command: ['CMD-SHELL', `node -e "fetch('http://127.0.0.1:${CONTAINER_PORT}/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`],
          interval: Duration.seconds(10), timeout: Duration.seconds(3), retries: 3, startPeriod: Duration.seconds(10),
        } : undefined,
      });
      if (withSignals) addApplicationSignals(taskDefinition, container, logGroup, spec.name);
      if (spec.tables) {
        mainTable.grantReadWriteData(taskDefinition.taskRole);
        this.paramTable.grantReadData(taskDefinition.taskRole);
      }
      return taskDefinition;
    };

    for (const spec of specs) {
      const construct = new Construct(app, `${pascal(spec.name)}Service`);
      const taskDefinition = taskDefinitionFor(`${pascal(spec.name)}TaskDefinition`, spec, spec.command, true);
      const service = new ecs.FargateService(construct, 'Service', {
        cluster: this.cluster,
        serviceName: spec.name,
        taskDefinition,
        desiredCount: parameters.desiredCount[spec.name],
        securityGroups: [serviceSecurityGroup],
        vpcSubnets: appSubnets,
        minHealthyPercent: 100,
        circuitBreaker: { rollback: true },
        serviceConnectConfiguration: { services: [{ portMappingName: 'http', dnsName: spec.name, port: CONTAINER_PORT }] },
      });
      this.services[spec.name] = service;
      if (spec.pathPattern && spec.priority) {
        listener.addTargets(`${pascal(spec.name)}Targets`, {
          priority: spec.priority,
          conditions: [elbv2.ListenerCondition.pathPatterns([spec.pathPattern])],
          port: CONTAINER_PORT,
          protocol: elbv2.ApplicationProtocol.HTTP,
          targets: [service.loadBalancerTarget({ containerName: 'app', containerPort: CONTAINER_PORT })],
          healthCheck: { path: '/health', healthyHttpCodes: '200', interval: Duration.seconds(10), healthyThresholdCount: 2 },
          deregistrationDelay: Duration.seconds(25),
        });
      }
    }

    // Migration tasks: the same images, run once by the stack output's `aws ecs run-task` command.
    const migrationCommand = (service: 'balance' | 'count', taskDefinition: ecs.FargateTaskDefinition) => [
      'aws ecs run-task',
      `--cluster ${this.cluster.clusterName}`,
      `--task-definition ${taskDefinition.taskDefinitionArn}`,
      '--launch-type FARGATE',
      `--network-configuration "awsvpcConfiguration={subnets=[${this.vpc.privateSubnets.map((s) => s.subnetId).join(',')}],securityGroups=[${serviceSecurityGroup.securityGroupId}],assignPublicIp=DISABLED}"`,
      `--region ${region}`,
      `# runs: node services/${service}/dist/main.js migrate`,
    ].join(' ');
    if (place === 'primary') {
      for (const service of ['balance', 'count'] as const) {
        const spec = specs.find((s) => s.name === service)!;
        const taskDefinition = taskDefinitionFor(`${pascal(service)}Task`, spec, databaseUrlCommand(' migrate'), false);
        new CfnOutput(app, `${pascal(service)}MigrationCommand`, { value: migrationCommand(service, taskDefinition), description: `Creates the ${service} database and tables (run once after deploy)` });
      }
    }
    new CfnOutput(app, 'ParamTableName', { value: this.paramTable.tableName, description: 'The region\'s param table (stopFlag)' });

    // Bastion host: SSM Session Manager only (no SSH, no inbound rule), with the load client.
    if (place === 'primary') this.bastion = this.addBastion(repoRoot, appSubnets);

    // Monitoring: the eight alarms to an SNS topic (ALARM and OK), the dashboard in the primary.
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `CoreBanking alarms ${parameters.envName} ${region}`, enforceSSL: true });
    this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(parameters.notifyEmail));
    const monitoring = new Construct(this, 'Monitoring');
    addServiceAlarms(monitoring, names.clusterName(place), this.alarmTopic);
    if (place === 'primary') {
      addDashboard(monitoring, parameters.envName, [
        { region: parameters.primary.region, clusterName: names.clusterName('primary') },
        { region: parameters.secondary.region, clusterName: names.clusterName('secondary') },
      ]);
    }
  }

  private addBastion(repoRoot: string, subnets: ec2.SubnetSelection) {
    const client = new Construct(this, 'SampleAppClientInstance');
    // The client's build context: the root manifest and lock file, the client, and the build script.
    const clientSource = new s3assets.Asset(client, 'ClientSource', {
      path: repoRoot,
      ignoreMode: IgnoreMode.DOCKER,
      exclude: ['*', '!package.json', '!package-lock.json', '!client', '!local', 'local/*', '!local/bin', 'local/bin/*', '!local/bin/build.js', '**/node_modules', '**/dist', '**/*.log'],
    });
    const role = new iam.Role(client, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    clientSource.grantRead(role);
    const userData = ec2.UserData.forLinux();
    userData.addCommands(
      'dnf install -y docker unzip',
      'systemctl enable --now docker',
      'usermod -aG docker ec2-user',
      'cat > /home/ec2-user/pull.sh <<PULL',
      '#!/bin/sh',
      '# Fetches the load client (client/ and the workspace files its Dockerfile needs) from S3.',
      'set -e',
      'cd /home/ec2-user',
      `aws s3 cp ${clientSource.s3ObjectUrl} corebank.zip`,
      'rm -rf corebank && mkdir corebank && unzip -q corebank.zip -d corebank && rm corebank.zip',
      '# The seed runs `cd client && docker build -t client .`; the build context is the workspace root.',
      'ln -sfn corebank/client client',
      'cp corebank/client/Dockerfile corebank/Dockerfile',
      'cp corebank/client/Dockerfile.dockerignore corebank/.dockerignore',
      'PULL',
      'chmod +x /home/ec2-user/pull.sh && chown ec2-user:ec2-user /home/ec2-user/pull.sh',
    );
    const instance = new ec2.Instance(client, 'BastionHost', {
      vpc: this.vpc,
      vpcSubnets: subnets,
      instanceType: new ec2.InstanceType('t3.medium'),
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cachedInContext: false }),
      role,
      userData,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true }) }],
    });
    new CfnOutput(client, 'BastionHostId', { value: instance.instanceId, description: 'Bastion host for the load client: aws ssm start-session --target <id>' });
    return instance;
  }
}

/** OpenTelemetry settings for Application Signals (ADOT Node.js auto-instrumentation to the agent sidecar). */
export function applicationSignalsEnvironment(service: ServiceName): Record<string, string> {
  return {
    OTEL_RESOURCE_ATTRIBUTES: `service.name=${service}`,
    OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'true',
    OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT: 'http://localhost:4316/v1/metrics',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://localhost:4316/v1/traces',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_TRACES_SAMPLER: 'xray',
    OTEL_TRACES_SAMPLER_ARG: 'endpoint=http://localhost:2000',
    OTEL_PROPAGATORS: 'tracecontext,baggage,b3,xray',
    NODE_OPTIONS: '--require /otel-auto-instrumentation-node/autoinstrumentation.js',
  };
}

const ADOT_NODE_IMAGE = 'public.ecr.aws/aws-observability/adot-autoinstrumentation-node:v0.7.0';
const CW_AGENT_IMAGE = 'public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300051.0b992';

/** The CloudWatch agent sidecar and an init container that hands the instrumentation to the app. */
function addApplicationSignals(taskDefinition: ecs.FargateTaskDefinition, app: ecs.ContainerDefinition, logGroup: logs.ILogGroup, service: string) {
  taskDefinition.addVolume({ name: 'opentelemetry-auto-instrumentation-node' });
  const init = taskDefinition.addContainer('init', {
    image: ecs.ContainerImage.fromRegistry(ADOT_NODE_IMAGE),
    essential: false,
    command: ['cp', '-a', '/autoinstrumentation/.', '/otel-auto-instrumentation-node'],
    logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: `${service}-init` }),
  });
  init.addMountPoints({ sourceVolume: 'opentelemetry-auto-instrumentation-node', containerPath: '/otel-auto-instrumentation-node', readOnly: false });
  app.addMountPoints({ sourceVolume: 'opentelemetry-auto-instrumentation-node', containerPath: '/otel-auto-instrumentation-node', readOnly: false });
  app.addContainerDependencies({ container: init, condition: ecs.ContainerDependencyCondition.SUCCESS });
  const agent = taskDefinition.addContainer('ecs-cwagent', {
    image: ecs.ContainerImage.fromRegistry(CW_AGENT_IMAGE),
    essential: true,
    environment: { CW_CONFIG_CONTENT: CW_AGENT_CONFIG },
    logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: `${service}-cwagent` }),
  });
  app.addContainerDependencies({ container: agent, condition: ecs.ContainerDependencyCondition.START });
  taskDefinition.taskRole.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchAgentServerPolicy'));
}

const pascal = (name: string) => name.split('-').map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
