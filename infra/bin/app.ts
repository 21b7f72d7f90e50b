/** The CDK app for the `cdk` CLI (`npx cdk deploy --all` in infra/); context comes from cdk.json. */
import { buildApp } from '../lib/app.ts';

buildApp().app.synth();
