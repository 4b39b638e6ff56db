/**
 * Request bodies of the OpenAI API as sluice accepts them. Objects are loose: fields sluice does
 * not know are kept and forwarded, so new OpenAI parameters reach upstreams without a release.
 */
import { z } from 'zod';

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullish();

const contentPart = z.looseObject({ type: z.string() });
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().optional(),
});

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
});

export const completionRequest = z.looseObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1, 'only one prompt per request is supported')]),
  echo: z.boolean().nullish(),
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
export type CompletionRequest = z.infer<typeof completionRequest>;
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>;
export type ResponseFormat = z.infer<typeof responseFormat>;
