/** Request bodies of the task APIs (also the records a batch job sends). */
import { z } from 'zod';

const text = z.string({ error: 'must be a string' });
const texts = z.array(text, { error: 'must be an array of strings' }).min(1, 'must hold at least one text');

const common = {
  /** Model to ask instead of the configured task model. */
  model: z.string().min(1).optional(),
  /** Keep every model call of this task on local backends. */
  local_only: z.boolean().optional(),
};

function oneOf<T extends Record<string, unknown>>(a: keyof T & string, b: keyof T & string) {
  return (body: T, ctx: z.RefinementCtx) => {
    const has = (k: string) => body[k] !== undefined;
    if (has(a) === has(b)) ctx.addIssue({ code: 'custom', path: [a], message: `send either '${a}' or '${b}' (exactly one)` });
  };
}

export const summarizeRequest = z
  .looseObject({
    ...common,
    text: text.optional(),
    texts: texts.optional(),
    max_words: z.number().int().min(1).max(2000).optional(),
    style: z.enum(['bullets', 'paragraph', 'subject']).default('paragraph'),
  })
  .superRefine(oneOf('text', 'texts'));

export const extractRequest = z.looseObject({
  ...common,
  text,
  schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }),
  /** Token limit of each answer. */
  max_tokens: z.number().int().positive().max(8192).default(512),
});

const labels = z
  .array(z.string().trim().min(1, 'labels must not be empty'))
  .min(2, 'needs at least two labels')
  .max(200, 'at most 200 labels')
  .refine((l) => new Set(l).size === l.length, 'labels must be unique');

export const classifyRequest = z
  .looseObject({
    ...common,
    text: text.optional(),
    texts: texts.optional(),
    labels: labels.optional(),
    classifier: z.string().min(1).optional(),
  })
  .superRefine(oneOf('text', 'texts'))
  .superRefine(oneOf('labels', 'classifier'));

export const clusterRequest = z
  .looseObject({
    ...common,
    texts: texts.max(20_000, 'at most 20000 texts per request'),
    k: z.number().int().min(1).max(500).optional(),
    /** Ask the model for a one-line title per cluster. */
    titles: z.boolean().default(false),
    /** Embedding model instead of the configured one; `"lexical"` forces the built-in embedder. */
    embedding_model: z.string().min(1).optional(),
  })
  .refine((b) => b.k === undefined || b.k <= b.texts.length, { path: ['k'], message: 'must not exceed the number of texts' });

export type SummarizeRequest = z.output<typeof summarizeRequest>;
export type ExtractRequest = z.output<typeof extractRequest>;
export type ClassifyRequest = z.output<typeof classifyRequest>;
export type ClusterRequest = z.output<typeof clusterRequest>;
