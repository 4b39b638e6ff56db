/**
 * Texts → float vectors, through any backend that answers /v1/embeddings (the local llama model,
 * an OpenAI-compatible upstream, a pool). Shared by the learned router (embedding features) and
 * anyone else who wants dense features without caring which backend makes them.
 *
 *   const e = cachedEmbedder(normalizedEmbedder(backendEmbedder(backend, 'my-model')), 512);
 *   const [v] = await e.embed(['hello'], signal);   // Float32Array, unit length
 *
 * Contract: `embed` returns one vector per input text, in order, all of length `dim`; it rejects
 * (GatewayError from the backend, or the abort reason) rather than returning partial results.
 */
import type { Backend, CallContext } from '../backends/types.js';

export interface TextEmbedder {
  /** Where the vectors come from ("backend/model"): recorded by whoever stores vectors, so a mismatch can be detected. */
  readonly source: string;
  /** Vector length; 0 until the first successful `embed` (backends do not advertise it). */
  readonly dim: number;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
}

export interface BackendEmbedderOptions {
  /** Texts per embeddings request (the local backend accepts 256 by default). */
  batchSize?: number;
  /**
   * Texts longer than this are cut (head kept) before embedding: a small local model has a short
   * context and would reject them; the head of a prompt carries most of what routing needs.
   */
  maxChars?: number;
  /** Request id for the backend's logs. */
  requestId?: string;
}

const neverAborted = new AbortController().signal;

/** Embeds through `backend.embeddings` with `model`. Empty texts get a zero vector (backends reject them). */
export function backendEmbedder(backend: Backend, model: string, options: BackendEmbedderOptions = {}): TextEmbedder {
  const batchSize = options.batchSize ?? 64;
  const maxChars = options.maxChars ?? 2000;
  const requestId = options.requestId ?? 'embedding-features';
  let dim = 0;

  async function embedBatch(texts: string[], signal: AbortSignal): Promise<Float32Array[]> {
    const ctx: CallContext = { requestId, signal };
    const res = await backend.embeddings({ model, input: texts, encoding_format: 'float' }, ctx);
    const out = new Array<Float32Array>(texts.length);
    for (const item of res.data) out[item.index] = toVector(item.embedding);
    for (let i = 0; i < out.length; i++) {
      if (!out[i]) throw new Error(`Embeddings from ${backend.name}/${model} lack index ${i}.`);
    }
    return out;
  }

  async function embed(texts: readonly string[], signal: AbortSignal = neverAborted): Promise<Float32Array[]> {
    const out = new Array<Float32Array>(texts.length);
    const todo: number[] = [];
    for (let i = 0; i < texts.length; i++) if (texts[i]!.trim().length > 0) todo.push(i);
    for (let start = 0; start < todo.length; start += batchSize) {
      const idx = todo.slice(start, start + batchSize);
      const vectors = await embedBatch(idx.map((i) => clip(texts[i]!, maxChars)), signal);
      for (let k = 0; k < idx.length; k++) {
        const v = vectors[k]!;
        if (dim === 0) dim = v.length;
        else if (v.length !== dim) throw new Error(`Embeddings from ${backend.name}/${model} changed length: ${v.length} after ${dim}.`);
        out[idx[k]!] = v;
      }
    }
    if (todo.length < texts.length) {
      // Only empty texts (or some): their vector is zeros, once the length is known.
      if (dim === 0) await embed(['.'], signal);
      for (let i = 0; i < out.length; i++) out[i] ??= new Float32Array(dim);
    }
    return out;
  }

  return {
    source: `${backend.name}/${model}`,
    get dim() {
      return dim;
    },
    embed,
  };
}

/** Wraps an embedder so every vector has unit L2 length (zero vectors stay zero): cosine = dot product. */
export function normalizedEmbedder(inner: TextEmbedder): TextEmbedder {
  return wrapping(inner, async (texts, signal) => (await inner.embed(texts, signal)).map(l2Normalize));
}

/** An embedder with `inner`'s source and dim (read through: a backend learns its dim on first use) and its own `embed`. */
function wrapping(inner: TextEmbedder, embed: TextEmbedder['embed']): TextEmbedder {
  return {
    get source() {
      return inner.source;
    },
    get dim() {
      return inner.dim;
    },
    embed,
  };
}

/**
 * Remembers the last `capacity` texts' vectors (least recently used evicted first): repeated
 * prompts (retries, shared system prompts, training folds) are embedded once. Vectors are shared,
 * callers must not mutate them.
 */
export function cachedEmbedder(inner: TextEmbedder, capacity = 1024): TextEmbedder {
  const cache = new Map<string, Float32Array>();
  return wrapping(inner, async (texts, signal) => {
    const out = new Array<Float32Array>(texts.length);
    const missing = new Map<string, number>(); // text → its index in the batch sent to `inner`
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i]!;
      const hit = cache.get(text);
      if (hit) {
        // Re-insert: Map iteration order is insertion order, so the oldest entry is the LRU one.
        cache.delete(text);
        cache.set(text, hit);
        out[i] = hit;
      } else if (!missing.has(text)) missing.set(text, missing.size);
    }
    if (missing.size > 0) {
      const batch = [...missing.keys()];
      const vectors = await inner.embed(batch, signal);
      for (let k = 0; k < batch.length; k++) {
        cache.set(batch[k]!, vectors[k]!);
        if (cache.size > capacity) cache.delete(cache.keys().next().value!);
      }
      for (let i = 0; i < texts.length; i++) out[i] ??= vectors[missing.get(texts[i]!)!]!;
    }
    return out;
  });
}

/** A copy of `v` scaled to unit L2 length (all-zero vectors are returned as they are). */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum === 0) return v;
  const inv = 1 / Math.sqrt(sum);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

function toVector(embedding: number[] | string): Float32Array {
  if (typeof embedding !== 'string') return Float32Array.from(embedding);
  // base64 little-endian float32, as OpenAI sends when asked for encoding_format=base64.
  const bytes = Buffer.from(embedding, 'base64');
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength >>> 2);
}

function clip(text: string, maxChars: number): string {
  return text.length > maxChars ? text.slice(0, maxChars) : text;
}
