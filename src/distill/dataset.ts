/**
 * Fine-tuning datasets from captured teacher answers: the JSONL formats the common trainers read,
 * de-duplicated, with a stable train/validation split. Pure functions: the CLI feeds them captures
 * from the store and writes the lines.
 *
 *  - openai:   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 *              (OpenAI chat fine-tuning; the last message is the teacher's answer)
 *  - sharegpt: {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...]}
 *  - alpaca:   {"instruction": "...", "input": "", "output": "...", "system"?: "...", "history"?: [[user, assistant], ...]}
 *              (`system` and `history` only when the conversation has them, as LLaMA-Factory reads them)
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export type ExportFormat = 'openai' | 'sharegpt' | 'alpaca';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['openai', 'sharegpt', 'alpaca'];

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One teacher example: the (privacy-guarded) conversation sent and the teacher's answer. */
export interface TeacherExample {
  id: string;
  /** Epoch ms. */
  createdAt: number;
  task: string;
  messages: ChatTurn[];
  answer: string;
}

/** Text of an OpenAI message `content`: a string, or the text parts of a content array. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p) => (p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' ? String((p as { text?: unknown }).text ?? '') : ''))
      .filter((s) => s !== '')
      .join('\n');
  return '';
}

/** Chat turns from an OpenAI request's `messages` (tool and function turns are left out). */
export function chatTurns(messages: unknown): ChatTurn[] {
  if (!Array.isArray(messages)) return [];
  const turns: ChatTurn[] = [];
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    const role = (m as { role?: unknown }).role;
    const r = role === 'developer' ? 'system' : role;
    if (r !== 'system' && r !== 'user' && r !== 'assistant') continue;
    const content = contentText((m as { content?: unknown }).content);
    if (content !== '') turns.push({ role: r, content });
  }
  return turns;
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();

/** What makes two examples duplicates: the same conversation, whitespace aside. */
export function promptKey(e: Pick<TeacherExample, 'messages'>): string {
  return createHash('sha256')
    .update(JSON.stringify(e.messages.map((m) => [m.role, collapse(m.content)])))
    .digest('hex');
}

/**
 * One example per conversation: the newest answer wins (a later teacher answer reflects the later
 * prompt template or model). Examples with an empty answer or no user turn are dropped.
 * Output is ordered by creation time, then id, so exports are reproducible.
 */
export function dedupe(examples: readonly TeacherExample[]): TeacherExample[] {
  const byKey = new Map<string, TeacherExample>();
  for (const e of examples) {
    if (collapse(e.answer) === '' || !e.messages.some((m) => m.role === 'user')) continue;
    const key = promptKey(e);
    const prev = byKey.get(key);
    if (!prev || e.createdAt > prev.createdAt || (e.createdAt === prev.createdAt && e.id > prev.id)) byKey.set(key, e);
  }
  return [...byKey.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Train/validation split decided by a hash of each example's conversation (and the seed), not by
 * position: an example stays on its side when the dataset grows and is exported again.
 */
export function split<T extends Pick<TeacherExample, 'messages'>>(examples: readonly T[], validationShare: number, seed = 0): { train: T[]; validation: T[] } {
  if (!(validationShare >= 0 && validationShare < 1)) throw new Error('validation share must be at least 0 and below 1');
  const train: T[] = [];
  const validation: T[] = [];
  for (const e of examples) {
    const h = createHash('sha256').update(`${seed}:${promptKey(e)}`).digest().readUInt32BE(0) / 2 ** 32;
    (h < validationShare ? validation : train).push(e);
  }
  return { train, validation };
}

export function toFormat(e: Pick<TeacherExample, 'messages' | 'answer'>, format: ExportFormat): Record<string, unknown> {
  const turns: ChatTurn[] = [...e.messages, { role: 'assistant', content: e.answer }];
  switch (format) {
    case 'openai':
      return { messages: turns.map((t) => ({ role: t.role, content: t.content })) };
    case 'sharegpt':
      return { conversations: turns.map((t) => ({ from: t.role === 'user' ? 'human' : t.role === 'assistant' ? 'gpt' : 'system', value: t.content })) };
    case 'alpaca': {
      const system = e.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      const dialogue = e.messages.filter((m) => m.role !== 'system');
      // The last user turn is the instruction; earlier user/assistant pairs become history.
      const lastUser = dialogue.map((m) => m.role).lastIndexOf('user');
      const history: [string, string][] = [];
      let pendingUser: string | null = null;
      for (const m of dialogue.slice(0, lastUser)) {
        if (m.role === 'user') pendingUser = pendingUser === null ? m.content : `${pendingUser}\n\n${m.content}`;
        else if (pendingUser !== null) {
          history.push([pendingUser, m.content]);
          pendingUser = null;
        }
      }
      const instruction = [...(pendingUser !== null ? [pendingUser] : []), ...dialogue.slice(lastUser).filter((m) => m.role === 'user').map((m) => m.content)].join('\n\n');
      return { instruction, input: '', output: e.answer, ...(system ? { system } : {}), ...(history.length ? { history } : {}) };
    }
  }
}

/** Line schemas of each format, as their trainers expect them (used to check exports). */
const nonEmpty = z.string().min(1);
export const FORMAT_SCHEMAS: Record<ExportFormat, z.ZodType> = {
  openai: z
    .strictObject({ messages: z.array(z.strictObject({ role: z.enum(['system', 'user', 'assistant']), content: nonEmpty })).min(2) })
    .refine((o) => o.messages.at(-1)!.role === 'assistant' && o.messages.some((m) => m.role === 'user'), 'needs a user turn and must end with the assistant'),
  sharegpt: z
    .strictObject({ conversations: z.array(z.strictObject({ from: z.enum(['system', 'human', 'gpt']), value: nonEmpty })).min(2) })
    .refine((o) => o.conversations.at(-1)!.from === 'gpt' && o.conversations.some((m) => m.from === 'human'), 'needs a human turn and must end with gpt'),
  alpaca: z.strictObject({
    instruction: nonEmpty,
    input: z.string(),
    output: nonEmpty,
    system: nonEmpty.optional(),
    history: z.array(z.tuple([z.string(), z.string()])).optional(),
  }),
};

/** Problems of one JSONL line for `format` (empty when valid). */
export function validateLine(line: string, format: ExportFormat): string[] {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return ['not JSON'];
  }
  const r = FORMAT_SCHEMAS[format].safeParse(data);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`);
}

export interface ExportResult {
  train: string[];
  validation: string[];
  /** Examples read, and dropped as duplicates or empty. */
  read: number;
  dropped: number;
}

/** The whole export: dedupe, split, format; every string passes `sanitize` (the privacy guard's mask) last. */
export function buildExport(
  examples: readonly TeacherExample[],
  options: { format: ExportFormat; validationShare: number; seed?: number; sanitize?: (text: string) => string },
): ExportResult {
  const clean = options.sanitize;
  const sanitized = clean
    ? examples.map((e) => ({ ...e, messages: e.messages.map((m) => ({ role: m.role, content: clean(m.content) })), answer: clean(e.answer) }))
    : examples;
  const unique = dedupe(sanitized);
  const { train, validation } = split(unique, options.validationShare, options.seed);
  const line = (e: TeacherExample) => JSON.stringify(toFormat(e, options.format));
  return { train: train.map(line), validation: validation.map(line), read: examples.length, dropped: examples.length - unique.length };
}
