/**
 * Routing policies: given a request, the plan of targets to try (the dispatcher walks it in
 * order, skipping what is down, circuit-open or forbidden to leave the machine).
 * - `local` / `cloud`: that side first, the other as fallback;
 * - `learned`: the router's score against a threshold;
 * - `rules`: size, endpoint, regex, key, tools/images/JSON conditions, first match wins;
 * - `cascade`: the local answer first, escalated to the cloud when it fails a check;
 * - `cheapest`: among N models, the cheapest one predicted to answer well enough.
 * Plans of fixed policies are built once; a per-request plan is one small object (it carries the
 * score), except the cascade's, whose checked target holds the request's check.
 */
import type { Backend, CallContext } from '../backends/types.js';
import { cascadeAccept, type CascadeRequest, type EscalationReason } from './cascade.js';
import type { CascadeChecks, RuleCondition } from './config.js';
import type { EmbeddingFallback } from './embedding.js';
import type { LearnedRouter } from './learned.js';
import type { RouteRequest, RoutePlan, RouteSide, RouteTarget } from './router.js';
import { cheapestGoodEnough } from './choose.js';
import { estimateTokens, type RequestView } from './request-view.js';

/** One request being routed. */
export interface Decision {
  req: RouteRequest;
  ctx: CallContext;
  view: RequestView;
  /** `auto:<t>`: the threshold for this request. */
  threshold?: number;
  /** Set by a rule that hands the request to another policy: prefixed to that policy's reason. */
  prefix?: string;
}

function named(d: Decision, reason: string): string {
  return d.prefix === undefined ? reason : d.prefix + reason;
}

export interface Policy {
  readonly name: string;
  /** A promise only when the decision waits for something (the prompt's embedding); else the plan itself. */
  plan(d: Decision): RoutePlan | Promise<RoutePlan>;
}

/** The two sides' targets, and each side first with the other as its fallback. */
export class Sides {
  readonly localFirst: RouteTarget[];
  readonly cloudFirst: RouteTarget[];

  constructor(
    readonly local: RouteTarget[],
    readonly cloud: RouteTarget[],
  ) {
    this.localFirst = dedupe([...local, ...cloud]);
    this.cloudFirst = dedupe([...cloud, ...local]);
  }

  get localBackend(): Backend | undefined {
    return this.local[0]?.backend;
  }

  targets(side: RouteSide): RouteTarget[] {
    return side === 'local' ? this.localFirst : this.cloudFirst;
  }
}

export function dedupe(targets: RouteTarget[]): RouteTarget[] {
  const seen = new Set<Backend>();
  return targets.filter((t) => (seen.has(t.backend) ? false : (seen.add(t.backend), true)));
}

export function sideOf(targets: RouteTarget[]): RouteSide {
  return targets[0]?.backend.locality === 'remote' ? 'cloud' : 'local';
}

/**
 * Requests the local model cannot take go to the cloud whatever the policy says: tools for a
 * local model whose template cannot express them. Returns null when the policy may decide.
 */
function forcedSide(d: Decision, sides: Sides): RouteSide | null {
  if (d.view.hasTools && sides.cloud.length > 0 && sides.localBackend && !sides.localBackend.capabilities.tools) return 'cloud';
  return null;
}

export class SidePolicy implements Policy {
  private readonly fixed: RoutePlan;
  private readonly forced: RoutePlan;

  constructor(
    readonly name: string,
    readonly side: RouteSide,
    private readonly sides: Sides,
  ) {
    const targets = sides.targets(side);
    this.fixed = { targets, route: sideOf(targets), reason: name };
    this.forced = { targets: sides.cloudFirst, route: sideOf(sides.cloudFirst), reason: `${name}:tools` };
  }

  plan(d: Decision): RoutePlan {
    const plan = this.side === 'local' && forcedSide(d, this.sides) === 'cloud' ? this.forced : this.fixed;
    return d.prefix === undefined ? plan : { ...plan, reason: d.prefix + plan.reason };
  }
}

/** Route reasons of a request scored without its embedding: `<policy>:lexical:<why>`. */
function fallbackReasons(name: string): Record<EmbeddingFallback, string> {
  return { timeout: `${name}:lexical:timeout`, error: `${name}:lexical:error`, aborted: `${name}:lexical:aborted`, unavailable: `${name}:lexical:unavailable` };
}

export class LearnedPolicy implements Policy {
  private readonly reasonTools: string;
  private readonly reasonEmbeddings: string;
  private readonly reasonFallback: Record<EmbeddingFallback, string>;
  /** Reason of a lexical decision: the name, or that the file's embedding heads had no embedder. */
  private readonly reasonLexical: string;

