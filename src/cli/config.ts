import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';

export function configCommand(): Command {
  const config = new Command('config').description('inspect the configuration');
  config
    .command('check')
    .description('validate sluice.config.{json,yaml} and SLUICE_* variables; exit 1 with each problem as "path: reason"; warn about what is valid but likely a mistake')
    .option('-c, --config <file>', 'config file (default: SLUICE_CONFIG or ./sluice.config.{json,yaml,yml})')
    .option('--print', 'print the effective configuration (defaults applied) as JSON')
    .action((opts: { config?: string; print?: boolean }) => {
      try {
        const { config: cfg, file, envApplied, warnings } = loadConfig({ file: opts.config });
        console.log(`config ok: ${file ?? 'no file, built-in defaults'}${envApplied.length ? ` (+ ${envApplied.join(', ')})` : ''}`);
        for (const b of cfg.backends) {
          const target = b.kind === 'local' ? b.model : b.kind === 'pool' ? `${b.members.length} members` : b.baseUrl;
          const models = Object.keys(b.models ?? { [b.name]: b.name }).join(', ');
          console.log(`  backend ${b.name} (${b.kind}): ${target}; models: ${models}${b.fallbacks.length ? `; fallbacks: ${b.fallbacks.join(' -> ')}` : ''}`);
        }
        // Valid but probably a mistake: said, not fatal (exit 0).
        for (const w of warnings) console.log(`  warning: ${w}`);
        if (opts.print) console.log(JSON.stringify(cfg, null, 2));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(err.message);
        process.exitCode = 1;
      }
    });
  return config;
}
