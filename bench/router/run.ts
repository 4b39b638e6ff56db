/**
 * `npm run bench:router`: the learned router on every shared outcome table.
 * - in-domain: 5-fold cross-validated (each prompt scored by a router that never saw it);
 * - trained on the others: a router trained on the other tables only (out of domain, like
 *   RouteLLM's routers, which were trained on Chatbot Arena data, not on the benchmark);
 * next to random (APGR 0.5, CPT(x) = x) and the oracle; on RouterBench Winogrande the N-model
 * frontier and cost_to_match_best (trained on train.csv, tested on test.csv, and 5-fold CV);
 * and the time per routing decision for 100 B, 1 KB and 10 KB prompts.
 * `--json` prints everything as one JSON object instead of tables; `--latency-only` skips the
 * quality figures (a quick latency check).
 * Embedding features (bench/router/embeddings.ts): with ../shared/models/stories260K.gguf present,
 * 5-fold CV APGR with the prompts' embeddings added (gsm8k and mt-bench; `--embed-all`: every
 * table, ~10 min on 2 cores) and the decision time of an embedding router; `--no-embed` skips them.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateTable, type EvalReport } from '../../src/router/evaluate.js';
import { DEFAULT_ROUTER_PATH, LearnedRouter } from '../../src/router/learned.js';
import { trainRouter, type TrainingEmbeddings } from '../../src/router/train.js';
import { embedDatasets, measureAsync, openBenchEmbedder, STORIES_MODEL } from './embeddings.js';
import { createRouter } from '../../src/router/policy-router.js';
import { configSchema } from '../../src/config/schema.js';
import { FakeBackend } from '../../test/support/fake-backend.js';
import { sharedDatasets, winogrande } from './datasets.js';
import { measure, promptOfSize, type LatencyResult } from './latency.js';

const json = process.argv.includes('--json');
const latencyOnly = process.argv.includes('--latency-only');
const log = (...args: unknown[]) => {
  if (!json) console.log(...args);
};

// Published reference points (RouteLLM, arXiv 2406.18665, Table 2, GPT-4 vs Mixtral; best router).
const ROUTELLM: Record<string, { apgr: number; cpt80?: number; note: string }> = {
  gsm8k: { apgr: 0.622, note: 'best router, Arena + golden-label augmented training data' },
  'mt-bench': { apgr: 0.802, cpt80: 0.313, note: 'best router (matrix factorisation), Arena + judge-augmented data' },
};

const f3 = (x: number | null | undefined) => (x === null || x === undefined ? '  n/a' : x.toFixed(3));
const pc = (x: number | null | undefined) => (x === null || x === undefined ? '  n/a' : `${(x * 100).toFixed(1)}%`);

const started = Date.now();
const datasets = sharedDatasets();

type PairResults = Record<string, { cv: EvalReport; others: EvalReport; trainedOn: string[] }>;

/** Weak/strong figures per table: cross-validated in domain, and trained on the other tables. */
function pairFigures(): PairResults {
  const results: PairResults = {};
  for (const d of datasets) {
    const cv = evaluateTable(d.table, { weak: d.weak, strong: d.strong, cv: 5, models: [] });
    const others = datasets.filter((o) => o !== d);
    const router = new LearnedRouter(trainRouter(others.map((o) => ({ table: o.table, weak: o.weak, strong: o.strong })), { modelHeads: false }));
    const out = evaluateTable(d.table, { weak: d.weak, strong: d.strong, router, models: [] });
    results[d.name] = { cv, others: out, trainedOn: others.map((o) => o.name) };
  }
  log(`Learned router, weak/strong (APGR: area under the PGR curve; random 0.500. CPT(x): strong share to recover x of the gap; random = x)\n`);
  log(['dataset'.padEnd(11), 'n'.padStart(6), 'pair'.padEnd(44), 'setting'.padEnd(16), 'APGR', ' dec.', ' CPT50', ' CPT80', '| oracle APGR', 'CPT80', 'strong%', '| RouteLLM'].join('  '));
  for (const d of datasets) {
    const r = results[d.name]!;
    const ref = ROUTELLM[d.name];
    const pair = `${r.cv.weak.split('/').pop()} -> ${r.cv.strong.split('/').pop()}`.slice(0, 44);
    for (const [setting, rep] of [['5-fold CV', r.cv], ['trained on others', r.others]] as const) {
      log(
        [
          d.name.padEnd(11),
          String(rep.n).padStart(6),
          pair.padEnd(44),
          setting.padEnd(16),
          f3(rep.apgr),
          f3(rep.apgr_deciles),
          pc(rep.cpt50).padStart(6),
          pc(rep.cpt80).padStart(6),
          '|',
          f3(rep.oracle_apgr).padStart(11),
          pc(rep.oracle_cpt80).padStart(6),
          pc(rep.oracle_strong_share).padStart(7),
          '|',
          setting === '5-fold CV' && ref ? `APGR ${ref.apgr}${ref.cpt80 ? `, CPT80 ${pc(ref.cpt80)}` : ''}` : '',
        ].join('  '),
      );
    }
  }
  return results;
}

