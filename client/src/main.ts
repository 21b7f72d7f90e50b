/**
 * Entry point of the load client (`npm start -w @corebank/client`, the container's CMD):
 * web UI on :8089 by default, or `--headless`.
 */
import { Command } from 'commander';
import { configureLoadCommand } from './cli.ts';

await configureLoadCommand(new Command('corebank-load')).parseAsync(process.argv);
