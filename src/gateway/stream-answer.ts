/**
 * Streamed answers for the dispatcher's `onAnswer` observers (distillation capture, shadow mode).
 *
 * An observed stream is wrapped: every chunk passes through unchanged, when the consumer asks for
 * it; on the way the text of choice 0 is added to one string, as the backend produced it (before the
 * privacy guard's restorer sees the chunk, as a non-streamed answer is observed before it is
 * restored). Only when the stream ends normally is the observer told, with the answer a non-streamed
 * request would have got (chat: one assistant message, its tool calls if any; completions: one
 * text), so observers need not know about streams. A stream that fails, that its consumer abandons
 * (`return()`, `throw()`: the client went away), or whose request was aborted is never reported: a
 * partial answer is not an answer.
 *
 * A class rather than an async generator: a generator that never started ignores `return()`, and
 * the backend's stream must hear it (its sequence or connection is freed there).
 */

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  type?: unknown;
  function?: { name?: unknown; arguments?: unknown } | null;
}

interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

interface ChunkChoice {
  index?: unknown;
  delta?: { content?: unknown; tool_calls?: unknown } | null;
  text?: unknown;
  finish_reason?: unknown;
}

interface Chunk {
  choices?: ChunkChoice[] | null;
  usage?: unknown;
}

/** What a stream is made of, and so what the answer assembled from it looks like. */
export type StreamKind = 'chat' | 'completion';

class ObservedStream<T> implements AsyncIterableIterator<T> {
  private readonly inner: AsyncIterator<T>;
  private text = '';
  private toolCalls: ToolCall[] | null = null;
  private finishReason: string | null = null;
  private usage: unknown = null;
  /** Ended (done, failed or abandoned): nothing more is read from the chunks, nothing reported. */
  private over = false;

  constructor(
    source: AsyncIterable<T>,
    private readonly kind: StreamKind,
    private readonly signal: AbortSignal | undefined,
    private readonly onComplete: (answer: object) => void,
  ) {
    this.inner = source[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.over) return this.inner.next();
    let r: IteratorResult<T>;
    try {
      r = await this.inner.next();
    } catch (err) {
      this.over = true;
      throw err;
    }
    // return() ran while this read was pending: whatever it returned is not a complete answer.
    if (this.over) return r;
    if (r.done) {
      this.over = true;
      if (this.signal?.aborted !== true) this.report();
    } else {
      this.add(r.value as Chunk);
    }
    return r;
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.over = true;
    if (this.inner.return !== undefined) return this.inner.return(value);
    return { done: true, value: undefined };
  }

  async throw(err?: unknown): Promise<IteratorResult<T>> {
    this.over = true;
    if (this.inner.throw !== undefined) return this.inner.throw(err);
    await this.return();
    throw err;
  }

  private add(chunk: Chunk): void {
    if (chunk === null || typeof chunk !== 'object') return;
    if (chunk.usage) this.usage = chunk.usage;
    const choices = chunk.choices;
    if (!Array.isArray(choices) || choices.length === 0) return;
    let choice: ChunkChoice | undefined = choices[0];
    // n > 1: each chunk carries the choice it belongs to; choice 0 is the one reported, as unstreamed.
    if (choice && choice.index !== undefined && choice.index !== 0) choice = choices.find((c) => c?.index === 0);
    if (!choice) return;
    if (this.kind === 'chat') {
      const delta = choice.delta;
      if (delta) {
        if (typeof delta.content === 'string') this.text += delta.content;
        if (Array.isArray(delta.tool_calls)) this.addToolCalls(delta.tool_calls as ToolCallDelta[]);
      }
    } else if (typeof choice.text === 'string') {
      this.text += choice.text;
    }
    if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
  }

  /** Tool calls arrive in pieces by index: id, type and name once, the arguments in parts. */
  private addToolCalls(deltas: ToolCallDelta[]): void {
    const calls = (this.toolCalls ??= []);
    for (let i = 0; i < deltas.length; i++) {
      const d = deltas[i];
      if (!d || typeof d !== 'object') continue;
      const at = typeof d.index === 'number' && Number.isInteger(d.index) && d.index >= 0 ? d.index : i;
      const call = (calls[at] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (typeof d.id === 'string' && d.id) call.id = d.id;
      if (typeof d.type === 'string' && d.type) call.type = d.type;
      const fn = d.function;
      if (fn) {
        if (typeof fn.name === 'string' && fn.name) call.function.name = fn.name;
        if (typeof fn.arguments === 'string') call.function.arguments += fn.arguments;
      }
    }
  }

  private report(): void {
    let answer: object;
    if (this.kind === 'chat') {
      const toolCalls = this.toolCalls?.filter((c) => c !== undefined);
      // As unstreamed: a message that only calls tools has null content.
      const message = toolCalls?.length
        ? { role: 'assistant', content: this.text === '' ? null : this.text, tool_calls: toolCalls }
        : { role: 'assistant', content: this.text };
      answer = { object: 'chat.completion', choices: [{ index: 0, message, finish_reason: this.finishReason }] };
    } else {
      answer = { object: 'text_completion', choices: [{ index: 0, text: this.text, finish_reason: this.finishReason }] };
    }
    if (this.usage) (answer as { usage?: unknown }).usage = this.usage;
    try {
      this.onComplete(answer);
    } catch {
      // An observer must never fail the stream it observes.
    }
  }
}

/**
 * Wraps `source` so that `onComplete` hears the assembled answer once the stream has ended normally
 * (never when it failed, was abandoned, or `signal` aborted). The chunks are passed on unchanged.
 */
export function observeStream<T>(source: AsyncIterable<T>, kind: StreamKind, signal: AbortSignal | undefined, onComplete: (answer: object) => void): AsyncIterableIterator<T> {
  return new ObservedStream(source, kind, signal, onComplete);
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
