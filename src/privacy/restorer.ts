/**
 * Re-identification of answers: every replacement the Redactor made is put back, in whole bodies
 * and in streams. A stream may cut a placeholder anywhere ("<PERS" | "ON_1>"), so each text
 * channel (a choice's content, each tool call's arguments) holds back only its longest tail that
 * is the beginning of some replacement — a few characters, never the answer — and releases it
 * with the next chunk or when the choice finishes.
 */
import type { Restorer } from './guard.js';

interface AnyChoice {
  index?: number;
  text?: string | null;
  message?: { content?: unknown; tool_calls?: Array<{ function?: { arguments?: unknown } }> | null; refusal?: unknown } | null;
  delta?: { role?: string; content?: string | null; tool_calls?: Array<{ index?: number; function?: { arguments?: string | null } }> | null; refusal?: string | null } | null;
  finish_reason?: string | null;
}

interface AnyChunk {
  choices?: AnyChoice[];
  usage?: unknown;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class MapRestorer implements Restorer {
  private readonly pattern: RegExp;
  private readonly prefixes = new Set<string>();
  private readonly maxLength: number;
  /** Held-back text per channel: `${choice}:c` (content/text) or `${choice}:t${toolIndex}`. */
  private readonly pending = new Map<string, string>();
  private template: AnyChunk | null = null;

  constructor(private readonly map: ReadonlyMap<string, string>) {
    const keys = [...map.keys()].filter((k) => k.length > 0 && map.get(k) !== k).sort((a, b) => b.length - a.length);
    this.pattern = keys.length ? new RegExp(keys.map(escape).join('|'), 'g') : /$^/g;
    let max = 0;
    for (const k of keys) {
      max = Math.max(max, k.length);
      for (let i = 1; i <= k.length; i++) this.prefixes.add(k.slice(0, i));
    }
    this.maxLength = max;
  }

  restoreText(text: string): string {
    if (this.maxLength === 0 || text.length === 0) return text;
    this.pattern.lastIndex = 0;
    return text.replace(this.pattern, (m) => this.map.get(m) ?? m);
  }

  restore<T>(response: T): T {
    const body = response as AnyChunk;
    if (!body || !Array.isArray(body.choices)) return response;
    for (const choice of body.choices) {
      if (typeof choice.text === 'string') choice.text = this.restoreText(choice.text);
      const msg = choice.message;
      if (msg) {
        if (typeof msg.content === 'string') msg.content = this.restoreText(msg.content);
        else if (Array.isArray(msg.content)) for (const part of msg.content as Array<{ text?: unknown }>) if (typeof part?.text === 'string') part.text = this.restoreText(part.text);
        if (typeof msg.refusal === 'string') msg.refusal = this.restoreText(msg.refusal);
        for (const call of msg.tool_calls ?? []) if (call.function && typeof call.function.arguments === 'string') call.function.arguments = this.restoreText(call.function.arguments);
      }
    }
    return response;
  }

  /** The longest tail of `text` that could still grow into a replacement. */
  private heldLength(text: string): number {
    for (let n = Math.min(this.maxLength, text.length); n > 0; n--) if (this.prefixes.has(text.slice(text.length - n))) return n;
    return 0;
  }

  private feed(channel: string, incoming: string, final: boolean): string {
    const buffered = (this.pending.get(channel) ?? '') + incoming;
    const hold = final ? 0 : this.heldLength(buffered);
    if (hold === 0) this.pending.delete(channel);
    else this.pending.set(channel, buffered.slice(buffered.length - hold));
    return this.restoreText(buffered.slice(0, buffered.length - hold));
  }

  restoreChunk<T>(chunk: T): T | null {
    const c = chunk as AnyChunk;
    if (this.maxLength === 0 || !c || !Array.isArray(c.choices) || c.choices.length === 0) return chunk;
    this.template ??= c;
    let carries = c.usage != null;
    for (const choice of c.choices) {
      const idx = choice.index ?? 0;
      const final = choice.finish_reason != null;
      if (final || choice.delta?.role !== undefined) carries = true;
      if (typeof choice.text === 'string' || (final && choice.delta === undefined)) {
        choice.text = this.feed(`${idx}:c`, choice.text ?? '', final);
        if (choice.text) carries = true;
      }
      const delta = choice.delta;
      if (delta) {
        if (typeof delta.content === 'string' || (final && this.pending.has(`${idx}:c`))) {
          delta.content = this.feed(`${idx}:c`, delta.content ?? '', final);
          if (delta.content) carries = true;
        }
        for (const call of delta.tool_calls ?? []) {
          carries = true;
          const fn = call.function;
          if (fn && typeof fn.arguments === 'string') fn.arguments = this.feed(`${idx}:t${call.index ?? 0}`, fn.arguments, false);
        }
        if (final) {
          // tool-call arguments still held back go out with the finishing chunk
          for (const [channel, held] of this.pending) {
            if (!channel.startsWith(`${idx}:t`)) continue;
            this.pending.delete(channel);
            const toolIndex = Number(channel.slice(channel.indexOf('t') + 1));
            (delta.tool_calls ??= []).push({ index: toolIndex, function: { arguments: this.restoreText(held) } });
          }
        }
        if (typeof delta.refusal === 'string') delta.refusal = this.restoreText(delta.refusal);
      }
      if ((choice as { logprobs?: unknown }).logprobs) carries = true;
    }
    return carries ? chunk : null;
  }

  flush<T>(): T | null {
    if (this.pending.size === 0 || !this.template) return null;
    const choices: AnyChoice[] = [];
    const chat = this.template.choices?.some((ch) => ch.delta !== undefined) ?? true;
    for (const [channel, held] of this.pending) {
      const index = Number(channel.slice(0, channel.indexOf(':')));
      const text = this.restoreText(held);
      if (channel.endsWith(':c')) choices.push(chat ? { index, delta: { content: text }, finish_reason: null } : { index, text, finish_reason: null });
      else choices.push({ index, delta: { tool_calls: [{ index: Number(channel.slice(channel.indexOf('t') + 1)), function: { arguments: text } }] }, finish_reason: null });
    }
    this.pending.clear();
    const { usage: _usage, choices: _choices, ...rest } = this.template as AnyChunk & Record<string, unknown>;
    return { ...rest, choices } as T;
  }
}
