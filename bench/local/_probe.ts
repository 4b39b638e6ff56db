import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { localSchema } from '../../src/config/schema.js';
const model = new URL('../../../shared/models/stories260K.gguf', import.meta.url).pathname;
const cfg = localSchema.parse({ kind: 'local', name: 'l', model, threads: Number(process.argv[2] ?? 1), gpu: 'off', parallel: 1, contextSize: 1024 });
const b = new LocalLlamaBackend(cfg, { modelsDir: '/tmp/sluice-probe', logger: pino({ level: 'info' }) });
await b.start(); await b.whenLoaded();
for (const seed of [1,2,3,4,5,6,7,8]) {
  const t = performance.now();
  const r = await b.completion({ model: 'l', prompt: 'Once upon a time', max_tokens: 400, temperature: 0.8, seed }, { requestId: 'x', signal: new AbortController().signal });
  const ms = performance.now() - t;
  console.log(seed, r.usage, r.choices[0]!.finish_reason, (ms / r.usage.completion_tokens!).toFixed(2), 'ms/tok', JSON.stringify(r.choices[0]!.text.slice(0, 60)));
}
await b.close();