/** N models on RouterBench Winogrande: the cheapest model predicted to answer well enough. */
function winograndeFigures(): { split: EvalReport; cv: EvalReport } {
  const wino = winogrande();
  const splitRouter = new LearnedRouter(trainRouter([{ table: wino.train }], { modelHeads: true }));
  const split = evaluateTable(wino.test, { router: splitRouter });
  const cv = evaluateTable(datasets.find((d) => d.name === 'winogrande')!.table, { cv: 5 });
  log(`\nRouterBench Winogrande, ${wino.test.models.length} models, routing by price (cheapest model with P(good) >= knob):`);
  for (const [setting, rep] of [['train.csv -> test.csv', split], ['5-fold CV (train+test)', cv]] as const) {
    const f = rep.frontier!;
    const best = f.models.find((m) => m.model === f.best_model)!;
    log(`  ${setting.padEnd(24)} n=${f.n}  best single: ${f.best_model} quality ${f3(best.quality)} at $${(best.cost * 1000).toFixed(3)}/1k req;  oracle ${f3(f.oracle.quality)} at $${(f.oracle.cost * 1000).toFixed(3)}/1k`);
    log(`  ${''.padEnd(24)} cost_to_match_best ${rep.cost_to_match_best === null ? 'null (never reached)' : f3(rep.cost_to_match_best)};  router frontier (quality @ $/1k req):`);
    const step = Math.max(1, Math.floor(f.router.length / 8));
    log(`  ${''.padEnd(24)} ${f.router.filter((_, i) => i % step === 0 || i === f.router.length - 1).map((p) => `${f3(p.quality)}@${(p.cost * 1000).toFixed(3)}`).join('  ')}`);
    const beaten = f.models.filter((m) => f.router.some((p) => p.cost <= m.cost && p.quality > m.quality));
    log(`  ${''.padEnd(24)} single models the router beats on both cost and quality: ${beaten.length}/${f.models.length}`);
  }
  return { split, cv };
}

const pairs = latencyOnly ? {} : pairFigures();
const wino = latencyOnly ? null : winograndeFigures();

// Embedding features: the same 5-fold CV with each prompt's embedding added to its features.
const bench = process.argv.includes('--no-embed') ? null : openBenchEmbedder();
const embedAll = process.argv.includes('--embed-all');
const embedFigures: Record<string, { lexical: number | null; embedded: number | null; cpt80: number | null }> = {};
let embedMsPerPrompt: number | null = null;
let gsm8kEmbeddings: TrainingEmbeddings | undefined;
if (bench) {
  const chosen = datasets.filter((d) => (latencyOnly ? d.name === 'gsm8k' : embedAll || d.name === 'gsm8k' || d.name === 'mt-bench'));
  const { byName, msPerPrompt } = await embedDatasets(chosen, bench.embedder);
  embedMsPerPrompt = msPerPrompt;
  gsm8kEmbeddings = byName.get('gsm8k');
  if (!latencyOnly) {
    log(`\nEmbedding features (${STORIES_MODEL.split('/').pop()}, 64 dims, ${msPerPrompt.toFixed(1)} ms per prompt to embed), 5-fold CV APGR:`);
    for (const d of chosen) {
      const rep = evaluateTable(d.table, { weak: d.weak, strong: d.strong, cv: 5, models: [], train: { embeddings: byName.get(d.name)! } });
      const lexical = pairs[d.name]?.cv.apgr ?? null;
      embedFigures[d.name] = { lexical, embedded: rep.apgr, cpt80: rep.cpt80 };
      log(`  ${d.name.padEnd(11)} lexical ${f3(lexical)}   + embeddings ${f3(rep.apgr)}   (CPT80 ${pc(pairs[d.name]?.cv.cpt80)} -> ${pc(rep.cpt80)})`);
    }
  }
}

