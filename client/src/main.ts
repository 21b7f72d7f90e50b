/**
 * Entry point of the load client (`npm start -w @corebank/client`, the container's CMD):
 * web UI on :8089 by default, or `--headless`.
 */
import { Command } from 'commander';
import { configureLoadCommand } from './cli.ts';

// Every `Connection: close` response makes node read an error's stack while destroying the
// socket; with tsx's source maps that mapping costs several percent of the client's CPU.
process.setSourceMapsEnabled(false);

await configureLoadCommand(new Command('corebank-load')).parseAsync(process.argv);
