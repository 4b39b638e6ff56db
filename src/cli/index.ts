#!/usr/bin/env node
/** The `sluice` command. Each subcommand lives in its own file. */
import { Command } from 'commander';
import { configCommand } from './config.js';
import { keysCommand } from './keys.js';
import { modelsCommand } from './models.js';
import { serveCommand } from './serve.js';
import { packageVersion, versionCommand } from './version.js';

const program = new Command('sluice')
  .description('OpenAI-compatible gateway: small models on your own machines, the cloud only for the hard part')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError()
  .addCommand(serveCommand())
  .addCommand(configCommand())
  .addCommand(keysCommand())
  .addCommand(modelsCommand())
  .addCommand(versionCommand());

await program.parseAsync(process.argv);
