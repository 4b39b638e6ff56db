/**
 * Entity-level precision/recall against a labelled corpus.
 * - A labelled value is found (recall) when predictions of its type cover at least 80% of its characters.
 * - A prediction is correct (precision) when at least half of its characters lie in labelled values of its type.
 * - "protected" (type-agnostic): the labelled value is entirely covered by predictions of any type —
 *   what matters for a leak, where a phone number reported as a bank number is still replaced.
 */
import type { EntityType } from '../../src/privacy/types.js';

export interface Span {
  type: EntityType;
  start: number;
  end: number;
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
  gold: number;
}

export interface Evaluation {
  byType: Map<EntityType, Counts>;
  micro: Counts;
  /** Labelled values fully covered by some prediction, over all labelled values. */
  protectedRate: number;
}

function covered(start: number, end: number, spans: readonly Span[]): number {
  let n = 0;
  for (let i = start; i < end; i++) if (spans.some((s) => i >= s.start && i < s.end)) n++;
  return n;
}

export function evaluate(items: ReadonlyArray<{ gold: readonly Span[]; predicted: readonly Span[] }>): Evaluation {
  const byType = new Map<EntityType, Counts>();
  const c = (t: EntityType) => {
    let x = byType.get(t);
    if (!x) byType.set(t, (x = { tp: 0, fp: 0, fn: 0, gold: 0 }));
    return x;
  };
  let protectedN = 0;
  let goldN = 0;
  for (const { gold, predicted } of items) {
    for (const g of gold) {
      const same = predicted.filter((p) => p.type === g.type);
      const counts = c(g.type);
      counts.gold++;
      goldN++;
      if (covered(g.start, g.end, same) >= 0.8 * (g.end - g.start)) counts.tp++;
      else counts.fn++;
      if (covered(g.start, g.end, predicted) === g.end - g.start) protectedN++;
    }
    for (const p of predicted) {
      const same = gold.filter((g) => g.type === p.type);
      if (covered(p.start, p.end, same) < 0.5 * (p.end - p.start)) c(p.type).fp++;
    }
  }
  const micro = { tp: 0, fp: 0, fn: 0, gold: 0 };
  for (const x of byType.values()) {
    micro.tp += x.tp;
    micro.fp += x.fp;
    micro.fn += x.fn;
    micro.gold += x.gold;
  }
  return { byType, micro, protectedRate: goldN ? protectedN / goldN : 1 };
}

/** Precision counts predictions, so it uses its own TP (predictions that are right), not recall's. */
export function scores(x: Counts, predictedRight?: number): { precision: number; recall: number; f1: number } {
  const recall = x.gold ? x.tp / x.gold : 1;
  const right = predictedRight ?? x.tp;
  const precision = right + x.fp ? right / (right + x.fp) : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}
