import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { SERVICES, type ServiceName } from './config.ts';

/** SPEC "Monitoring": average latency > 1 s, error rate > 5 %, 5-minute period, 2 periods. */
export const ALARM_PERIOD = Duration.minutes(5);
export const ALARM_EVALUATION_PERIODS = 2;
export const LATENCY_THRESHOLD_MS = 1000;
export const ERROR_RATE_THRESHOLD_PERCENT = 5;

/** Application Signals names an ECS service's environment `ecs:<cluster>`. */
const dimensions = (service: ServiceName, clusterName: string) => ({ Service: service, Environment: `ecs:${clusterName}` });

export function latencyMetric(service: ServiceName, clusterName: string, region?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'ApplicationSignals', metricName: 'Latency', dimensionsMap: dimensions(service, clusterName),
    statistic: 'Average', period: ALARM_PERIOD, region, label: `${service} latency (ms)`,
  });
}

/** Fault (5xx) averaged over requests is the share of failed requests; ×100 makes it a percentage. */
export function errorRateMetric(service: ServiceName, clusterName: string, region?: string): cloudwatch.MathExpression {
  // A graph holds both regions' expressions: the metric's id names its region.
  const id = `fault_${(region ?? 'here').replace(/-/g, '_')}`;
  return new cloudwatch.MathExpression({
    expression: `${id} * 100`,
    usingMetrics: {
      [id]: new cloudwatch.Metric({
        namespace: 'ApplicationSignals', metricName: 'Fault', dimensionsMap: dimensions(service, clusterName),
        statistic: 'Average', period: ALARM_PERIOD, region,
      }),
    },
    period: ALARM_PERIOD,
    label: `${service} error rate (%)`,
  });
}

export function requestCountMetric(service: ServiceName, clusterName: string, region?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'ApplicationSignals', metricName: 'Latency', dimensionsMap: dimensions(service, clusterName),
    statistic: 'SampleCount', period: ALARM_PERIOD, region, label: `${service} requests`,
  });
}

/** The eight alarms of the region (`<service>-HighLatency`, `<service>-HighErrorRate`), notifying on ALARM and OK. */
export function addServiceAlarms(scope: Construct, clusterName: string, topic: sns.ITopic): cloudwatch.Alarm[] {
  const notify = new actions.SnsAction(topic);
  return SERVICES.flatMap((service) => {
    const latency = new cloudwatch.Alarm(scope, `${service}-HighLatency`, {
      alarmName: `${service}-HighLatency`,
      alarmDescription: `${service}: average latency above ${LATENCY_THRESHOLD_MS} ms for ${ALARM_EVALUATION_PERIODS} consecutive 5-minute periods`,
      metric: latencyMetric(service, clusterName),
      threshold: LATENCY_THRESHOLD_MS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: ALARM_EVALUATION_PERIODS,
      datapointsToAlarm: ALARM_EVALUATION_PERIODS,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const errors = new cloudwatch.Alarm(scope, `${service}-HighErrorRate`, {
      alarmName: `${service}-HighErrorRate`,
      alarmDescription: `${service}: error rate above ${ERROR_RATE_THRESHOLD_PERCENT} % for ${ALARM_EVALUATION_PERIODS} consecutive 5-minute periods`,
      metric: errorRateMetric(service, clusterName),
      threshold: ERROR_RATE_THRESHOLD_PERCENT,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: ALARM_EVALUATION_PERIODS,
      datapointsToAlarm: ALARM_EVALUATION_PERIODS,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [latency, errors]) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    return [latency, errors];
  });
}

/** `CoreBanking-ApplicationSignals-<env>`: latency, error rate and requests per service, both regions. */
export function addDashboard(scope: Construct, envName: string, regions: { region: string; clusterName: string }[]): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, 'ApplicationSignalsDashboard', {
    dashboardName: `CoreBanking-ApplicationSignals-${envName}`,
  });
  for (const service of SERVICES) {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${service} latency (ms)`, width: 8,
        left: regions.map(({ region, clusterName }) => latencyMetric(service, clusterName, region).with({ label: `${service} ${region}` })),
      }),
      new cloudwatch.GraphWidget({
        title: `${service} error rate (%)`, width: 8,
        left: regions.map(({ region, clusterName }) => errorRateMetric(service, clusterName, region).with({ label: `${service} ${region}` })),
      }),
      new cloudwatch.GraphWidget({
        title: `${service} requests`, width: 8,
        left: regions.map(({ region, clusterName }) => requestCountMetric(service, clusterName, region).with({ label: `${service} ${region}` })),
      }),
    );
  }
  return dashboard;
}
