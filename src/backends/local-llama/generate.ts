/**
 * Generation on one context sequence: the token loop, over node-llama-cpp's
 * `sequence.evaluateWithMetadata` rather than LlamaCompletion, because the loop needs to:
 * - detokenise each token with the tokens before it as context (a first token's leading space is
 *   text: "Once upon a" -> " time", which LlamaCompletion dropped);
 * - carry log-probabilities (the sampler's distribution: the model's own at temperature 0);
 * - switch grammars mid-answer for tool calls (free text, then the function name, then the
 *   arguments under the function's schema);
 * - do little JS per token: one detokenise, the stop matcher, the emitter.
 * The sequence keeps its KV cache between requests: a new prompt only evaluates what differs from
 * what the sequence already holds (a repeated system prompt or chat history is not evaluated again).
 */
import { randomBytes } from 'node:crypto';
import {
  LlamaGrammarEvaluationState,
  LlamaText,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type SequenceEvaluateOptions,
  type Token,
} from 'node-llama-cpp';
import type { FinishReason } from '../../api/types.js';
import { abortError, gatewayError, type GatewayError } from '../../errors.js';
import type { BatchGatherer } from './batching.js';
import { TextEmitter, type PieceSink, type TokenLogprob, type TopLogprob } from './emitter.js';
import type { GrammarCache } from './grammars.js';
import { grammarStops, type Prepared, type Sampling } from './prepare.js';
import { tokenizeLlamaText } from './tokenize.js';
import { checkArguments, type ToolCall, type ToolPlan } from './tools.js';
import { errorMessage } from '../../util/errors.js';

/** Sampled draws of a tool call's arguments before values the grammar could not rule out are an error. */
const ARGUMENT_DRAWS = 3;

export interface GenerationResult {
  text: string;
  completionTokens: number;
  finishReason: FinishReason;
  toolCalls: ToolCall[];
  logprobs: TokenLogprob[] | null;
}

/** Counted as tokens come, so an aborted generation still reports what it consumed. */
export interface Progress {
  completionTokens: number;
}

type EndReason = 'eog' | 'stop' | 'length' | 'call';

interface PhaseOptions {
  grammar: LlamaGrammar | undefined;
  maxTokens: number;
  emitter: TextEmitter;
  stopTokens?: ReadonlySet<Token>;
  /** A special token that starts a tool call. */
  callToken?: Token;
  /** A text that starts a tool call (one of the emitter's stops). */
  callText?: string;
  /** null: none; n: the chosen token's logprob and the n most likely alternatives. */
  logprobs: number | null;
}

/** Tokens of context the detokeniser sees before a token (enough for SentencePiece's space rules). */
const DETOKENIZE_CONTEXT = 4;
/** Tokens a character split across tokens may take before it is emitted anyway. */
const MAX_PARTIAL_TOKENS = 4;
/** OpenAI's floor for a log-probability too small for a float. */
const MIN_LOGPROB = -9999;

export class Generator {
  constructor(
    private readonly model: LlamaModel,
    private readonly gatherer: BatchGatherer,
    private readonly grammars: GrammarCache,
  ) {}

  async run(sequence: LlamaContextSequence, prep: Prepared, signal: AbortSignal, sink: PieceSink | undefined, progress: Progress): Promise<GenerationResult> {
    const plan = prep.tools;
    const callText = plan?.mode === 'auto' ? plan.syntax.trigger.text : undefined;
    const emitter = new TextEmitter(callText ? [...prep.stops.strings, callText] : prep.stops.strings, prep.grammar?.trimWhitespaceSuffix === true, prep.logprobs !== null, sink, prep.trimStart);
    const result = (finishReason: FinishReason, toolCalls: ToolCall[] = []): GenerationResult => ({
      text: emitter.text,
      completionTokens: progress.completionTokens,
      finishReason,
      toolCalls,
      logprobs: emitter.logprobs,
    });

    if (plan?.mode !== 'required') {
      const end = await this.phase(sequence, prep.tokens, prep.sampling, signal, progress, {
        grammar: prep.grammar,
        maxTokens: prep.maxTokens,
        emitter,
        stopTokens: prep.stops.tokens,
        callToken: plan?.syntax.trigger.token,
        callText,
        logprobs: prep.logprobs,
      });
      emitter.finish();
      if (end !== 'call') return result(end === 'length' ? 'length' : 'stop');
    }
    const call = await this.writeCall(sequence, prep, plan!, emitter.text, signal, progress);
    return call ? result('tool_calls', [call]) : result('length');
  }