  constructor(
    readonly name: string,
    private readonly router: LearnedRouter,
    /** Configured threshold; default: the router file's (its embedding heads' own when they score). */
    private readonly threshold: number | undefined,
    private readonly sides: Sides,
  ) {
    this.reasonTools = `${name}:tools`;
    this.reasonEmbeddings = `${name}:embeddings`;
    this.reasonFallback = fallbackReasons(name);
    this.reasonLexical = router.embedded && !router.embeds ? this.reasonFallback.unavailable : name;
  }

  plan(d: Decision): RoutePlan | Promise<RoutePlan> {
    // Embeddings from different models are not comparable: a score must not switch models between requests.
    if (d.req.endpoint === 'embeddings') return { targets: this.sides.localFirst, route: sideOf(this.sides.localFirst), reason: named(d, this.reasonEmbeddings) };
    if (forcedSide(d, this.sides) === 'cloud') return { targets: this.sides.cloudFirst, route: sideOf(this.sides.cloudFirst), reason: named(d, this.reasonTools), score: this.router.need(d.view) };
    if (this.router.embeds) return this.planEmbedded(d);
    const score = this.router.need(d.view);
    const targets = score >= (d.threshold ?? this.threshold ?? this.router.threshold) ? this.sides.cloudFirst : this.sides.localFirst;
    return { targets, route: sideOf(targets), reason: named(d, this.reasonLexical), score };
  }

  private async planEmbedded(d: Decision): Promise<RoutePlan> {
    const { scores, fallback } = await this.router.scoreAllEmbedded(d.view, d.ctx.signal);
    const score = scores[this.router.needHead]!;
    const targets = score >= (d.threshold ?? this.threshold ?? this.router.defaultThreshold(fallback === undefined)) ? this.sides.cloudFirst : this.sides.localFirst;
    return { targets, route: sideOf(targets), reason: named(d, fallback === undefined ? this.name : this.reasonFallback[fallback]), score };
  }
}

interface CompiledRule {
  test: (d: Decision) => boolean;
  then: Policy;
  /** `<rules policy>:<rule index>`: the reason when the rule picks a side. */
  reason: string;
  /** The same followed by `>`: prefixed to the reason of a policy the rule hands over to. */
  prefix: string;
}

function compileCondition(c: RuleCondition): (d: Decision) => boolean {
  const checks: Array<(d: Decision) => boolean> = [];
  if (c.minTokens !== undefined) {
    const min = c.minTokens;
    checks.push((d) => estimateTokens(d.view) >= min);
  }
  if (c.maxTokens !== undefined) {
    const max = c.maxTokens;
    checks.push((d) => estimateTokens(d.view) <= max);
  }
  if (c.endpoint !== undefined) {
    const endpoints = new Set<string>(Array.isArray(c.endpoint) ? c.endpoint : [c.endpoint]);
    checks.push((d) => endpoints.has(d.req.endpoint));
  }
  if (c.pattern !== undefined) {
    const re = new RegExp(c.pattern, c.flags);
    checks.push((d) => re.test(d.view.text));
  }
  if (c.keys !== undefined) {
    const keys = new Set(c.keys);
    checks.push((d) => d.ctx.keyName !== undefined && keys.has(d.ctx.keyName));
  }
  if (c.hasTools !== undefined) checks.push((d) => d.view.hasTools === c.hasTools);
  if (c.hasImages !== undefined) checks.push((d) => d.view.hasImages === c.hasImages);
  if (c.wantsJson !== undefined) checks.push((d) => d.view.wantsJson === c.wantsJson);
  return (d) => {
    for (const check of checks) if (!check(d)) return false;
    return true;
  };
}

export class RulesPolicy implements Policy {
  private rules: CompiledRule[] = [];
  private otherwise!: Policy;

  constructor(readonly name: string) {}

  /** Wired after every policy exists (rules name other policies). */
  resolve(rules: Array<{ if: RuleCondition; then: Policy }>, otherwise: Policy): void {
    this.rules = rules.map((r, i) => ({ test: compileCondition(r.if), then: r.then, reason: `${this.name}:${i}`, prefix: `${this.name}:${i}>` }));
    this.otherwise = otherwise;
  }

  plan(d: Decision): RoutePlan | Promise<RoutePlan> {
    for (const rule of this.rules) {
      if (!rule.test(d)) continue;
      // A side chosen by a rule says which rule; a policy it hands over to also says how it decided.
      if (rule.then instanceof SidePolicy) return { ...rule.then.plan(d), reason: named(d, rule.reason) };
      return rule.then.plan({ ...d, prefix: named(d, rule.prefix) });
    }
    return this.otherwise.plan(d);
  }
}

