import { CfnOutput, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as fis from 'aws-cdk-lib/aws-fis';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { PROJECT_PREFIX, type EnvironmentParameters } from './config.ts';

/** The seed's two rehearsals of the automatic failover, as FIS templates in the primary region. */
export const PACKET_LOSS = { percent: 30, duration: 'PT5M', seconds: 300 } as const;
export const SCALE_TO_ZERO = { holdMinutes: 10, hold: 'PT10M', maxDuration: 'PT20M' } as const;

export interface FaultInjectionProps {
  parameters: EnvironmentParameters;
  /** The bastion host that runs the load client. */
  loadClientHost: ec2.Instance;
  cluster: ecs.ICluster;
  transaction: ecs.FargateService;
}

/**
 * (a) 30 % packet loss on the load client's host for 5 minutes (AWSFIS-Run-Network-Packet-Loss
 * through `aws:ssm:send-command`): the user watches response times and errors rise in Locust.
 * (b) Tokyo's transaction service scaled to 0 and back. FIS has no "scale a service" action
 * (`aws:ecs:stop-task` stops tasks that ECS then replaces, because the desired count stays
 * 1), so the template runs an SSM Automation document of ours that makes the seed's
 * `aws ecs update-service --desired-count 0`, holds 10 minutes (long enough for two failed
 * canary minutes, the initiator and the failover), and sets the count back, also when the
 * experiment is stopped early. The stack also prints the two update-service commands, the
 * seed's manual way.
 */
export class FaultInjection extends Construct {
  readonly packetLoss: fis.CfnExperimentTemplate;
  readonly scaleToZero: fis.CfnExperimentTemplate;

  constructor(scope: Construct, id: string, props: FaultInjectionProps) {
    super(scope, id);
    const { parameters, loadClientHost, cluster, transaction } = props;
    const stack = Stack.of(this);
    const prefix = `${PROJECT_PREFIX}-${parameters.envName}`;
    const role = new iam.Role(this, 'ExperimentRole', { assumedBy: new iam.ServicePrincipal('fis.amazonaws.com'), description: 'FIS: the corebank failover rehearsals' });

    // (a) packet loss on the load client's host
    const packetLossDocument = stack.formatArn({ service: 'ssm', account: '', resource: 'document', resourceName: 'AWSFIS-Run-Network-Packet-Loss' });
    const instanceArn = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: loadClientHost.instanceId });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [packetLossDocument, instanceArn] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ssm:ListCommands', 'ssm:CancelCommand'], resources: ['*'] }));
    this.packetLoss = new fis.CfnExperimentTemplate(this, 'PacketLoss', {
      description: `${PACKET_LOSS.percent} % packet loss on the load client's host for ${PACKET_LOSS.seconds / 60} minutes`,
      roleArn: role.roleArn,
      stopConditions: [{ source: 'none' }],
      targets: { LoadClientHost: { resourceType: 'aws:ec2:instance', resourceArns: [instanceArn], selectionMode: 'ALL' } },
      actions: {
        PacketLoss: {
          actionId: 'aws:ssm:send-command',
          description: 'tc netem loss on the host\'s interface (ens5 on Amazon Linux 2023)',
          parameters: {
            documentArn: packetLossDocument,
            documentParameters: JSON.stringify({ Interface: 'ens5', LossPercent: String(PACKET_LOSS.percent), DurationSeconds: String(PACKET_LOSS.seconds), InstallDependencies: 'True' }),
            duration: PACKET_LOSS.duration,
          },
          targets: { Instances: 'LoadClientHost' },
        },
      },
      tags: { Name: `${prefix}-packet-loss-load-client` },
    });

    // (b) the transaction service scaled to 0, held, scaled back
    const documentName = `${prefix}-ScaleTransactionToZero`;
    const automationRole = new iam.Role(this, 'AutomationRole', { assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com'), description: `SSM Automation ${documentName}: sets the transaction service's desired count` });
    automationRole.addToPolicy(new iam.PolicyStatement({ actions: ['ecs:UpdateService'], resources: [transaction.serviceArn] }));
    const restoreCount = parameters.desiredCount.transaction;
    const updateService = (desiredCount: number | string) => ({ Service: 'ecs', Api: 'UpdateService', cluster: '{{ Cluster }}', service: '{{ Service }}', desiredCount });
    new ssm.CfnDocument(this, 'ScaleToZeroDocument', {
      name: documentName,
      documentType: 'Automation',
      updateMethod: 'NewVersion',
      content: {
        schemaVersion: '0.3',
        description: 'Scales an ECS service to 0 tasks, holds, and scales it back (the seed\'s scale-to-zero rehearsal)',
        assumeRole: '{{ AutomationAssumeRole }}',
        parameters: {
          AutomationAssumeRole: { type: 'String' },
          Cluster: { type: 'String', default: cluster.clusterName },
          Service: { type: 'String', default: transaction.serviceName },
          HoldDuration: { type: 'String', default: SCALE_TO_ZERO.hold },
          RestoreCount: { type: 'Integer', default: restoreCount },
        },
        mainSteps: [
          { name: 'ScaleToZero', action: 'aws:executeAwsApi', inputs: updateService(0), onFailure: 'step:ScaleBack' },
          { name: 'Hold', action: 'aws:sleep', inputs: { Duration: '{{ HoldDuration }}' }, onFailure: 'step:ScaleBack', onCancel: 'step:ScaleBack' },
          { name: 'ScaleBack', action: 'aws:executeAwsApi', inputs: updateService('{{ RestoreCount }}'), isEnd: true },
        ],
      },
    });
    const automationDefinition = stack.formatArn({ service: 'ssm', resource: 'automation-definition', resourceName: `${documentName}:*` });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ssm:StartAutomationExecution'], resources: [automationDefinition] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ssm:GetAutomationExecution', 'ssm:StopAutomationExecution'], resources: [stack.formatArn({ service: 'ssm', resource: 'automation-execution', resourceName: '*' })] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [automationRole.roleArn] }));
    this.scaleToZero = new fis.CfnExperimentTemplate(this, 'ScaleToZero', {
      description: `Tokyo's transaction service at 0 tasks for ${SCALE_TO_ZERO.holdMinutes} minutes, then ${restoreCount} again`,
      roleArn: role.roleArn,
      stopConditions: [{ source: 'none' }],
      targets: {},
      actions: {
        ScaleToZero: {
          actionId: 'aws:ssm:start-automation-execution',
          parameters: {
            documentArn: stack.formatArn({ service: 'ssm', resource: 'document', resourceName: documentName }),
            documentParameters: stack.toJsonString({ AutomationAssumeRole: automationRole.roleArn }),
            maxDuration: SCALE_TO_ZERO.maxDuration,
          },
        },
      },
      tags: { Name: `${prefix}-scale-transaction-to-zero` },
    });

    const region = stack.region;
    new CfnOutput(this, 'PacketLossExperiment', { value: `aws fis start-experiment --experiment-template-id ${this.packetLoss.attrId} --region ${region}`, description: `${PACKET_LOSS.percent} % packet loss on the load client's host` });
    new CfnOutput(this, 'ScaleToZeroExperiment', { value: `aws fis start-experiment --experiment-template-id ${this.scaleToZero.attrId} --region ${region}`, description: 'The transaction service at 0 tasks, then back' });
    const command = (count: number) => `aws ecs update-service --cluster ${cluster.clusterName} --service ${transaction.serviceName} --desired-count ${count} --region ${region}`;
    new CfnOutput(this, 'ScaleTransactionToZeroCommand', { value: command(0), description: 'The seed\'s manual rehearsal: Tokyo\'s transaction service at 0 tasks' });
    new CfnOutput(this, 'ScaleTransactionBackCommand', { value: command(restoreCount), description: 'Scales it back' });
  }
}
