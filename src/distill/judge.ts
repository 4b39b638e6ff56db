/**
 * The judge: a prompt asking the cloud model whether the local model's answer to a request is
 * acceptable, next to the cloud model's own answer as a reference, and a forgiving parser for its
 * verdict. The verdict is JSON `{"local_ok": true|false, "local_score": 1-10, "cloud_score": 1-10}`;
 * models wrap it in prose or code fences, quote booleans, or give only a score, so the parser
 * accepts those, and anything it cannot read is no verdict at all (never a guessed one).
 */
import type { ChatTurn } from './dataset.js';

export interface Verdict {
  /** The local answer is acceptable; null when the judge gave only a score. */
  localOk: boolean | null;
  /** 1-10, or null when not given. */
  localScore: number | null;
  cloudScore: number | null;
}

const JUDGE_SYSTEM =
  'You are a strict, impartial grader. You are shown a conversation, a CANDIDATE answer to its last user turn, and a REFERENCE answer from a stronger model. ' +
  'Decide whether the CANDIDATE is acceptable: correct, relevant and complete enough that the user would not need a better answer. ' +
  'It does not have to match the REFERENCE word for word. ' +
  'Reply with only a JSON object: {"local_ok": true or false, "local_score": 1-10, "cloud_score": 1-10} where the scores rate the CANDIDATE and the REFERENCE.';

function render(turns: readonly ChatTurn[]): string {
  return turns.map((t) => `[${t.role}]\n${t.content}`).join('\n\n');
}

/** Chat messages for the judge call. */
export function judgeMessages(turns: readonly ChatTurn[], localAnswer: string, cloudAnswer: string): ChatTurn[] {
  return [
    { role: 'system', content: JUDGE_SYSTEM },
    {
      role: 'user',
      content: `<conversation>\n${render(turns)}\n</conversation>\n\n<candidate>\n${localAnswer}\n</candidate>\n\n<reference>\n${cloudAnswer}\n</reference>\n\nYour JSON verdict:`,
    },
  ];
}

function bool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === 'yes') return true;
    if (t === 'false' || t === 'no') return false;
  }
  return null;
}

function score(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 1 && n <= 10 ? n : null;
}

/** The JSON objects in a text, outermost first (balanced braces, strings respected). */
function jsonObjects(text: string): unknown[] {
  const out: unknown[] = [];
  for (let start = text.indexOf('{'); start !== -1; start = text.indexOf('{', start + 1)) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        try {
          out.push(JSON.parse(text.slice(start, i + 1)));
          start = i;
        } catch {
          // not JSON: try the next opening brace
        }
        break;
      }
    }
  }
  return out;
}

function fromObject(o: Record<string, unknown>): Verdict | null {
  const localOk = bool(o.local_ok ?? o.localOk ?? o.acceptable);
  const localScore = score(o.local_score ?? o.localScore ?? o.score);
  const cloudScore = score(o.cloud_score ?? o.cloudScore);
  return localOk === null && localScore === null ? null : { localOk, localScore, cloudScore };
}

/** Reads a verdict from the judge's answer; null when there is none to read. */
export function parseVerdict(text: string): Verdict | null {
  for (const o of jsonObjects(text)) {
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      const v = fromObject(o as Record<string, unknown>);
      if (v) return v;
    }
  }
  // Not valid JSON, but the fields are there (single quotes, trailing commas, prose around them).
  const ok = /["']?local_ok["']?\s*[:=]\s*["']?(true|false)\b/i.exec(text);
  const ls = /["']?local_score["']?\s*[:=]\s*["']?(\d+(?:\.\d+)?)/i.exec(text);
  const cs = /["']?cloud_score["']?\s*[:=]\s*["']?(\d+(?:\.\d+)?)/i.exec(text);
  const localOk = ok ? ok[1]!.toLowerCase() === 'true' : null;
  const localScore = ls ? score(ls[1]) : null;
  if (localOk === null && localScore === null) return null;
  return { localOk, localScore, cloudScore: cs ? score(cs[1]) : null };
}

/**
 * The verdict as outcome scores in [0, 1] for the router's training table: a score maps 1..10 to
 * 0..1; without one, acceptable is 1 and not acceptable 0. The reference counts as acceptable (1)
 * when the judge did not score it.
 */
export function verdictScores(v: Verdict): { local: number; cloud: number } {
  const local = v.localScore !== null ? (v.localScore - 1) / 9 : v.localOk ? 1 : 0;
  const cloud = v.cloudScore !== null ? (v.cloudScore - 1) / 9 : 1;
  return { local, cloud };
}
