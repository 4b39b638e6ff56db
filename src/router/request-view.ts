/**
 * What routing looks at in a request body, gathered in one pass over the messages: the text to
 * score (user turns, or the completion prompt), turns, size, and whether tools, images or JSON are
 * involved. Per-request, so it avoids copies: a single user turn is used as is, not joined.
 */
import type { Endpoint } from '../api/types.js';
import type { FeatureInput } from './features.js';

export interface RequestView extends FeatureInput {
  text: string;
  turns: number;
  endpoint: Endpoint;
  hasTools: boolean;
  hasImages: boolean;
  wantsJson: boolean;
  /** Characters of every message (all roles): the size estimate rules use. */
  chars: number;
}

type Part = { type?: unknown; text?: unknown };
type Message = { role?: unknown; content?: unknown };

function partsText(parts: unknown[], view: { hasImages: boolean }): string {
  let text = '';
  for (const p of parts as Part[]) {
    if (!p || typeof p !== 'object') continue;
    if (typeof p.text === 'string') text = text ? text + '\n' + p.text : p.text;
    else if (p.type === 'image_url' || p.type === 'input_image' || p.type === 'image') view.hasImages = true;
  }
  return text;
}

/** `task`: the task API the request belongs to (summarize, classify, ...), a routing feature. */
export function viewRequest(endpoint: Endpoint, body: Record<string, unknown>, task?: string): RequestView {
  const view: RequestView = { text: '', turns: 0, endpoint, task, hasTools: false, hasImages: false, wantsJson: false, chars: 0 };
  if (endpoint === 'chat.completions') {
    const messages = body.messages;
    if (Array.isArray(messages)) {
      let first: string | null = null;
      let joined: string[] | null = null;
      for (const m of messages as Message[]) {
        if (!m || typeof m !== 'object') continue;
        const content = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? partsText(m.content, view) : '';
        view.chars += content.length;
        if (m.role !== 'user') continue;
        view.turns++;
        if (first === null) first = content;
        else (joined ??= [first]).push(content);
      }
      view.text = joined ? joined.join('\n') : (first ?? '');
    }
    const tools = body.tools ?? body.functions;
    view.hasTools = Array.isArray(tools) && tools.length > 0;
    const format = body.response_format as { type?: unknown } | null | undefined;
    view.wantsJson = !!format && (format.type === 'json_object' || format.type === 'json_schema');
  } else {
    const input = endpoint === 'completions' ? body.prompt : body.input;
    view.text = typeof input === 'string' ? input : Array.isArray(input) && typeof input[0] === 'string' ? (input as string[]).join('\n') : '';
    view.turns = 1;
    view.chars = view.text.length;
  }
  if (view.turns === 0) view.turns = 1;
  return view;
}

/** The usual rough estimate: about four characters per token for English text. */
export function estimateTokens(view: RequestView): number {
  return Math.ceil(view.chars / 4);
}
