import type { Stack } from 'aws-cdk-lib';
import { cdkNag } from './cdk-nag.ts';

const { NagSuppressions } = cdkNag;

/** Every finding accepted for this sample, with why. */
export function addNagSuppressions(stack: Stack) {
  NagSuppressions.addStackSuppressions(stack, [
  ], true);
}
