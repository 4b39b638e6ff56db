/**
 * An upstream event stream relayed as an async iterator: bytes from the socket go through the
 * SSE parser and the chunk assembler (./sse.ts), chunks are yielded as they arrive.
 *
 * Ending: at [DONE] the stream ends at once (the rest of the body is drained in the background so
 * the connection stays reusable; an upstream that keeps the response open cannot hold the client's
 * [DONE] hostage). An early return() or an abort destroys the upstream request. However it ends,
 * the deadline is cleared, `release` runs once (also when a consumer walks away after an abort
 * without calling return()), and a stream that did not complete reports what it consumed through
 * `ctx.reportUsage` (an aborted cloud stream still costs money).
 */
import type { Dispatcher } from 'undici';
import type { ChatCompletionRequest, CompletionRequest } from '../../api/schemas.js';
import type { ChatCompletionChunk, CompletionChunk } from '../../api/types.js';
import { abortError, type GatewayError } from '../../errors.js';
import type { Deadline } from '../../util/deadline.js';
import type { CallContext } from '../types.js';
import { ChunkAssembler, SseParser } from './sse.js';
import { streamBrokenError, timeoutError } from './upstream-errors.js';
import type { Kind } from './usage.js';

const DECODE_STREAM = { stream: true };
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export interface StreamOwner {
  readonly name: string;
  readonly timeoutMs: number;
  /** Called once when the stream is over, however it ended. */
  release(): void;
}

export class UpstreamStream<T extends ChatCompletionChunk | CompletionChunk> implements AsyncIterableIterator<T> {
  private readonly source: AsyncIterator<Buffer>;
  private readonly decoder = new TextDecoder();
  private readonly chunks: ChunkAssembler<T>;
  private readonly parser: SseParser;
  private finished = false;
  private released = false;

  constructor(
    private readonly body: Dispatcher.ResponseData['body'],
    private readonly ctx: CallContext,
    private readonly deadline: Deadline,
    kind: Kind,
    req: ChatCompletionRequest | CompletionRequest,
    private readonly owner: StreamOwner,
  ) {
    this.chunks = new ChunkAssembler<T>(kind, req, owner.name);
    this.parser = new SseParser(this.chunks.onData);
    this.source = body[Symbol.asyncIterator]();
    if (body.destroyed) this.releaseOnce();
    else body.once('close', this.releaseOnce);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    // Aborted: what is still buffered is not for a client that has gone.
    if (this.ctx.signal.aborted && !this.finished) throw this.fail(abortError(this.ctx.signal.reason));
    const chunks = this.chunks;
    for (;;) {
      if (chunks.head < chunks.queue.length) {
        const value = chunks.queue[chunks.head++]!;
        if (chunks.head === chunks.queue.length) {
          chunks.queue.length = 0;
          chunks.head = 0;
        }
        return { done: false, value };
      }
      if (this.finished) return DONE;
      if (chunks.error !== undefined) throw this.fail(chunks.error);
      if (chunks.complete) {
        void this.drain();
        this.finish();
        return DONE;
      }
      let r: IteratorResult<Buffer>;
      try {
        r = await this.source.next();
      } catch (err) {
        if (this.finished) return DONE;
        throw this.fail(this.brokenError(err));
      }
      if (this.finished) return DONE; // return() ran while we waited
      this.deadline.progress();
      if (r.done) {
        this.parser.feed(this.decoder.decode());
        this.parser.end();
        chunks.endOfBody();
      } else {
        this.parser.feed(this.decoder.decode(r.value, DECODE_STREAM));
      }
    }
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      // After [DONE], reading the rest of the body keeps the connection alive.
      if (this.chunks.complete) void this.drain();
      else this.body.destroy();
      this.finish();
    }
    return DONE;
  }

  async throw(err?: unknown): Promise<IteratorResult<T>> {
    await this.return();
    throw err;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.deadline.clear();
    if (!this.chunks.complete) {
      const used = this.chunks.usageSoFar();
      this.ctx.reportUsage?.(used.prompt, used.completion);
    }
    this.chunks.queue.length = 0;
    this.chunks.head = 0;
    this.releaseOnce();
  }

  private readonly releaseOnce = (): void => {
    if (this.released) return;
    this.released = true;
    this.owner.release();
  };

  private fail(err: GatewayError): GatewayError {
    this.body.destroy();
    this.finish();
    return err;
  }

  private brokenError(err: unknown): GatewayError {
    if (this.deadline.expired) return timeoutError(this.owner.name, this.owner.timeoutMs, err, true);
    if (this.ctx.signal.aborted) return abortError(this.ctx.signal.reason);
    return streamBrokenError(this.owner.name, err);
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const r = await this.source.next();
        if (r.done) return;
      }
    } catch {
      // The stream was complete; a late error only costs the connection.
    }
  }
}
