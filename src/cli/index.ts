#!/usr/bin/env node
/** The `sluice` command. Each subcommand lives in its own file. */
import { Command } from 'commander';
import { classifyCommand } from './classify.js';
import { configCommand } from './config.js';
import { distillCommand } from './distill.js';
import { keysCommand } from './keys.js';
import { modelsCommand } from './models.js';
import { redactCommand } from './redact.js';
import { routerCommand } from './router.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
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
  .addCommand(redactCommand())
  .addCommand(routerCommand())
  .addCommand(reportCommand())
  .addCommand(distillCommand())
  .addCommand(classifyCommand())
  .addCommand(runCommand())
  .addCommand(versionCommand());

await program.parseAsync(process.argv);
