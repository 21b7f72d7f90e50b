import { createRequire } from 'node:module';
import type * as CdkNag from 'cdk-nag';

// cdk-nag is CommonJS with lazily defined exports that Node's ESM loader cannot see: require it.
export const cdkNag = createRequire(import.meta.url)('cdk-nag') as typeof CdkNag;
