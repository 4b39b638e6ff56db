/**
 * `sluice redact [--mode mask|pseudonymise]`: JSON lines `{"text": …}` on stdin, one JSON line
 * `{"text","redacted","entities":[{"type","start","end","score"}]}` per input line on stdout, in
 * order. Blank lines are skipped; a line that is not `{"text": string}` gets `{"error": …}` in its
 * place (and the exit code is 1), so outputs stay aligned with inputs.
 */
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { DetectingGuard } from '../privacy/detecting-guard.js';
import { parseRedactMode, redactText, type RedactMode } from '../privacy/redact.js';
import { ScanFailure } from '../privacy/scanner.js';

export function redactCommand(): Command {
  return new Command('redact')
    .description('find and replace personal data in JSON lines {"text": …} from stdin (nothing leaves the machine)')
    .addOption(new Option('-m, --mode <mode>', 'replacement for every finding').choices(['mask', 'pseudonymise', 'pseudonymize', 'hash']).default('mask'))
    .option('-c, --config <file>', 'config file, for its privacy block (minScore, timeBudgetMs, secretEnv)')
    .option('--min-score <n>', 'ignore findings scored below this (0..1)')
    .action(async (opts: { mode: string; config?: string; minScore?: string }) => {
      let privacy;
      try {
        privacy = loadConfig({ file: opts.config }).config.privacy;
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          process.exit(1);
        }
        throw err;
      }
      const minScore = opts.minScore === undefined ? privacy.minScore : Number(opts.minScore);
      if (!(minScore >= 0 && minScore <= 1)) {
        console.error('error: --min-score must be a number between 0 and 1');
        process.exit(1);
      }
      const guard = new DetectingGuard({ config: { ...privacy, minScore } });
      const mode = parseRedactMode(opts.mode) as RedactMode;
      const code = await redactStream(guard, mode, process.stdin, (line) => process.stdout.write(`${line}\n`));
      process.exitCode = code;
    });
}

/** Processes JSON lines from `input`; returns the exit code (1 when any line was rejected). */
export async function redactStream(guard: DetectingGuard, mode: RedactMode, input: NodeJS.ReadableStream, write: (line: string) => boolean | void): Promise<number> {
  let code = 0;
  let lineNo = 0;
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let text: unknown;
    try {
      text = (JSON.parse(line) as { text?: unknown })?.text;
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') {
      code = 1;
      write(JSON.stringify({ error: { message: `line ${lineNo}: expected a JSON object {"text": string}` } }));
      continue;
    }
    try {
      write(JSON.stringify(redactText(guard, text, mode)));
    } catch (err) {
      if (!(err instanceof ScanFailure)) throw err;
      code = 1;
      write(JSON.stringify({ error: { message: `line ${lineNo}: ${err.message}; the text was not redacted` } }));
    }
  }
  return code;
}
