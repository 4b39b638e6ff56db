/** Response shapes of the OpenAI API that sluice produces (local backend) or relays (upstreams). */

/** The inference endpoints of the API: what a request is, for routing, privacy, the ledger and tasks. */
export type Endpoint = 'chat.completions' | 'completions' | 'embeddings';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [extra: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'function_call' | null;

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; [extra: string]: unknown };
    finish_reason: FinishReason;
    logprobs?: unknown;
    [extra: string]: unknown;
  }>;
  usage?: Usage;
  system_fingerprint?: string | null;
  [extra: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; [extra: string]: unknown };
    finish_reason: FinishReason;
    logprobs?: unknown;
    [extra: string]: unknown;
  }>;
  /** Only on the final usage chunk (`stream_options.include_usage`), whose `choices` is empty. */
  usage?: Usage | null;
  [extra: string]: unknown;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: number; text: string; finish_reason: FinishReason; logprobs: unknown; [extra: string]: unknown }>;
  usage?: Usage;
  [extra: string]: unknown;
}

/** Streamed text completions reuse the `text_completion` object, one per chunk. */
export type CompletionChunk = Completion;

export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelInfo {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}
