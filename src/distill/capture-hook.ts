/**
 * Wires capture into the gateway: the dispatcher reports every answer (`onAnswer`), and this keeps
 * the chat and completion answers of `remote` backends, per `distill.capture`. A streamed answer is
 * reported once the stream has ended normally, assembled into the non-streamed shape (see
 * gateway/stream-answer.ts; a stream that failed or that the client abandoned is never reported),
 * and only when `wantsStream` said capture could keep it. The body captured is the one the cloud was
 * sent (already through the privacy guard), and the Capturer masks every string again before storage.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AnswerHead, AnswerInfo } from '../gateway/dispatcher.js';
import type { MigrationSet } from '../ledger/database.js';
import type { DetectingGuard } from '../privacy/detecting-guard.js';
import { redactText } from '../privacy/redact.js';
import { captureMigrations, Capturer, KyselyCaptureStore, type CaptureStore } from './captures.js';
import type { CaptureConfig } from './config.js';
import { chatTurns, contentText, type ChatTurn } from './dataset.js';

/** The turns and answer text of a chat/completion exchange (a whole answer: streams come assembled), or null. */
export function exchangeOf(a: Pick<AnswerInfo, 'endpoint' | 'sentBody' | 'answer'>): { task: string; messages: ChatTurn[]; answer: string } | null {
  const answer = a.answer as any;
  if (!answer || typeof answer !== 'object' || Symbol.asyncIterator in answer) return null;
  const sent = a.sentBody as any;
  if (a.endpoint === 'chat.completions') {
    const text = contentText(answer.choices?.[0]?.message?.content);
    const messages = chatTurns(sent?.messages);
    return text && messages.length ? { task: 'chat', messages, answer: text } : null;
  }
  if (a.endpoint === 'completions') {
    const text = answer.choices?.[0]?.text;
    const prompt = Array.isArray(sent?.prompt) ? sent.prompt.join('\n') : sent?.prompt;
    return typeof text === 'string' && text && typeof prompt === 'string' && prompt ? { task: 'completion', messages: [{ role: 'user', content: prompt }], answer: text } : null;
  }
  return null;
}

export class GatewayCapture {
  private capturer: Capturer | null = null;
  private purgeTimer: NodeJS.Timeout | undefined;
  /** Migration sets the ledger database needs (the captures table when capture is on). */
  readonly migrations: MigrationSet[];
  /** Pass to the dispatcher; undefined when capture is off (no per-answer call at all). */
  readonly onAnswer: ((a: AnswerInfo) => void) | undefined;
  /** The dispatcher's pre-check for streams: only those capture could keep are observed. */
  readonly wantsStream: ((h: AnswerHead) => boolean) | undefined;

  constructor(
    private readonly config: CaptureConfig,
    private readonly guard: DetectingGuard,
    private readonly logger: Logger,
  ) {
    this.migrations = config.enabled ? [captureMigrations] : [];
    this.onAnswer = config.enabled ? (a) => this.offer(a) : undefined;
    this.wantsStream = config.enabled ? (h) => this.wants(h) : undefined;
  }

  /** Connects the store once the ledger's database exists (null: ledger off, nothing is kept). */
  attach(db: Kysely<any> | null, store?: CaptureStore): void {
    if (!this.config.enabled) return;
    if (!db && !store) {
      this.logger.warn('distill.capture is on but the ledger is off: cloud answers are not captured');
      return;
    }
    let warned = false;
    this.capturer = new Capturer({
      config: this.config,
      store: store ?? new KyselyCaptureStore(db!),
      sanitize: (t) => redactText(this.guard, t, 'mask').redacted,
      onError: (err) => {
        // Once per failure streak is enough: captures are best effort.
        if (!warned) this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not store a captured answer');
        warned = true;
      },
    });
    if (this.config.retentionDays !== undefined) {
      const purge = () =>
        void this.purgeExpired().catch((err) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not purge expired captures'));
      // Hourly is plenty for a retention counted in days; the timer never keeps the process alive.
      this.purgeTimer = setInterval(purge, 3_600_000);
      this.purgeTimer.unref();
    }
  }

  /** The capture filters (remote backend, model, task, key): no store, or no match, nothing to keep. */
  private wants(a: AnswerHead): boolean {
    const c = this.capturer;
    return c !== null && c.wants({ task: a.endpoint === 'completions' ? 'completion' : 'chat', model: a.body.model, keyName: a.ctx.keyName ?? null, locality: a.backend.locality });
  }

  private offer(a: AnswerInfo): void {
    const c = this.capturer;
    if (!c || !this.wants(a)) return;
    const ex = exchangeOf(a);
    if (!ex) return;
    c.offer({ ...ex, model: a.body.model, teacher: a.backend.name, keyName: a.ctx.keyName ?? null, locality: a.backend.locality, metadata: { requestId: a.ctx.requestId } });
  }

  get stats(): { stored: number; failed: number } {
    return { stored: this.capturer?.stored ?? 0, failed: this.capturer?.failed ?? 0 };
  }

  /** Waits for pending writes (shutdown, before the database closes). */
  async drain(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.capturer?.drain();
  }

  /** Deletes captures past `retentionDays`. */
  async purgeExpired(): Promise<number> {
    return (await this.capturer?.purgeExpired()) ?? 0;
  }
}
