/** The N-model choice rule, shared by evaluation (src/router/train.ts) and the gateway's `cheapest` policy. */

/**
 * How the router picks among N models: the cheapest model whose predicted P(answers well) is at
 * least `knob`; if none is, the model with the highest prediction. `knob` in [0, 1] is the
 * cost/quality dial: 0 always takes the cheapest model, 1 always the most likely to be right.
 * `byPrice` lists model indices cheapest first.
 */
export function cheapestGoodEnough(pGood: ArrayLike<number>, byPrice: ArrayLike<number>, knob: number): number {
  let best = byPrice[0]!;
  for (let r = 0; r < byPrice.length; r++) {
    const m = byPrice[r]!;
    if (pGood[m]! >= knob) return m;
    if (pGood[m]! > pGood[best]!) best = m;
  }
  return best;
}
