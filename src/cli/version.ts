import { readFileSync } from 'node:fs';
import { Command } from 'commander';

/** package.json sits two levels up both from src/cli (tsx) and dist/cli (built). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function versionCommand(): Command {
  return new Command('version')
    .description('print the sluice version, Node.js version and platform')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      const info = { sluice: packageVersion(), node: process.version, platform: `${process.platform}-${process.arch}` };
      console.log(opts.json ? JSON.stringify(info) : `sluice ${info.sluice} (node ${info.node}, ${info.platform})`);
    });
}
