/**
 * Splits long text into pieces that fit a model's context: at paragraph breaks when it can, then
 * at sentence ends, then at spaces, and only as a last resort inside a word.
 */

const SENTENCE_END = /(?<=[.!?。！？])\s+/u;

function splitOversized(piece: string, maxChars: number): string[] {
  if (piece.length <= maxChars) return [piece];
  const sentences = piece.split(SENTENCE_END);
  if (sentences.length > 1) return sentences.flatMap((s) => splitOversized(s, maxChars));
  const out: string[] = [];
  let rest = piece;
  while (rest.length > maxChars) {
    let cut = rest.lastIndexOf(' ', maxChars);
    if (cut < maxChars / 2) cut = maxChars;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  if (rest) out.push(rest);
  return out;
}

/** Pieces of at most `maxChars` characters, packing whole paragraphs/sentences together greedily. */
export function chunkText(text: string, maxChars: number): string[] {
  const limit = Math.max(1, Math.floor(maxChars));
  const trimmed = text.trim();
  if (trimmed.length <= limit) return trimmed ? [trimmed] : [];
  const units = trimmed
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .flatMap((p) => splitOversized(p, limit));
  const chunks: string[] = [];
  let current = '';
  for (const unit of units) {
    if (current && current.length + 2 + unit.length > limit) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current}\n\n${unit}` : unit;
  }
  if (current) chunks.push(current);
  return chunks;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw (failed as { error: unknown }).error;
  return results;
}
