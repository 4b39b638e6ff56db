/**
 * The upstream event stream, without sockets: `SseParser` turns text into SSE `data` payloads,
 * `ChunkAssembler` turns payloads into the chunks the gateway relays. Both are pure (tested in
 * test/backends/openai-compatible/sse.test.ts); ./stream.ts feeds them from the socket.
 */
import type { ChatCompletionRequest, CompletionRequest } from '../../api/schemas.js';
import type { ChatCompletionChunk, CompletionChunk, Usage } from '../../api/types.js';
import type { GatewayError } from '../../errors.js';
import { badResponse, inBandError, snippet, streamEndedEarly } from './upstream-errors.js';
import { estimateCompletionTokens, estimatedUsage, estimatePromptTokens, type Kind } from './usage.js';

/**
 * Incremental SSE parser (the WHATWG event-stream format, `data` field only): lines split on
 * \n, \r\n and \r, also when the pair is split across two reads; multi-line data joined with \n;
 * comments and other fields ignored. `onData` returns false to stop parsing (the stream is over).
 */
export class SseParser {
  private pendingLine = '';
  private skipLF = false;
  private data: string | undefined = undefined;
  private stopped = false;

  constructor(private readonly onData: (data: string) => boolean) {}

  feed(text: string): void {
    const len = text.length;
    if (len === 0 || this.stopped) return;
    let start = 0;
    if (this.skipLF) {
      this.skipLF = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = start === 0 && this.pendingLine.length > 0 ? this.pendingLine + text.slice(0, i) : text.slice(start, i);
      if (start === 0) this.pendingLine = '';
      if (c === 13) {
        if (i + 1 < len) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLF = true;
        }
      }
      start = i + 1;
      this.line(line);
      if (this.stopped) return;
    }
    if (start < len) this.pendingLine = start === 0 ? this.pendingLine + text : text.slice(start);
  }

  /** The text ended: a last line without its newline and a last event without its blank line still count. */
  end(): void {
    if (this.stopped) return;
    if (this.pendingLine.length > 0) this.line(this.pendingLine);
    this.pendingLine = '';
    if (this.data !== undefined && !this.stopped) this.dispatch();
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.data !== undefined) this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return; // event/id/retry carry nothing we need
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    this.data = this.data === undefined ? value : `${this.data}\n${value}`;
  }

  private dispatch(): void {
    const data = this.data!;
    this.data = undefined;
    if (!this.onData(data)) this.stopped = true;
  }
}

/**
 * Turns upstream event payloads into relayed chunks.
 *
 * Usage: the backend contract wants the last chunk to carry `usage` with empty `choices`. We always
 * ask the upstream for it (`include_usage`). If the upstream puts usage on a chunk that also has
 * choices, that usage is moved to a usage chunk of its own at the end. If the upstream sends no
 * usage at all (some servers ignore `stream_options`), the final usage chunk is an estimate flagged
 * `estimated: true`, so the ledger still sees a number and can tell it apart from a counted one.
 * `usageSoFar()` is what a stream that ends early has consumed (counted if the upstream said, else
 * estimated): an aborted cloud stream still costs money.
 */
export class ChunkAssembler<T extends ChatCompletionChunk | CompletionChunk> {
  /** Chunks ready to relay, in order; the reader takes them from `head`. */
  readonly queue: T[] = [];
  head = 0;
  /** Set when the stream broke (malformed event, error event, early end). */
  error: GatewayError | undefined = undefined;
  /** The answer is complete ([DONE], or a clean end after a finish_reason). */
  complete = false;
  private sawFinish = false;
  private last: T | undefined = undefined;
  private usage: Usage | undefined = undefined;
  private lastWasUsage = false;
  private outputChars = 0;
  private contentChunks = 0;
  private promptEstimate = -1;

  constructor(
    private readonly kind: Kind,
    private readonly req: ChatCompletionRequest | CompletionRequest,
    private readonly backendName: string,
  ) {}

  /** One SSE data payload. Returns false once the stream is over (complete or broken). */
  readonly onData = (data: string): boolean => {
    if (data === '[DONE]') {
      this.finish();
      return false;
    }
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      chunk = undefined;
    }
    if (chunk === null || typeof chunk !== 'object' || Array.isArray(chunk)) {
      this.error = badResponse(this.backendName, `a malformed stream event: ${snippet(data)}`, false);
      return false;
    }
    if (!Array.isArray(chunk.choices)) {
      if (chunk.error != null) {
        this.error = inBandError(this.backendName, chunk.error, false, true);
        return false;
      }
      if (chunk.usage == null) return true; // keep-alive or vendor event: nothing for the client
      chunk.choices = [];
    }
    const usage = chunk.usage;
    if (usage != null && typeof usage === 'object') {
      this.usage = usage;
      if (chunk.choices.length > 0) chunk.usage = null; // moved to the final usage chunk
    }
    this.lastWasUsage = chunk.choices.length === 0 && chunk.usage != null;
    const list = chunk.choices as any[];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (c == null) continue;
      if (c.finish_reason != null) this.sawFinish = true;
      const piece = this.kind === 'chat' ? c.delta?.content : c.text;
      if (typeof piece === 'string' && piece.length > 0) {
        this.outputChars += piece.length;
        this.contentChunks++;
      }
    }
    this.last = chunk as T;
    this.queue.push(chunk as T);
    return true;
  };

  /** The body ended cleanly. Without [DONE] the answer counts only if it visibly finished. */
  endOfBody(): void {
    if (this.complete || this.error !== undefined) return;
    if (this.sawFinish) this.finish();
    else this.error = streamEndedEarly(this.backendName);
  }

  /** Tokens consumed so far: the upstream's count when it sent one, else estimated. */
  usageSoFar(): { prompt: number; completion: number } {
    if (this.usage !== undefined) return { prompt: Number(this.usage.prompt_tokens) || 0, completion: Number(this.usage.completion_tokens) || 0 };
    return { prompt: this.estimatePrompt(), completion: estimateCompletionTokens(this.contentChunks, this.outputChars) };
  }

  private estimatePrompt(): number {
    if (this.promptEstimate < 0) this.promptEstimate = estimatePromptTokens(this.req, this.kind);
    return this.promptEstimate;
  }

  /** The stream is complete: make sure its last chunk carries usage (see the class comment). */
  private finish(): void {
    this.complete = true;
    if (this.lastWasUsage) return;
    const last = this.last;
    let usage = this.usage;
    if (usage === undefined) {
      const so = this.usageSoFar();
      usage = estimatedUsage(so.prompt, so.completion);
    }
    this.queue.push({
      id: last?.id ?? '',
      object: this.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      created: last?.created ?? Math.floor(Date.now() / 1000),
      model: last?.model ?? this.req.model,
      choices: [],
      usage,
    } as unknown as T);
  }
}
