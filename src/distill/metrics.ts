/** Classification metrics with abstention: what `sluice classify --json` and the benchmark print. */

export interface EvalResult {
  n: number;
  /** Accuracy on the items the model answered (all items when nothing abstained). */
  accuracy: number;
  /** Macro-averaged F1 over the gold labels, on the answered items. */
  macro_f1: number;
  /** Share of items the model abstained on. */
  abstain_rate: number;
  /** Items answered. */
  answered: number;
  /** Correct answers over all items: an abstention counts as not correct. */
  accuracy_overall: number;
}

/**
 * `predicted[i]` null means abstained. Macro-F1 averages over every label seen as gold or
 * predicted among answered items (as scikit-learn does), so a class never predicted scores 0.
 */
export function evaluate(gold: readonly string[], predicted: readonly (string | null)[]): EvalResult {
  if (gold.length !== predicted.length) throw new Error('gold and predicted differ in length');
  const n = gold.length;
  const tp = new Map<string, number>();
  const goldCount = new Map<string, number>();
  const predCount = new Map<string, number>();
  let answered = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i];
    if (p === null || p === undefined) continue;
    const g = gold[i]!;
    answered++;
    goldCount.set(g, (goldCount.get(g) ?? 0) + 1);
    predCount.set(p, (predCount.get(p) ?? 0) + 1);
    if (p === g) {
      correct++;
      tp.set(g, (tp.get(g) ?? 0) + 1);
    }
  }
  const labels = new Set([...goldCount.keys(), ...predCount.keys()]);
  let f1Sum = 0;
  for (const l of labels) {
    const t = tp.get(l) ?? 0;
    const denom = (goldCount.get(l) ?? 0) + (predCount.get(l) ?? 0);
    f1Sum += denom === 0 ? 0 : (2 * t) / denom;
  }
  return {
    n,
    accuracy: answered === 0 ? 0 : correct / answered,
    macro_f1: labels.size === 0 ? 0 : f1Sum / labels.size,
    abstain_rate: n === 0 ? 0 : (n - answered) / n,
    answered,
    accuracy_overall: n === 0 ? 0 : correct / n,
  };
}
