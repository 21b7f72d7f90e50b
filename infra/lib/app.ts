import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Aspects } from 'aws-cdk-lib';
import { cdkNag } from './cdk-nag.ts';
import { ENV_NAMES, type EnvName, environmentParameters, stackName } from './config.ts';
import { GlobalRouting } from './failover.ts';
import { addNagSuppressions, addWildcardSuppressions } from './nag.ts';
import { RecoveryStack } from './recovery-stack.ts';
import { RegionStack } from './region-stack.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The whole deployment of one environment: recovery (us-west-2), primary, secondary. */
export function buildApp(props: AppProps = {}) {
  const app = new App(props);
  const envName = (app.node.tryGetContext('envName') ?? 'Dev') as EnvName;
  if (!ENV_NAMES.includes(envName)) throw new Error(`context envName must be one of ${ENV_NAMES.join(', ')}, not ${envName}`);
  const account = String(app.node.tryGetContext('account') ?? '111111111111');
  const parameters = environmentParameters(envName, { account, notifyEmail: app.node.tryGetContext('notifyEmail') });
  const recovery = new RecoveryStack(app, stackName('recovery', envName), {
    env: { account, region: parameters.monitoringRegion }, parameters, crossRegionReferences: true,
    description: 'corebank: Route 53 ARC cluster, control panel and routing controls',
  });
  const primary = new RegionStack(app, stackName('primary', envName), {
    env: { account, region: parameters.primary.region }, parameters, place: 'primary', repoRoot: REPO_ROOT, crossRegionReferences: true,
    description: 'corebank: primary region (services, Aurora writer, DynamoDB global table, bastion)',
  });
  const secondary = new RegionStack(app, stackName('secondary', envName), {
    env: { account, region: parameters.secondary.region }, parameters, place: 'secondary', repoRoot: REPO_ROOT, crossRegionReferences: true,
    description: 'corebank: secondary region (services, Aurora secondary, Route 53 records, failover workflows)',
  });
  secondary.addDependency(primary, 'the secondary Aurora cluster joins the global cluster, and the replicas of the table and secrets come from the primary');
  const routing = new GlobalRouting(secondary, 'GlobalRouting', { parameters, regions: { primary, secondary }, recovery });
  const stacks = { recovery, primary, secondary };
  for (const stack of Object.values(stacks)) addNagSuppressions(stack);
  addWildcardSuppressions(app);
  Aspects.of(app).add(new cdkNag.AwsSolutionsChecks({ verbose: true }));
  return { app, parameters, stacks, routing };
}
