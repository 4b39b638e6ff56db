/**
 * /v1/embeddings on the local model: one request at a time on an embedding context of its own
 * (created on first use), inputs embedded in turn. Bounded like OpenAI bounds it: at most
 * `maxEmbeddingInputs` inputs per request, none empty, each within the context; long texts are
 * tokenised without blocking the event loop (tokenize.ts).
 */
import type { LlamaEmbeddingContext, Token } from 'node-llama-cpp';
import type { EmbeddingsRequest } from '../../api/schemas.js';
import type { EmbeddingsResponse } from '../../api/types.js';
import type { LocalBackendConfig } from '../../config/schema.js';
import { abortError, errors, gatewayError, toGatewayError, type GatewayError } from '../../errors.js';
import { onAbort } from '../../util/abort.js';
import type { CallContext } from '../types.js';
import type { Loaded } from './loading.js';
import { checkTokenIds, contextLengthError } from './prepare.js';
import { atLeastTokens, tokenizeString } from './tokenize.js';

/** Work the backend waits for on close, and can abort. */
export interface Job {
  controller: AbortController;
  done: Promise<unknown>;
}

export interface EmbedHost {
  readonly name: string;
  readonly active: Set<Job>;
  /** The 503 to answer with while the backend shuts down, else null. */
  closingError(): GatewayError | null;
  queueFullError(): GatewayError;
}

export class Embedder {
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly config: LocalBackendConfig,
    private readonly host: EmbedHost,
  ) {}

  /** Resolves once every queued embeddings request is done. */
  drain(): Promise<void> {
    return this.chain.then(
      () => {},
      () => {},
    );
  }

  async embed(loaded: Loaded, req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    if (!this.config.embeddings) throw errors.unsupported('Embeddings', this.host.name);
    const inputs = embeddingInputs(req.input, loaded.vocabSize, this.config.maxEmbeddingInputs);
    const dims = loaded.model.embeddingVectorSize;
    if (req.dimensions !== undefined && req.dimensions !== dims) {
      throw errors.badRequest(`This model's embeddings have ${dims} dimensions; 'dimensions' cannot change that.`, 'dimensions', 'unsupported_dimensions');
    }
    for (const input of inputs) {
      if (typeof input === 'string' && atLeastTokens(input.length, loaded.longestToken) >= loaded.contextSize) {
        throw contextLengthError(loaded.contextSize, atLeastTokens(input.length, loaded.longestToken), 'input', true);
      }
    }
    // Embeddings run one request at a time on their own context; this bounds how many may wait.
    if (this.pending >= this.config.parallel + this.config.maxQueue) throw this.host.queueFullError();
    if (ctx.signal.aborted) throw abortError(ctx.signal.reason);
    const controller = new AbortController();
    const detach = onAbort(ctx.signal, (reason) => controller.abort(reason));
    this.pending++;
    const work = this.chain.then(async () => {
      const closing = this.host.closingError();
      if (closing) throw closing;
      controller.signal.throwIfAborted();
      const ec = await embeddingContext(loaded);
      const data: EmbeddingsResponse['data'] = [];
      let promptTokens = 0;
      for (let i = 0; i < inputs.length; i++) {
        controller.signal.throwIfAborted();
        const tokens = await this.tokens(loaded, inputs[i]!);
        const n = ec.calculateInputLength(tokens);
        if (n >= loaded.contextSize) throw contextLengthError(loaded.contextSize, n, 'input');
        const { vector } = await ec.getEmbeddingFor(tokens);
        promptTokens += n;
        data.push({ object: 'embedding', index: i, embedding: req.encoding_format === 'base64' ? toBase64(vector) : Array.from(vector) });
      }
      return { data, promptTokens };
    });
    const job: Job = { controller, done: work.catch(() => {}) };
    this.chain = job.done;
    this.host.active.add(job);
    void job.done.then(() => {
      this.pending--;
      this.host.active.delete(job);
      detach();
    });
    // A client that gives up while waiting for its turn gets its answer now, not when the turn comes.
    const aborted = new Promise<never>((_, reject) => {
      onAbort(controller.signal, (reason) => reject(abortError(reason)));
    });
    aborted.catch(() => {});
    try {
      const { data, promptTokens } = await Promise.race([work, aborted]);
      return { object: 'list', data, model: req.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
    } catch (err) {
      throw controller.signal.aborted ? abortError(controller.signal.reason) : toGatewayError(err);
    }
  }

  private async tokens(loaded: Loaded, input: string | Token[]): Promise<Token[]> {
    if (typeof input !== 'string') return input.slice();
    const t = await tokenizeString(loaded.model, input, loaded.contextSize);
    if (t.truncated) throw contextLengthError(loaded.contextSize, t.tokens.length, 'input', true);
    return t.tokens;
  }
}

function embeddingContext(loaded: Loaded): Promise<LlamaEmbeddingContext> {
  loaded.embedding ??= loaded.model.createEmbeddingContext({ contextSize: loaded.contextSize, batchSize: loaded.contextSize, threads: loaded.threads }).catch((err: unknown) => {
    loaded.embedding = undefined;
    throw err;
  });
  return loaded.embedding;
}

/** The request's inputs as a list: strings or token ids, none empty, at most `max` of them. */
export function embeddingInputs(input: EmbeddingsRequest['input'], vocabSize: number, max: number): Array<string | Token[]> {
  const list: Array<string | number[]> =
    typeof input === 'string' ? [input] : input.length > 0 && typeof input[0] === 'number' ? [input as number[]] : (input as Array<string | number[]>);
  if (list.length === 0) throw gatewayError('empty_input', "'input' must not be empty.", { param: 'input' });
  if (list.length > max) {
    throw gatewayError('too_many_inputs', `This backend embeds at most ${max} inputs per request (maxEmbeddingInputs); this request has ${list.length}. Split it into several requests.`, {
      param: 'input',
    });
  }
  return list.map((item, i) => {
    const where = typeof input === 'string' ? 'input' : `input[${i}]`;
    if (item.length === 0) throw gatewayError('empty_input', `'${where}' is empty; an embedding needs at least one token of text.`, { param: 'input' });
    return typeof item === 'string' ? item : checkTokenIds(item, vocabSize, 'input');
  });
}

function toBase64(vector: readonly number[]): string {
  return Buffer.from(Float32Array.from(vector).buffer).toString('base64');
}