  /**
   * A tool call in the model's own syntax: the prefix is written for it, then it picks the name
   * (under a grammar of the allowed names) and writes the arguments (under the function's schema).
   * Null when max_tokens ran out first: a cut call is never returned.
   */
  private async writeCall(sequence: LlamaContextSequence, prep: Prepared, plan: ToolPlan, content: string, signal: AbortSignal, progress: Progress): Promise<ToolCall | null> {
    // The prompt so far and what is written for the model, tokenised as one text, as the template
    // would render a finished call in the history (separately tokenised pieces differ at the seams).
    const promptWith = async (...parts: Array<string | LlamaText>): Promise<Token[]> => {
      const text = LlamaText([prep.rendered ?? '', content, ...parts]);
      const { tokens } = await tokenizeLlamaText(this.model, text, Number.POSITIVE_INFINITY);
      const bos = prep.tokens[0] === this.model.tokens.bos ? prep.tokens[0] : undefined;
      return bos !== undefined && tokens[0] !== bos ? [bos, ...tokens] : tokens;
    };
    const { prefix, paramsPrefix } = plan.syntax;
    let name = plan.allowed[0]!;
    if (plan.allowed.length > 1) {
      const names = new TextEmitter([], false, false, undefined);
      const end = await this.phase(sequence, await promptWith(prefix), prep.sampling, signal, progress, {
        grammar: await this.grammars.oneOf(plan.allowed),
        maxTokens: prep.maxTokens - progress.completionTokens,
        emitter: names,
        logprobs: null,
      });
      names.finish();
      if (end === 'length' || !plan.functions.has(names.text)) return null;
      name = names.text;
    }
    const fn = plan.functions.get(name)!;
    const grammar = await this.grammars.jsonSchema(fn.parameters, 'tools');
    const prompt = await promptWith(prefix, name, paramsPrefix);
    // The grammar fixes the JSON's shape, not every value: an integer can run past what a double
    // holds (Infinity, not an integer), a number past its `maximum`. Sampled answers get more
    // draws with other seeds before that is an error; a greedy one would only repeat itself.
    const draws = prep.sampling.seed !== undefined ? ARGUMENT_DRAWS : 1;
    for (let draw = 0; ; draw++) {
      const sampling = draw === 0 ? prep.sampling : { ...prep.sampling, seed: (prep.sampling.seed! + draw * 0x9e3779b1) >>> 0 };
      const args = new TextEmitter(grammarStops(grammar), true, false, undefined);
      const end = await this.phase(sequence, prompt, sampling, signal, progress, { grammar, maxTokens: prep.maxTokens - progress.completionTokens, emitter: args, logprobs: null });
      args.finish();
      if (end === 'length') return null;
      let failure: GatewayError;
      try {
        const parsed = grammar.parse(args.text);
        const problem = checkArguments(fn, parsed);
        if (!problem) return { id: `call_${randomBytes(12).toString('hex')}`, type: 'function', function: { name, arguments: JSON.stringify(parsed) } };
        failure = gatewayError('internal_error', `The local model's arguments for '${name}' break a rule of its schema the grammar cannot enforce (${problem}).`);
      } catch (err) {
        failure = gatewayError('internal_error', `The local model's arguments for '${name}' do not parse: ${errorMessage(err)}`, { cause: err });
      }
      if (draw + 1 >= draws) throw failure;
    }
  }

