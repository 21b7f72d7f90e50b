import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildApp } from '../lib/app.ts';
import cdkJson from '../cdk.json' with { type: 'json' };

/** Builds and synthesizes the app once into a temporary folder; the caller removes it. */
export function synthesizeForTest() {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-cdk-'));
  const built = buildApp({ outdir, context: cdkJson.context });
  built.app.synth();
  return { ...built, outdir, cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }) };
}

/**
 * A state machine's definition with CloudFormation tokens replaced by a placeholder, parsed.
 * The definition is an Fn::Join of string parts and references that sit inside JSON strings.
 */
export function parseDefinition(definitionString: unknown): { StartAt: string; States: Record<string, any> } {
  const join = (definitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const text = typeof definitionString === 'string' ? definitionString : join[1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join(join[0]);
  return JSON.parse(text);
}

/** State names in the order an execution that succeeds at once visits them (a Choice takes its first branch). */
export function executionOrder(definition: { StartAt: string; States: Record<string, any> }): string[] {
  const order: string[] = [];
  let name: string | undefined = definition.StartAt;
  while (name && !order.includes(name)) {
    order.push(name);
    const state: any = definition.States[name];
    if (state.End) break;
    name = state.Type === 'Choice' ? state.Choices[0].Next : state.Next;
  }
  return order;
}
