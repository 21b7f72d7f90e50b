#!/usr/bin/env node
// The `corebank` command: builds whatever changed since the last build (quickly nothing),
// then runs the built CLI, so `npm ci` + `npm start` stay the whole set-up.
import { ensureBuilt } from './build.js';

await ensureBuilt({ log: (line) => console.log(`  ${line}`) });
await import('../dist/cli/main.js');
