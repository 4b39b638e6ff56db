/**
 * One evaluation of a router on an outcome table, as `sluice router eval` prints it and the bench
 * reports it: weak/strong metrics from the `need` head, and, when the table has costs and more than
 * two models, the N-model frontier from the per-model heads.
 */
import { type OutcomeTable, resolvePair } from './data.js';
import type { LearnedRouter } from './learned.js';
import type { FrontierReport, PairReport } from './metrics.js';
import { crossValidatedScores, multiEvaluation, pairEvaluation, scoreTable, type TableSpec, type TrainRouterOptions } from './train.js';

export interface EvaluateOptions {
  weak?: string;
  strong?: string;
  /** Models for the N-model frontier (default: all of the table's, when it has costs and > 2 models; [] = none). */
  models?: string[];
  /** Score with this router... */
  router?: LearnedRouter;
  /** ...or k-fold cross-validate a router trained on the table itself. */
  cv?: number;
  train?: TrainRouterOptions;
  /** Tables added to every cross-validation training fold (never tested on). */
  extra?: TableSpec[];
}

export type EvalReport = PairReport & {
  weak: string;
  strong: string;
  frontier?: (FrontierReport & { knob_sweep: number }) | null;
  cost_to_match_best?: number | null;
  note?: string;
};

export function hasCosts(table: OutcomeTable): boolean {
  return table.items.some((it) => it.costs?.some((c) => !Number.isNaN(c)));
}

export function evaluateTable(table: OutcomeTable, options: EvaluateOptions): EvalReport {
  const pair = resolvePair(table, options.weak, options.strong);
  const multi = hasCosts(table) && (options.models ? options.models.length > 0 : table.models.length > 2);
  let scores: Float64Array[];
  let heads: string[];
  let priceOf: (model: string) => number | undefined = () => undefined;
  if (options.router) {
    scores = scoreTable(options.router, table);
    heads = options.router.model.heads.map((h) => h.name);
    const costs = new Map(options.router.file.models.map((m) => [m.name, m.cost]));
    priceOf = (m) => costs.get(m);
  } else {
    const folds = options.cv ?? 5;
    const spec = { table, weak: table.models[pair.weak], strong: table.models[pair.strong] };
    ({ scores, heads } = crossValidatedScores(spec, folds, { ...options.train, modelHeads: multi }, options.extra));
    // Under cross-validation the router's price list is the table's own mean costs: the same for
    // every fold up to noise, and costs are not what is being predicted.
  }
  const needIndex = heads.indexOf('need');
  const report: EvalReport = pairEvaluation(table, scores.map((s) => s[needIndex]!), table.models[pair.weak], table.models[pair.strong]);
  if (multi) {
    const models = options.models ?? table.models;
    const missing = models.filter((m) => !heads.includes(m));
    if (missing.length) {
      report.frontier = null;
      report.cost_to_match_best = null;
      report.note = `the router has no head for ${missing.join(', ')}: no N-model frontier (train it on outcomes of these models)`;
    } else {
      report.frontier = multiEvaluation(table, scores, heads, priceOf, models);
      report.cost_to_match_best = report.frontier.cost_to_match_best;
    }
  }
  return report;
}
