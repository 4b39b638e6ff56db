/**
 * Token estimates for when an upstream says nothing: characters / 4 (the OpenAI docs' rule of
 * thumb). Estimates are flagged `estimated: true` in usage chunks so the ledger can tell them from
 * counted ones.
 */
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../../api/schemas.js';
import type { Usage } from '../../api/types.js';

export type Kind = 'chat' | 'completion';

const CHARS_PER_TOKEN = 4;

function countChars(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return CHARS_PER_TOKEN; // a token id is one token
  if (!Array.isArray(value)) return 0;
  let n = 0;
  for (const v of value) n += countChars(v);
  return n;
}

/** Prompt tokens of a request, estimated from its text (token ids count one each). */
export function estimatePromptTokens(req: ChatCompletionRequest | CompletionRequest | EmbeddingsRequest, kind: Kind | 'embeddings'): number {
  let chars = 0;
  if (kind === 'chat') {
    for (const m of (req as ChatCompletionRequest).messages) {
      const c = m.content;
      if (typeof c === 'string') chars += c.length;
      else if (Array.isArray(c)) for (const p of c) if (typeof p.text === 'string') chars += p.text.length;
    }
  } else if (kind === 'completion') {
    chars = countChars((req as CompletionRequest).prompt);
  } else {
    chars = countChars((req as EmbeddingsRequest).input);
  }
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

/**
 * Completion tokens of a stream so far: each content chunk carries at least one token (OpenAI,
 * vLLM and llama.cpp send one per chunk), and characters / 4 covers servers that batch tokens.
 */
export function estimateCompletionTokens(contentChunks: number, outputChars: number): number {
  return Math.max(contentChunks, Math.ceil(outputChars / CHARS_PER_TOKEN));
}

export function estimatedUsage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, estimated: true };
}
