/** Runs a student over labelled examples and times it: the numbers both CLIs and the bench print. */
import { evaluate, type EvalResult } from './metrics.js';
import type { StudentClassifier } from './student.js';
import type { Example } from './csv.js';

export interface ModelEval extends EvalResult {
  /** Wall-clock prediction time per item (features + scoring + calibration), in ms. */
  ms_per_item: number;
}

/**
 * `embeddings`: one vector per example, required when the model has an embedding block (their
 * computation is not timed: it is the embedding backend's cost, not the student's).
 */
export function evaluateModel(model: StudentClassifier, examples: readonly Example[], abstainBelow = 0, embeddings?: readonly ArrayLike<number>[]): ModelEval {
  // A short warm-up so the JIT has compiled the hot path before timing.
  for (let i = 0; i < Math.min(20, examples.length); i++) model.predict(examples[i]!.text, embeddings?.[i]);
  const predicted: (string | null)[] = new Array(examples.length);
  const t0 = performance.now();
  for (let i = 0; i < examples.length; i++) {
    const d = model.classify(examples[i]!.text, abstainBelow, embeddings?.[i]);
    predicted[i] = d.abstained ? null : d.label;
  }
  const ms = performance.now() - t0;
  const r = evaluate(examples.map((e) => e.label), predicted);
  return { ...r, ms_per_item: examples.length === 0 ? 0 : ms / examples.length };
}

/** The public `sluice classify --json` object: the five keys first, in this order, then extras. */
export function publicEvalJson(r: ModelEval): Record<string, number> {
  const round = (x: number, d = 6) => Number(x.toFixed(d));
  return {
    n: r.n,
    accuracy: round(r.accuracy),
    macro_f1: round(r.macro_f1),
    abstain_rate: round(r.abstain_rate),
    ms_per_item: round(r.ms_per_item, 4),
    answered: r.answered,
    accuracy_overall: round(r.accuracy_overall),
  };
}
