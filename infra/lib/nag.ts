import type { IConstruct } from 'constructs';
import type { Stack } from 'aws-cdk-lib';
import { cdkNag } from './cdk-nag.ts';

const { NagSuppressions } = cdkNag;

type Suppression = { id: string; reason: string; appliesTo?: (string | { regex: string })[] };

/**
 * Every AwsSolutions finding accepted for this deployment, each with its reason. Suppressions
 * name the construct kinds and, for IAM wildcards, the exact resource or action they cover, so
 * a wildcard added elsewhere still fails the check.
 */
export const STACK_SUPPRESSIONS: Suppression[] = [
  { id: 'AwsSolutions-SMG4', reason: 'The database credentials and the service token are read by tasks at start; rotating them needs a coordinated restart of both regions, which this sample leaves to the operator.' },
  { id: 'AwsSolutions-RDS6', reason: 'The services authenticate to PostgreSQL with the password from Secrets Manager (DATABASE_URL); they do not implement IAM token refresh.' },
  { id: 'AwsSolutions-RDS10', reason: 'Deletion protection follows the environment: on in Prod, off in Dev and Staging so that the guide\'s destroy step succeeds.' },
  { id: 'AwsSolutions-RDS11', reason: 'The cluster sits in isolated subnets and admits only the services\' security group; a non-default port adds nothing.' },
  { id: 'AwsSolutions-ELB2', reason: 'Internal ALB reached only from the VPCs; requests are traced by Application Signals and the VPC has flow logs.' },
  { id: 'AwsSolutions-ECS2', reason: 'The environment holds only names, URLs and OpenTelemetry settings; secrets come from Secrets Manager.' },
  { id: 'AwsSolutions-EC29', reason: 'The bastion host is disposable (load client only) and is replaced by redeploying.' },
  {
    id: 'AwsSolutions-IAM4', reason: 'AWS managed policies meant for exactly these roles: the CloudWatch agent sidecar, SSM Session Manager on the bastion, Lambda basic logging, the network interfaces of the canaries that run in a VPC.',
    appliesTo: [
      'Policy::arn:<AWS::Partition>:iam::aws:policy/CloudWatchAgentServerPolicy',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
    ],
  },
  {
    id: 'AwsSolutions-IAM5', reason: 'Queries of the main table\'s index GSI1 (the worker\'s pending-saga poll) need the table\'s index ARN.',
    appliesTo: [{ regex: '/^Resource::(<MainTable[0-9A-F]+\\.Arn>|arn:<AWS::Partition>:dynamodb:[a-z0-9-]+:[0-9]+:table\\/BLEAFSI-CoreBanking-[A-Za-z]+-main)\\/index\\/\\*$/g' }],
  },
  {
    id: 'AwsSolutions-IAM5', reason: 'The bastion reads the load client\'s source archive from the CDK asset bucket (CDK\'s read grant).',
    appliesTo: ['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*', { regex: '/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-[0-9]+-[a-z0-9-]+\\/\\*$/g' }],
  },
  {
    id: 'AwsSolutions-IAM5', reason: 'Step Functions invokes the task Lambda functions by any version (CDK\'s invoke grant adds <arn>:*).',
    appliesTo: [{ regex: '/^Resource::<(CrossRegionAwsSdk|GlobalRoutingUpdateRoutingControlsFunction|GlobalRoutingReleaseLeasesFunction|AutoFailoverDecideFunction)[0-9A-Fa-f]+\\.Arn>:\\*$/g' }],
  },
  { id: 'AwsSolutions-L1', reason: 'The cross-region SDK call function is CDK\'s own (CallAwsServiceCrossRegion); its runtime is set by aws-cdk-lib.' },
];

/**
 * Findings accepted on one kind of construct, by path: IAM wildcards (`Resource::*` unless
 * `appliesTo` says which) only where AWS offers no narrower resource.
 */
const RESOURCE_SUPPRESSIONS: { path: RegExp; reason: string; id?: string; appliesTo?: (string | { regex: string })[] }[] = [
  { path: /\/ExecutionRole\/DefaultPolicy\/Resource$/, reason: 'ecr:GetAuthorizationToken has no resource-level permission; the execution role pulls the service images.' },
  { path: /\/StateMachine\/Role\/DefaultPolicy\/Resource$/, reason: 'X-Ray tracing (xray:PutTraceSegments) and CloudWatch Logs delivery (logs:*LogDelivery) have no resource-level permission.' },
  { path: /\/Canary\/Artifacts\/Resource$/, id: 'AwsSolutions-S1', reason: 'A canary\'s artifact bucket (its runs\' logs and reports, expired after 30 days): access logs would record only the canary\'s own writes.' },
  {
    path: /\/Canary\/Canary\/ServiceRole\/Resource$/,
    reason: 'The Synthetics canary role as CDK makes it: s3:ListAllMyBuckets and cloudwatch:PutMetricData (limited to the CloudWatchSynthetics namespace by a condition) have no resource-level permission; it writes any key of its own artifact bucket and the log groups of its own canary Lambda (cwsyn-*, named by Synthetics).',
    appliesTo: ['Resource::*', { regex: '/^Resource::<CanaryArtifacts[0-9A-F]+\\.Arn>\\/\\*$/g' }, { regex: '/^Resource::arn:<AWS::Partition>:logs:[a-z0-9-]+:[0-9]+:log-group:\\/aws\\/lambda\\/cwsyn-\\*$/g' }],
  },
  {
    path: /\/FaultInjection\/ExperimentRole\/DefaultPolicy\/Resource$/,
    reason: 'FIS follows its SSM command (ssm:ListCommands, ssm:CancelCommand: no resource-level permission) and its automation, whose execution id is made at run time; it may start any version of the one scale-to-zero document.',
    appliesTo: ['Resource::*', { regex: '/^Resource::arn:<AWS::Partition>:ssm:[a-z0-9-]+:[0-9]+:automation-execution\\/\\*$/g' }, { regex: '/^Resource::arn:<AWS::Partition>:ssm:[a-z0-9-]+:[0-9]+:automation-definition\\/BLEAFSI-CoreBanking-[A-Za-z]+-ScaleTransactionToZero:\\*$/g' }],
  },
];

export function addNagSuppressions(stack: Stack) {
  NagSuppressions.addStackSuppressions(stack, STACK_SUPPRESSIONS, true);
}

/** Called once the tree is complete (after every construct exists). */
export function addPathSuppressions(root: IConstruct) {
  for (const node of root.node.findAll()) {
    const match = RESOURCE_SUPPRESSIONS.find(({ path }) => path.test(`/${node.node.path}`));
    if (!match) continue;
    const id = match.id ?? 'AwsSolutions-IAM5';
    NagSuppressions.addResourceSuppressions(node, [{ id, reason: match.reason, ...(id === 'AwsSolutions-IAM5' ? { appliesTo: match.appliesTo ?? ['Resource::*'] } : {}) }]);
  }
}
