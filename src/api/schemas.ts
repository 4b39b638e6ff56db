/**
 * Request bodies of the OpenAI API as sluice accepts them. Objects are loose: fields sluice does
 * not know are kept and forwarded, so new OpenAI parameters reach upstreams without a release.
 */
import { z } from 'zod';

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullish();

const contentPart = z.looseObject({ type: z.string() });

/** A call the assistant made, as it comes back in the history (OpenAI's shape). */
const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().optional(),
  /** On `assistant` messages: the calls it made. */
  tool_calls: z.array(toolCall).nullish(),
  /** On `tool` messages: which call this is the result of. */
  tool_call_id: z.string().optional(),
});

/** `type` is open so that tool kinds sluice does not know still reach upstreams; the local backend takes `function`. */
const tool = z.looseObject({
  type: z.string(),
  function: z
    .looseObject({
      name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"'),
      description: z.string().optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    })
    .optional(),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const sampling = {
  model: z.string().min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop,
  seed: z.number().int().nullish(),
  n: z.number().int().min(1).max(1, 'only n=1 is supported').nullish(),
  user: z.string().optional(),
};

export const chatCompletionRequest = z.looseObject({
  ...sampling,
  messages: z.array(message).min(1),
  max_completion_tokens: z.number().int().positive().nullish(),
  response_format: responseFormat.nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});

export const completionRequest = z.looseObject({
  ...sampling,
  /**
   * OpenAI's four forms: a string, strings (a batch), token ids, or lists of token ids. Upstreams
   * take them all; the local backend takes one prompt and refuses a batch by name.
   */
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int().nonnegative()).min(1),
    z.array(z.array(z.number().int().nonnegative()).min(1)).min(1),
  ]),
  echo: z.boolean().nullish(),
  /** Legacy completions: how many top alternatives to return per token (0-5). */
  logprobs: z.number().int().min(0).max(5).nullish(),
});

export const embeddingsRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int())).min(1)]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type ChatMessage = z.infer<typeof message>;
export type ChatTool = z.infer<typeof tool>;
export type ToolChoice = z.infer<typeof toolChoice>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>;
export type ResponseFormat = z.infer<typeof responseFormat>;
