/**
 * Embedding features for the learned router: a router file trained with `--embed-model` has an
 * `embedding` block with its own heads over [hashed features | embedding of the prompt]. The
 * plain heads stay in the file and are the fallback: when the embedder is missing, slow or fails,
 * the request is scored lexically (and its route reason says why), never failed.
 *
 * Vectors are L2-normalised, then centred on the training mean and scaled so that a training
 * vector's norm is 1 on average: language-model embeddings share a large common direction, and
 * what tells prompts apart is the rest.
 */
import type { SerializedHead } from './model.js';

export interface EmbeddingBlock {
  /** What made the training vectors: `<backend>/<model>`, or `gguf:<file name>` for a model file. */
  source: string;
  /** The GGUF file name when the source was a file: a local backend serving that file can embed at run time. */
  modelFile?: string;
  /** Vector length. */
  dim: number;
  /** Prompts were cut to this many characters before embedding (the same cut applies at run time). */
  maxChars: number;
  /** Mean of the unit-length training vectors, base64 float32. */
  mean: string;
  /** Multiplier after centring. */
  scale: number;
  /** Threshold on these heads' `need` sending the same share of training prompts to the strong side as the plain threshold. */
  threshold: number;
  /** Same head names and order as the file's plain heads; weights over features.dim + dim. */
  heads: SerializedHead[];
}

/** Why a request was scored without its embedding (route reason suffix); `unavailable`: no embedder configured. */
export type EmbeddingFallback = 'timeout' | 'error' | 'aborted' | 'unavailable';

export interface Standardiser {
  mean: Float32Array;
  scale: number;
}

/** Mean and scale of (already unit-length) training vectors. */
export function fitStandardiser(vectors: readonly Float32Array[], dim: number): Standardiser {
  const mean = new Float32Array(dim);
  if (vectors.length === 0) return { mean, scale: 1 };
  const sum = new Float64Array(dim);
  for (const v of vectors) for (let j = 0; j < dim; j++) sum[j]! += v[j]!;
  for (let j = 0; j < dim; j++) mean[j] = sum[j]! / vectors.length;
  let norms = 0;
  for (const v of vectors) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (v[j]! - mean[j]!) ** 2;
    norms += Math.sqrt(s);
  }
  const avg = norms / vectors.length;
  return { mean, scale: avg > 0 ? 1 / avg : 1 };
}

/** `(v - mean) * scale` into `out`. */
export function standardise(v: Float32Array, s: Standardiser, out: Float32Array): Float32Array {
  const { mean, scale } = s;
  for (let j = 0; j < out.length; j++) out[j] = ((v[j] ?? 0) - mean[j]!) * scale;
  return out;
}

export function encodeFloats(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeFloats(text: string, length: number, what: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== length * 4) throw new Error(`${what}: expected ${length} float32 values, got ${bytes.length / 4}`);
  const out = new Float32Array(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