// Decision latency: what routing adds to a request. `need score` is feature extraction + scoring;
// `auto route` is the whole PolicyRouter.route() of a chat request (reading the body, scoring,
// building the plan), as the gateway runs it.
const shipped = existsSync(DEFAULT_ROUTER_PATH);
let routerPath = DEFAULT_ROUTER_PATH;
if (!shipped) {
  routerPath = join(mkdtempSync(join(tmpdir(), 'sluice-bench-router-')), 'router.json');
  writeFileSync(routerPath, JSON.stringify(trainRouter([{ table: datasets[0]!.table }], { modelHeads: false })));
}
const router = LearnedRouter.load(routerPath);
const gatewayRouter = createRouter(configSchema.parse({ routing: { router: routerPath } }), [
  { backend: new FakeBackend('local', { kind: 'local', locality: 'local' }), config: configSchema.parse({ backends: [{ kind: 'local', name: 'local', model: 'm.gguf' }] }).backends[0]! },
  { backend: new FakeBackend('cloud'), config: configSchema.parse({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9/v1', models: ['gpt-4o-mini'] }] }).backends[0]! },
]);
const ctx = { requestId: 'bench', signal: new AbortController().signal };
const corpus = datasets[0]!.table.items.map((it) => it.prompt);
const latency: LatencyResult[] = [];
for (const bytes of [100, 1024, 10240]) {
  const text = promptOfSize(corpus, bytes);
  latency.push(measure('need score', bytes, () => router.need({ text, turns: 1, endpoint: 'chat.completions' })));
  const body = { model: 'auto', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: text }] };
  latency.push(measure('auto route', bytes, () => gatewayRouter.route({ endpoint: 'chat.completions', body }, ctx)));
}
// With embeddings: the whole awaited route() of a router file with embedding heads, the local
// model embedding each prompt (a new prompt each time: the cache misses), and the same prompt
// again (cache hits: what a retry or a shared prompt costs).
if (bench && gsm8kEmbeddings) {
  const datasetGsm = datasets.find((d) => d.name === 'gsm8k')!;
  const embPath = join(mkdtempSync(join(tmpdir(), 'sluice-bench-router-emb-')), 'router.json');
  writeFileSync(embPath, JSON.stringify(trainRouter([{ table: datasetGsm.table }], { modelHeads: false, embeddings: gsm8kEmbeddings })));
  const localConfig = configSchema.parse({ backends: [{ kind: 'local', name: 'local', model: STORIES_MODEL, threads: 1 }] }).backends[0]!;
  const embRouter = createRouter(configSchema.parse({ routing: { router: embPath, embedder: { timeoutMs: 10_000 } } }), [
    { backend: bench.backend, config: localConfig },
    { backend: new FakeBackend('cloud'), config: configSchema.parse({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9/v1', models: ['gpt-4o-mini'] }] }).backends[0]! },
  ]);
  for (const bytes of [100, 1024, 10240]) {
    const text = promptOfSize(corpus, bytes);
    const reasons = new Set<string>();
    const route = async (t: string) => {
      const plan = await embRouter.route({ endpoint: 'chat.completions', body: { model: 'auto', messages: [{ role: 'user', content: t }] } }, ctx);
      reasons.add(plan.reason ?? '');
    };
    // Unique per size too: prompts are cut to 1000 chars before embedding, so 1 KB and 10 KB prompts share their heads.
    const miss = await measureAsync((i) => route(`${bytes}:${i} ${text}`), 60);
    latency.push({ label: 'emb. route', bytes, ...miss });
    const hit = await measureAsync(() => route(text), 2_000);
    latency.push({ label: 'emb. cached', bytes, ...hit });
    if (reasons.size !== 1 || !reasons.has('learned')) log(`  (embedding router reasons at ${bytes} B: ${[...reasons].join(', ')})`);
  }
}
if (bench) await bench.close();

// The machine's speed right now, for reading the figures: a bare FNV-1a loop over 1 KB.
const reference = measure('reference', 1024, () => {
  const t = corpus[0]!.padEnd(1024, 'x');
  let h = 0x811c9dc5;
  for (let i = 0; i < 1024; i++) h = Math.imul(h ^ t.charCodeAt(i), 16777619);
  return h;
});
log(`\nDecision latency (${shipped ? 'shipped router' : 'router trained on gsm8k'}; target p50 < 50 us at 1 KB; machine shared, so noisy):`);
for (const l of latency) log(`  ${l.label.padEnd(11)} ${String(l.bytes).padStart(6)} B   p50 ${l.p50us.toFixed(1).padStart(6)} us   p99 ${l.p99us.toFixed(1).padStart(7)} us   (${l.iterations} decisions)`);
if (bench) log(`  emb. = a router file with embedding heads, ${STORIES_MODEL.split('/').pop()} embedding each prompt (1 thread; prompts cut to 1000 chars); cached = the same prompt again (LRU hit)`);
log(`  reference: a bare hash loop over 1 KB takes p50 ${reference.p50us.toFixed(1)} us on this machine now (about 1 us on an idle modern core)`);
log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s)`);

if (json) {
  const strip = (r: EvalReport) => ({ ...r, curve: undefined });
  console.log(
    JSON.stringify({
      pairs: Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k, { cv: strip(v.cv), trained_on_others: strip(v.others), trained_on: v.trainedOn }])),
      winogrande_n_models: wino && { split: { cost_to_match_best: wino.split.cost_to_match_best, frontier: wino.split.frontier }, cv: { cost_to_match_best: wino.cv.cost_to_match_best, frontier: wino.cv.frontier } },
      latency,
      reference_us: reference.p50us,
      embeddings: bench && { model: STORIES_MODEL, ms_per_prompt: embedMsPerPrompt, cv_apgr: embedFigures },
    }),
  );
}