  /**
   * Evaluates `tokens` (reusing what the sequence already holds of them) and samples until an
   * end-of-generation token, a stop, a tool call starting, or `maxTokens`.
   */
  private async phase(
    sequence: LlamaContextSequence,
    tokens: Token[],
    sampling: Sampling,
    signal: AbortSignal,
    progress: Progress,
    opts: PhaseOptions,
  ): Promise<EndReason> {
    // No context shift: what is generated must fit beside what is evaluated.
    const maxTokens = Math.min(opts.maxTokens, sequence.contextSize - tokens.length);
    if (maxTokens <= 0) return 'length';
    signal.throwIfAborted();
    // Keep the longest prefix the sequence already evaluated; at least one token is evaluated, for its logits.
    await this.gatherer.admit(() => sequence.adaptStateToTokens(tokens.slice(0, -1), false));
    const input = tokens.slice(sequence.nextTokenIndex);
    const recent = tokens.slice(-DETOKENIZE_CONTEXT);
    const history: Token[] = [];
    const penalty = sampling.repeatPenalty;
    const nl = this.model.tokens.nl;
    const options: SequenceEvaluateOptions = {
      temperature: sampling.temperature,
      ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
      ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
      ...(opts.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model: this.model, grammar: opts.grammar }) } : {}),
      ...(penalty
        ? {
            repeatPenalty: {
              punishTokens: () => history.slice(-penalty.lastTokens).filter((t) => t !== nl),
              maxPunishTokens: penalty.lastTokens,
              penalty: penalty.penalty,
              presencePenalty: penalty.presencePenalty,
              frequencyPenalty: penalty.frequencyPenalty,
            },
          }
        : {}),
    };
    const top = opts.logprobs;
    const metadata = top === null ? {} : top > 0 ? { probabilities: true, confidence: true } : { confidence: true };
    const partial: Token[] = [];
    let partialLogprobs: TokenLogprob[] | undefined;
    let count = 0;
    let end: EndReason = 'eog';
    this.gatherer.enter();
    const iterator = sequence.evaluateWithMetadata(input, metadata, options);
    let next = iterator.next();
    let ahead = true;
    try {
      for (;;) {
        const step = await next;
        ahead = false;
        if (step.done) break;
        const out = step.value;
        const token = out.token;
        count++;
        progress.completionTokens++;
        history.push(token);
        if (opts.stopTokens?.has(token)) {
          end = 'stop';
          break;
        }
        if (token === opts.callToken) {
          end = 'call';
          break;
        }
        const last = count >= maxTokens;
        // Seen once per token: a client that went away frees the sequence within one decode step.
        if (!last && !signal.aborted) {
          const admission = this.gatherer.yieldToAdmission();
          if (admission) await admission;
          // The next token is asked for before this one's text is handled (detokenising, stops,
          // streaming): its decode runs on llama.cpp's thread meanwhile. A text stop found below
          // costs one token decoded for nothing.
          next = iterator.next();
          ahead = true;
        }
        if (top !== null) (partialLogprobs ??= []).push(this.logprob(token, out as { confidence?: number; probabilities?: Map<Token, number> }, top, recent));
        partial.push(token);
        const text = this.model.detokenize(partial, false, recent);
        // A character split over several tokens waits for its last byte.
        if (text.endsWith('\uFFFD') && partial.length < MAX_PARTIAL_TOKENS && !this.model.isSpecialToken(token) && !last) continue;
        for (const t of partial) {
          recent.push(t);
          if (recent.length > DETOKENIZE_CONTEXT) recent.shift();
        }
        partial.length = 0;
        const more = opts.emitter.push(text, partialLogprobs);
        partialLogprobs = undefined;
        if (!more) {
          end = opts.callText !== undefined && opts.emitter.matchedStop === opts.callText ? 'call' : 'stop';
          break;
        }
        if (last) {
          end = 'length';
          break;
        }
        if (signal.aborted) break;
      }
    } finally {
      // A token asked for ahead is not wanted any more; its decode finishes before the sequence is let go.
      if (ahead) next.catch(() => {});
      await iterator.return(undefined).catch(() => {});
      this.gatherer.leave();
    }
    if (signal.aborted) throw abortError(signal.reason);
    return end;
  }

  private logprob(token: Token, out: { confidence?: number; probabilities?: Map<Token, number> }, top: number, context: readonly Token[]): TokenLogprob {
    const entry = (t: Token, p: number | undefined): TopLogprob => {
      const text = this.model.detokenize([t], false, context);
      return { token: text, logprob: p !== undefined && p > 0 ? Math.max(MIN_LOGPROB, Math.log(p)) : MIN_LOGPROB, bytes: [...Buffer.from(text, 'utf8')] };
    };
    const chosen = entry(token, out.confidence ?? out.probabilities?.get(token));
    const alternatives: TopLogprob[] = [];
    if (top > 0 && out.probabilities) {
      for (const [t, p] of out.probabilities) {
        if (alternatives.length >= top) break;
        alternatives.push(entry(t, p));
      }
    }
    return { ...chosen, top: alternatives };
  }
}
