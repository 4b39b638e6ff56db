/**
 * The cluster task: embed the texts (the configured embedding model, or the built-in lexical
 * embedder trained on the texts themselves), cluster them, label each cluster with its distinctive
 * terms and, on request, a one-line title written by the model.
 */
import { normalizeRows } from './linalg.js';
import { mapLimit } from './chunk.js';
import { clusterVectors, distinctiveTerms } from './cluster.js';
import { lexicalEmbed } from './lexical-embedder.js';
import { shapeSummary } from './summarize.js';
import type { TaskRun } from './task-run.js';

/** LSA dimensions when k is chosen automatically (measured on short texts: more dimensions made the silhouette pick worse k). */
const LEXICAL_DIMS = 10;
const TITLE_SAMPLE = 8;
const TITLE_CHARS = 300;

export interface ClusterOptions {
  k?: number;
  /** Model whose embeddings to use; null: the lexical embedder. */
  embeddingModel: string | null;
  /** Model that writes titles; null: no titles. */
  titleModel: string | null;
  concurrency: number;
}

export interface Cluster {
  id: number;
  size: number;
  /** Indexes into the request's `texts`. */
  members: number[];
  /** The most distinctive terms, joined. */
  label: string;
  terms: string[];
  title?: string;
}

export interface ClusterResult {
  k: number;
  embedder: { kind: 'lexical'; method: string; dimensions: number } | { kind: 'model'; model: string; dimensions: number };
  silhouette: number | null;
  /** How k was set: given, or chosen by silhouette among `tried`. */
  k_selection: 'given' | 'silhouette' | 'trivial';
  clusters: Cluster[];
  /** Per text, the id of its cluster. */
  assignments: number[];
}

export async function clusterTexts(run: TaskRun, texts: readonly string[], options: ClusterOptions): Promise<ClusterResult> {
  const n = texts.length;
  let vectors: Float64Array;
  let dims: number;
  let embedder: ClusterResult['embedder'];
  if (options.embeddingModel) {
    const rows = await run.embed(options.embeddingModel, texts);
    dims = rows[0]?.length ?? 1;
    vectors = new Float64Array(n * dims);
    rows.forEach((r, i) => vectors.set(r.slice(0, dims), i * dims));
    normalizeRows(vectors, n, dims);
    embedder = { kind: 'model', model: options.embeddingModel, dimensions: dims };
  } else {
    const wanted = options.k !== undefined ? Math.max(LEXICAL_DIMS, Math.min(100, options.k)) : LEXICAL_DIMS;
    const e = lexicalEmbed(texts, { dims: wanted });
    vectors = e.vectors;
    dims = e.dims;
    embedder = { kind: 'lexical', method: 'tf-idf + truncated svd, trained on the input', dimensions: dims };
    run.addBaseline(run.pricing.baselineEmbeddingCost(texts.reduce((s, t) => s + t.length, 0)));
  }
  const choice = clusterVectors(vectors, n, dims, options.k);
  // Largest cluster first.
  const sizes = new Array<number>(choice.k).fill(0);
  for (const a of choice.assignments) sizes[a]!++;
  const order = sizes.map((s, c) => ({ s, c })).sort((x, y) => y.s - x.s || x.c - y.c).map((x) => x.c);
  const rank = new Array<number>(choice.k);
  order.forEach((c, i) => (rank[c] = i));
  const assignments = Array.from(choice.assignments, (a) => rank[a]!);
  const relabelled = Int32Array.from(assignments);
  const described = distinctiveTerms(texts, relabelled, choice.k);
  const clusters: Cluster[] = order.map((_, id) => ({
    id,
    size: sizes[order[id]!]!,
    members: [] as number[],
    label: described[id]!.terms.slice(0, 3).join(', '),
    terms: described[id]!.terms,
  }));
  assignments.forEach((c, i) => clusters[c]!.members.push(i));

  if (options.titleModel) {
    const model = options.titleModel;
    await mapLimit(clusters, options.concurrency, async (c) => {
      const sample = c.members.slice(0, TITLE_SAMPLE).map((i) => `- ${texts[i]!.slice(0, TITLE_CHARS).replace(/\s+/g, ' ')}`);
      const { text } = await run.chat({
        model,
        messages: [
          { role: 'system', content: 'You name groups of similar texts. Answer with a title of at most 8 words, nothing else.' },
          { role: 'user', content: `Distinctive terms: ${c.terms.join(', ')}\nTexts:\n${sample.join('\n')}\n\nTitle:` },
        ],
        max_tokens: 32,
        temperature: 0.2,
      });
      c.title = shapeSummary(text, 'subject', 8);
    });
  }
  return {
    k: choice.k,
    embedder,
    silhouette: choice.silhouette === null ? null : Math.round(choice.silhouette * 10_000) / 10_000,
    k_selection: options.k !== undefined ? 'given' : choice.tried.length > 0 ? 'silhouette' : 'trivial',
    clusters,
    assignments,
  };
}