export class CascadePolicy implements Policy {
  private readonly escalated: Record<EscalationReason, string>;
  private readonly localOnly: RoutePlan;
  private readonly direct: string;
  /** Reason suffixes when the file's embedding heads could not score. */
  private readonly fallback: Record<EmbeddingFallback, string>;

  constructor(
    readonly name: string,
    private readonly router: LearnedRouter,
    private readonly threshold: number | undefined,
    private readonly checks: CascadeChecks,
    private readonly sides: Sides,
  ) {
    this.escalated = { empty: `${name}:escalated:empty`, truncated: `${name}:escalated:truncated`, invalid_json: `${name}:escalated:invalid_json`, low_confidence: `${name}:escalated:low_confidence` };
    this.localOnly = { targets: sides.localFirst, route: sideOf(sides.localFirst), reason: name };
    this.direct = `${name}:direct`;
    this.fallback = { timeout: 'lexical:timeout', error: 'lexical:error', aborted: 'lexical:aborted', unavailable: 'lexical:unavailable' };
  }

  plan(d: Decision): RoutePlan | Promise<RoutePlan> {
    const { sides } = this;
    // Nothing to escalate to (one side only, embeddings, or the request may not leave): plain local first.
    if (sides.local.length === 0 || sides.cloud.length === 0 || d.req.endpoint === 'embeddings' || d.ctx.remoteForbidden !== undefined) {
      return d.prefix === undefined ? this.localOnly : { ...this.localOnly, reason: d.prefix + this.name };
    }
    if (forcedSide(d, sides) === 'cloud') return { targets: sides.cloudFirst, route: 'cloud', reason: named(d, `${this.name}:tools`) };
    const threshold = d.threshold ?? this.threshold;
    if (threshold === undefined) return this.tryLocal(d, undefined, this.name);
    if (this.router.embeds) return this.planEmbedded(d, threshold);
    return this.decide(d, threshold, this.router.need(d.view), this.router.embedded ? this.fallback.unavailable : undefined);
  }

  /** With a direct threshold and embedding heads: the score waits for the prompt's embedding. */
  private async planEmbedded(d: Decision, threshold: number): Promise<RoutePlan> {
    const { scores, fallback } = await this.router.scoreAllEmbedded(d.view, d.ctx.signal);
    return this.decide(d, threshold, scores[this.router.needHead]!, fallback === undefined ? undefined : this.fallback[fallback]);
  }

  /** Straight to the cloud when the score reaches the threshold, else the local try. `suffix`: why no embedding was used. */
  private decide(d: Decision, threshold: number, score: number, suffix: string | undefined): RoutePlan {
    if (score >= threshold) return { targets: this.sides.cloudFirst, route: 'cloud', reason: named(d, suffix === undefined ? this.direct : `${this.direct}:${suffix}`), score };
    return this.tryLocal(d, score, suffix === undefined ? this.name : `${this.name}:${suffix}`);
  }

  /** The local side first, its answer checked; then the cloud; then the local side unchecked. */
  private tryLocal(d: Decision, score: number | undefined, reason: string): RoutePlan {
    const { sides } = this;
    const body = d.req.body as { logprobs?: unknown; response_format?: { type?: string; json_schema?: { schema?: unknown } } | null };
    const clientLogprobs = body.logprobs === true || typeof body.logprobs === 'number';
    const request: CascadeRequest = {
      wantsJson: d.view.wantsJson,
      schema: body.response_format?.type === 'json_schema' ? body.response_format.json_schema?.schema : undefined,
      clientLogprobs,
    };
    const plan: RoutePlan = { targets: [], route: 'local', reason: named(d, reason), score };
    const accept = cascadeAccept(request, this.checks, (why) => {
      plan.reason = named(d, this.escalated[why]);
    });
    // Ask the local model for logprobs when the confidence check needs them and the client did not.
    const askLogprobs = this.checks.minConfidence > 0 && !clientLogprobs;
    const extra = askLogprobs ? (d.req.endpoint === 'chat.completions' ? { logprobs: true } : { logprobs: 0 }) : undefined;
    for (const t of sides.local) {
      plan.targets.push({ ...t, accept, extra: askLogprobs && t.backend.capabilities.logprobs ? extra : undefined });
    }
    // Then the cloud; and if the cloud cannot answer either, the local side once more, unchecked.
    for (const t of sides.cloud) plan.targets.push(t);
    for (const t of sides.local) plan.targets.push(t);
    return plan;
  }
}

