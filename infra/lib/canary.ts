import { readFileSync } from 'node:fs';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as synthetics from 'aws-cdk-lib/aws-synthetics';
import { Construct } from 'constructs';

/**
 * The canary alarm, as monitor/src/canaries/alarms.ts `canaryAlarms()` defines it for the
 * local system: SuccessPercent < 100 in 2 of 2 periods of 60 s, missing data `missing` (a
 * minute without a run says nothing about Tokyo). Restated here rather than imported: the
 * monitor's module pulls @corebank/kit (Fastify, OpenTelemetry, pg), about 1.5 s more on
 * every synth; infra/test/stacks.test.ts checks that both definitions agree.
 */
export const CANARY_ALARM = {
  metric: 'SuccessPercent',
  threshold: 100,
  comparison: 'LessThanThreshold',
  periodSeconds: 60,
  evaluationPeriods: 2,
  datapointsToAlarm: 2,
  treatMissingData: 'missing',
} as const;

/** `canary-<origin>`: the canary, its alarm and its account (packages/kit `canaryAccountId`), as locally. */
export const canaryName = (origin: string) => `canary-${origin}`;
/** packages/kit `ACCOUNT_HEADER` (checked by the same test). */
export const ACCOUNT_HEADER = 'X_ACCOUNT_ID';

/** The canary's script, inlined (handler `index.handler`); infra/test/canary-script.test.ts runs it. */
export const CANARY_SCRIPT = new URL('../canary/round-trip.cjs', import.meta.url);

/** One run's budget: below the 60 s period, so a Tokyo that does not answer is a failed run in every minute, never a gap. */
const RUN_TIMEOUT = Duration.seconds(30);

export interface RoundTripCanaryProps {
  /** The region the canary runs in: its name and account are `canary-<origin>`. */
  origin: string;
  /** The API it calls: Tokyo's regional endpoint. */
  baseUrl: string;
  vpc: ec2.IVpc;
  vpcSubnets: ec2.SubnetSelection;
  /** Notified when the alarm enters ALARM and when it returns to OK, as the service alarms. */
  topic: sns.ITopic;
}

/** A CloudWatch Synthetics canary making the seed's round trip once a minute, and its alarm. */
export class RoundTripCanary extends Construct {
  readonly canary: synthetics.Canary;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RoundTripCanaryProps) {
    super(scope, id);
    const name = canaryName(props.origin);
    const artifacts = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      lifecycleRules: [{ expiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, description: `${name}: calls the regional API` });
    this.canary = new synthetics.Canary(this, 'Canary', {
      canaryName: name,
      runtime: synthetics.Runtime.SYNTHETICS_NODEJS_PUPPETEER_9_1,
      test: synthetics.Test.custom({ code: synthetics.Code.fromInline(readFileSync(CANARY_SCRIPT, 'utf8')), handler: 'index.handler' }),
      schedule: synthetics.Schedule.rate(Duration.seconds(CANARY_ALARM.periodSeconds)),
      timeout: RUN_TIMEOUT.plus(Duration.seconds(15)),
      environmentVariables: {
        BASE_URL: props.baseUrl,
        ACCOUNT_HEADER,
        ACCOUNT_ID: canaryName(props.origin),
        RUN_TIMEOUT_MS: String(RUN_TIMEOUT.toMilliseconds()),
        POLL_INTERVAL_MS: '200',
      },
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [securityGroup],
      artifactsBucketLocation: { bucket: artifacts },
      successRetentionPeriod: Duration.days(7),
      failureRetentionPeriod: Duration.days(30),
      provisionedResourceCleanup: true,
    });
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      alarmName: name,
      alarmDescription: `${name}: the round trip to ${props.baseUrl} succeeded in less than 100 % of runs for ${CANARY_ALARM.evaluationPeriods} consecutive 1-minute periods`,
      metric: this.canary.metricSuccessPercent({ period: Duration.seconds(CANARY_ALARM.periodSeconds), statistic: 'Average' }),
      threshold: CANARY_ALARM.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: CANARY_ALARM.evaluationPeriods,
      datapointsToAlarm: CANARY_ALARM.datapointsToAlarm,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    const notify = new actions.SnsAction(props.topic);
    this.alarm.addAlarmAction(notify);
    this.alarm.addOkAction(notify);
  }
}
