/** `npm run cdk:synth`: synthesizes every stack into infra/cdk.out, offline and with no credentials. */
import * as path from 'node:path';
import { buildApp, REPO_ROOT } from '../lib/app.ts';
import cdkJson from '../cdk.json' with { type: 'json' };

const started = Date.now();
const { app } = buildApp({ outdir: path.join(REPO_ROOT, 'infra/cdk.out'), context: cdkJson.context });
const assembly = app.synth();
// A lookup would need credentials: every context value it would fetch is committed in cdk.json.
if (assembly.manifest.missing?.length) throw new Error(`context missing (add it to infra/cdk.json): ${assembly.manifest.missing.map((m) => m.key).join(', ')}`);
console.log(`synthesized ${assembly.stacks.map((stack) => stack.stackName).join(', ')} into infra/cdk.out in ${((Date.now() - started) / 1000).toFixed(1)} s`);
