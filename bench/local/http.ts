/**
 * sluice over HTTP for the local benchmark: `sluice serve` in a child process (as it runs in
 * production: its own event loop, its own llama.cpp thread), streamed `/v1/completions` read as
 * server-sent events by this process. The child's output goes to a log file in the work dir.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { childEnv, freePort, spawnNode, stop, waitReady, type Child } from '../gateway/procs.js';

export interface StreamTiming {
  /** Request start to the end of the stream, ms. */
  ms: number;
  /** Request start to the first event carrying text, ms. */
  ttftMs: number;
  /** Completion tokens (the usage chunk's count for sluice; node-llama-cpp's callbacks for direct). */
  tokens: number;
}

export interface SluiceServer {
  url: string;
  child: Child;
  close(): Promise<void>;
}

export interface ServerOptions {
  root: string;
  workDir: string;
  model: string;
  threads: number;
  contextSize: number;
  parallel: number;
}

export async function startSluice(opts: ServerOptions): Promise<SluiceServer> {
  const port = await freePort();
  const configFile = join(opts.workDir, 'sluice.config.json');
  const config = {
    server: { host: '127.0.0.1', port },
    auth: { enabled: false },
    log: { level: 'warn' },
    dataDir: join(opts.workDir, 'data'),
    backends: [
      { kind: 'local', name: 'local', model: opts.model, gpu: 'off', threads: opts.threads, parallel: opts.parallel, contextSize: opts.contextSize, maxQueue: 64 },
    ],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child = spawnNode({
    name: 'sluice-local',
    // The repository as working directory: `--import tsx` resolves from there (paths in the config are absolute).
    cwd: opts.root,
    logDir: opts.workDir,
    args: ['--import', 'tsx', join(opts.root, 'src/cli/index.ts'), 'serve', '--config', configFile],
    env: childEnv(),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, `${url}/readyz`, 120_000);
  return { url, child, close: () => stop(child) };
}

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

/** One streamed completion over HTTP; TTFT is the first SSE event with text. */
export async function httpStream(url: string, prompt: string, maxTokens: number, temperature: number, seed: number): Promise<StreamTiming> {
  const body = JSON.stringify({ model: 'local', prompt, max_tokens: maxTokens, temperature, seed, stream: true, stream_options: { include_usage: true } });
  const start = performance.now();
  const res = await request(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
  if (res.statusCode !== 200) throw new Error(`sluice answered ${res.statusCode}: ${await res.body.text()}`);
  let ttftMs = Number.NaN;
  let tokens = 0;
  let buffered = '';
  res.body.setEncoding('utf8');
  for await (const piece of res.body as AsyncIterable<string>) {
    buffered += piece;
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6)) as { choices: Array<{ text?: string }>; usage?: { completion_tokens: number } | null; error?: { message: string } };
      if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
      if (Number.isNaN(ttftMs) && chunk.choices[0]?.text) ttftMs = performance.now() - start;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { ms: performance.now() - start, ttftMs, tokens };
}

export function closeHttpAgent(): Promise<void> {
  return agent.close();
}