export interface Candidate {
  model: string;
  targets: RouteTarget[];
  /** USD per million tokens, input + output: the order candidates are tried in. */
  price: number;
  threshold?: number;
  /** Head of the router file that predicts this model's P(answers well), if it has one. */
  head?: number;
}

export class CheapestPolicy implements Policy {
  /** Candidate indices, cheapest first. */
  private readonly byPrice: Int32Array;
  /** Per chosen candidate: its targets, then dearer candidates, then cheaper ones. */
  private readonly targets: RouteTarget[][];
  private readonly reasons: string[];
  private readonly useHeads: boolean;
  private readonly p: Float64Array;
  private readonly heads: Float64Array;
  /** Suffixes of the reason when the file's embedding heads could not score (`tiers:gpt-4o:lexical:timeout`). */
  private readonly fallbackReasons: Record<EmbeddingFallback, string>;

  constructor(
    readonly name: string,
    private readonly candidates: Candidate[],
    private readonly router: LearnedRouter,
    private readonly knob: number,
  ) {
    const order = candidates.map((_, i) => i).sort((a, b) => candidates[a]!.price - candidates[b]!.price);
    this.byPrice = Int32Array.from(order);
    this.targets = candidates.map((_, i) => {
      const rank = order.indexOf(i);
      const after = [...order.slice(rank), ...order.slice(0, rank).reverse()];
      return dedupe(after.flatMap((k) => candidates[k]!.targets));
    });
    this.reasons = candidates.map((c) => `${name}:${c.model}`);
    this.useHeads = candidates.every((c) => c.head !== undefined);
    this.p = new Float64Array(candidates.length);
    this.heads = new Float64Array(router.model.heads.length);
    this.fallbackReasons = { timeout: 'lexical:timeout', error: 'lexical:error', aborted: 'lexical:aborted', unavailable: 'lexical:unavailable' };
  }

  plan(d: Decision): RoutePlan | Promise<RoutePlan> {
    const { byPrice } = this;
    if (d.req.endpoint === 'embeddings') {
      const cheapest = byPrice[0]!; // one embedding model for all: vectors of different models do not compare
      return { targets: this.targets[cheapest]!, route: sideOf(this.targets[cheapest]!), reason: named(d, this.reasons[cheapest]!) };
    }
    if (this.router.embeds) return this.planEmbedded(d);
    // Lexical scores; `heads` is this policy's buffer (a synchronous plan: no other request uses it meanwhile).
    if (this.useHeads) this.router.scoreAll(d.view, this.heads);
    else this.heads[this.router.needHead] = this.router.need(d.view);
    return this.choose(d, this.heads, this.router.embedded ? this.fallbackReasons.unavailable : undefined);
  }

  private async planEmbedded(d: Decision): Promise<RoutePlan> {
    // Its own buffer: other requests' plans run while this one waits for its embedding.
    const { scores, fallback } = await this.router.scoreAllEmbedded(d.view, d.ctx.signal);
    return this.choose(d, scores, fallback === undefined ? undefined : this.fallbackReasons[fallback]);
  }

  /** The choice, from every head's score (`heads`); `suffix`: why the embedding was not used, if so. */
  private choose(d: Decision, heads: Float64Array, suffix: string | undefined): RoutePlan {
    const { candidates, p, byPrice } = this;
    const k = candidates.length;
    const score = heads[this.router.needHead]!;
    if (this.useHeads) {
      // The router was trained on these models' outcomes: it predicts each one's P(answers well).
      for (let i = 0; i < k; i++) p[i] = heads[candidates[i]!.head!]!;
    } else {
      // Only the weak/strong score: the dearest model is taken to answer everything, the cheapest
      // only what the weak side can (1 - need), the ones between in proportion to their price rank.
      for (let r = 0; r < k; r++) p[byPrice[r]!] = 1 - score * (1 - r / (k - 1));
    }
    const knob = d.threshold !== undefined ? 1 - d.threshold : this.knob;
    let chosen = -1;
    for (let r = 0; r < k && chosen < 0; r++) {
      const c = candidates[byPrice[r]!]!;
      // A candidate's own threshold replaces the knob for it.
      if (c.threshold !== undefined ? score < c.threshold : p[byPrice[r]!]! >= knob) chosen = byPrice[r]!;
    }
    if (chosen < 0) chosen = cheapestGoodEnough(p, byPrice, 2); // none qualifies: the likeliest to be right
    const targets = this.targets[chosen]!;
    const reason = suffix === undefined ? this.reasons[chosen]! : `${this.reasons[chosen]!}:${suffix}`;
    return { targets, route: sideOf(targets), reason: named(d, reason), score };
  }
}
