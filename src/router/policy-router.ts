/**
 * The gateway's router: plain model routing (ModelRouter) for named models, and routing policies
 * for the virtual model `auto` (`auto:<threshold>`), aliases, and the `x-sluice-route` header.
 * The policy of `auto` is the key's (`routing.keys`) or `routing.default`.
 */
import { basename, resolve } from 'node:path';
import type { ModelInfo } from '../api/types.js';
import type { Backend, CallContext } from '../backends/types.js';
import { ConfigError } from '../config/load.js';
import type { BackendConfig, SluiceConfig } from '../config/schema.js';
import { gatewayError } from '../errors.js';
import { PriceTable } from '../ledger/prices.js';
import { type PolicyConfig, policySchema, type RoutingConfig } from './config.js';
import { defaultRouter, LearnedRouter } from './learned.js';
import { type Candidate, CascadePolicy, CheapestPolicy, LearnedPolicy, type Policy, RulesPolicy, SidePolicy, Sides } from './policies.js';
import { viewRequest } from './request-view.js';
import { localTokenPrice } from './local-price.js';
import { backendEmbedder, cachedEmbedder, normalizedEmbedder, type TextEmbedder } from '../util/embedding-features.js';
import { ModelRouter, type RoutePlan, type RouteRequest, type Router, type RouteTarget } from './router.js';

export const AUTO_MODEL = 'auto';
export const ROUTE_HEADER = 'x-sluice-route';

/** A routing config that cannot work with these backends (unknown model, missing price, a loop of rules). */
export class RoutingConfigError extends ConfigError {
  constructor(problem: string) {
    super('routing', [problem]);
  }
}

export class PolicyRouter implements Router {
  private readonly thresholds = new Map<string, number>();
  private readonly modelList: ModelInfo[];

  constructor(
    private readonly byModel: ModelRouter,
    private readonly defaultPolicy: Policy,
    private readonly policies: ReadonlyMap<string, Policy>,
    private readonly aliases: ReadonlyMap<string, Policy>,
    private readonly keyPolicies: ReadonlyMap<string, Policy>,
    /** List `auto` in /v1/models: there is a choice to make (a local and a cloud side). It works either way. */
    listAuto: boolean,
  ) {
    const created = Math.floor(Date.now() / 1000);
    const virtual = [...(listAuto ? [AUTO_MODEL] : []), ...aliases.keys()].filter((id) => !byModel.models().some((m) => m.id === id));
    this.modelList = [...byModel.models(), ...virtual.map((id) => ({ id, object: 'model' as const, created, owned_by: 'sluice:router' }))];
  }

  private policyFor(ctx: CallContext): Policy {
    return (ctx.keyName !== undefined && this.keyPolicies.get(ctx.keyName)) || this.defaultPolicy;
  }

  /** `auto:0.3` -> 0.3 (memoised: clients reuse a handful of values). */
  private threshold(spec: string, what: string): number {
    let t = this.thresholds.get(spec);
    if (t === undefined) {
      const text = spec.slice(AUTO_MODEL.length + 1);
      t = text.trim() === '' ? NaN : Number(text);
      if (!(t >= 0 && t <= 1)) throw gatewayError('invalid_route', `${what} '${spec}': the threshold after 'auto:' must be a number from 0 to 1.`, { param: what === 'model' ? 'model' : null });
      if (this.thresholds.size < 256) this.thresholds.set(spec, t);
    }
    return t;
  }

  route(req: RouteRequest, ctx: CallContext): RoutePlan | Promise<RoutePlan> {
    const model = req.body.model;
    let policy: Policy | undefined;
    let threshold: number | undefined;
    if (model === AUTO_MODEL) policy = this.policyFor(ctx);
    else if (model.startsWith('auto:')) {
      policy = this.policyFor(ctx);
      threshold = this.threshold(model, 'model');
    } else policy = this.aliases.get(model);
    const header = req.headers?.[ROUTE_HEADER];
    if (header !== undefined) {
      // The header overrides: a side, or routing (by the alias's policy when the model is one).
      const value = (Array.isArray(header) ? header[0]! : header).trim().toLowerCase();
      if (value === 'local' || value === 'cloud') policy = this.policies.get(value)!;
      else if (value === AUTO_MODEL) policy ??= this.policyFor(ctx);
      else if (value.startsWith('auto:')) {
        policy ??= this.policyFor(ctx);
        threshold = this.threshold(value, ROUTE_HEADER);
      } else throw gatewayError('invalid_route', `${ROUTE_HEADER} must be 'local', 'cloud', 'auto' or 'auto:<threshold>', not '${value}'.`);
    }
    if (policy === undefined) return this.byModel.route(req, ctx);
    return policy.plan({ req, ctx, view: viewRequest(req.endpoint, req.body, req.task ?? ctx.task ?? undefined), threshold });
  }

  models(): ModelInfo[] {
    return this.modelList;
  }
}

export interface CreateRouterOptions {
  /** Directory relative router-file paths are resolved against (default: cwd). */
  cwd?: string;
}

function firstModel(config: BackendConfig): string {
  return Object.keys(config.models ?? { [config.name]: config.name })[0] ?? config.name;
}

/** Builds the gateway's router from the `routing` config block. */
export function createRouter(config: Pick<SluiceConfig, 'routing' | 'ledger'>, backends: ReadonlyArray<{ backend: Backend; config: BackendConfig }>, options: CreateRouterOptions = {}): PolicyRouter {
  const routing: RoutingConfig = config.routing;
  const byModel = new ModelRouter(backends);
  const cwd = options.cwd ?? process.cwd();

  const targetsOf = (model: string, what: string): RouteTarget[] => {
    try {
      return byModel.route({ endpoint: 'chat.completions', body: { model } }, { requestId: 'routing-config', signal: new AbortController().signal }).targets;
    } catch {
      throw new RoutingConfigError(`${what}: no backend serves the model '${model}'`);
    }
  };
  const localModel = routing.local ?? backends.find((b) => b.backend.locality === 'local')?.config;
  const cloudModel = routing.cloud ?? backends.find((b) => b.backend.locality === 'remote')?.config;
  const sideTargets = (m: string | BackendConfig | undefined, what: string) => (m === undefined ? [] : targetsOf(typeof m === 'string' ? m : firstModel(m), what));
  const sides = new Sides(sideTargets(localModel, 'routing.local'), sideTargets(cloudModel, 'routing.cloud'));

  // The embedder of router files trained with embedding features: the configured model, else the
  // local backend serving the file's GGUF, else the backend/model the file names. One per source,
  // shared by every router file (and its cache).
  const embedders = new Map<string, TextEmbedder | null>();
  const embedderFor = (r: LearnedRouter): TextEmbedder | null => {
    const block = r.embedded?.block;
    if (!block) return null;
    const key = routing.embedder.model ?? block.modelFile ?? block.source;
    if (embedders.has(key)) return embedders.get(key)!;
    let target: { backend: Backend; model: string } | undefined;
    if (routing.embedder.model !== undefined) {
      const t = targetsOf(routing.embedder.model, 'routing.embedder.model')[0];
      if (t) target = { backend: t.backend, model: t.upstreamModel };
    } else {
      const local = block.modelFile ? backends.find((b) => b.config.kind === 'local' && basename(b.config.model) === block.modelFile) : undefined;
      if (local) target = { backend: local.backend, model: firstModel(local.config) };
      else {
        try {
          const t = byModel.route({ endpoint: 'embeddings', body: { model: block.source } }, { requestId: 'routing-config', signal: new AbortController().signal }).targets[0];
          if (t) target = { backend: t.backend, model: t.upstreamModel };
        } catch {
          // Nobody serves it: the file scores lexically.
        }
      }
    }
    const e = target ? cachedEmbedder(normalizedEmbedder(backendEmbedder(target.backend, target.model, { maxChars: block.maxChars, requestId: 'router-embedding' })), routing.embedder.cacheSize) : null;
    embedders.set(key, e);
    return e;
  };

  const routers = new Map<string, LearnedRouter>();
  const routerFile = (path: string | undefined): LearnedRouter => {
    const file = path ?? routing.router;
    if (file === undefined) return defaultRouter();
    const full = resolve(cwd, file);
    let r = routers.get(full);
    if (!r) {
      r = LearnedRouter.load(full);
      const e = embedderFor(r);
      if (e) r.attachEmbedder(e, routing.embedder.timeoutMs);
      routers.set(full, r);
    }
    return r;
  };
  const thresholdOf = (r: LearnedRouter, own?: number) => own ?? routing.threshold ?? r.threshold;
  const prices = new PriceTable(config.ledger.prices);

  const build = (name: string, p: PolicyConfig): Policy => {
    switch (p.type) {
      case 'local':
      case 'cloud':
        return new SidePolicy(name, p.type, sides);
      case 'learned': {
        const r = routerFile(p.router);
        return new LearnedPolicy(name, r, p.threshold ?? routing.threshold, sides);
      }
      case 'cascade':
        return new CascadePolicy(name, routerFile(p.router), p.threshold, p.checks, sides);
      case 'rules':
        return new RulesPolicy(name);
      case 'cheapest': {
        const r = routerFile(p.router);
        const candidates: Candidate[] = p.candidates.map((c, i) => {
          const targets = targetsOf(c.model, `routing.policies.${name}.candidates[${i}]`);
          const local = targets[0]?.backend.locality === 'local';
          const upstream = targets[0]?.upstreamModel ?? c.model;
          const listed = prices.lookup(c.model) ?? prices.lookup(upstream);
          // A local model costs its host's time, priced as the ledger prices it.
          const hostPrice = () => localTokenPrice({ backendHourlyUsd: config.ledger.backendHourlyUsd[targets[0]!.backend.name], localCost: config.ledger.localCost, tokensPerSecond: c.tokensPerSecond });
          const price = c.price ?? (local ? hostPrice() : listed?.price);
          if (!price) throw new RoutingConfigError(`routing.policies.${name}.candidates[${i}]: no price known for '${c.model}'; give it a price {input, output} in USD per million tokens`);
          return { model: c.model, targets, price: price.input + price.output, threshold: c.threshold, head: r.modelHeads.get(c.model) ?? r.modelHeads.get(upstream) };
        });
        return new CheapestPolicy(name, candidates, r, p.costQuality ?? 1 - thresholdOf(r));
      }
    }
  };

  const configs = new Map<string, PolicyConfig>([
    ['local', { type: 'local' }],
    ['cloud', { type: 'cloud' }],
    ['learned', { type: 'learned' }],
    ['cascade', policySchema.parse({ type: 'cascade' })],
  ]);
  for (const [name, p] of Object.entries(routing.policies)) configs.set(name, p);
  const policies = new Map<string, Policy>();
  for (const [name, p] of configs) policies.set(name, build(name, p));
  // `local` and `cloud` always mean the sides (the header uses them), whatever a config redefines.
  policies.set('local', new SidePolicy('local', 'local', sides));
  policies.set('cloud', new SidePolicy('cloud', 'cloud', sides));

  const get = (name: string, what: string): Policy => {
    const p = policies.get(name);
    if (!p) throw new RoutingConfigError(`${what}: unknown policy '${name}'`);
    return p;
  };
  for (const [name, p] of configs) {
    if (p.type !== 'rules') continue;
    (policies.get(name) as RulesPolicy).resolve(
      p.rules.map((r, i) => ({ if: r.if, then: get(r.then, `routing.policies.${name}.rules[${i}].then`) })),
      get(p.otherwise, `routing.policies.${name}.otherwise`),
    );
  }
  checkNoRuleLoops(configs);

  const aliases = new Map([...Object.entries(routing.aliases)].map(([alias, p]) => [alias, get(p, `routing.aliases.${alias}`)]));
  const keys = new Map([...Object.entries(routing.keys)].map(([key, p]) => [key, get(p, `routing.keys.${key}`)]));
  return new PolicyRouter(byModel, get(routing.default, 'routing.default'), policies, aliases, keys, sides.local.length > 0 && sides.cloud.length > 0);
}

/** Rules that hand over to rules that hand back would loop forever on some request: refuse at start. */
function checkNoRuleLoops(configs: ReadonlyMap<string, PolicyConfig>): void {
  const next = (name: string): string[] => {
    const p = configs.get(name);
    return p?.type === 'rules' ? [...p.rules.map((r) => r.then), p.otherwise] : [];
  };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new RoutingConfigError(`routing.policies: rules loop ${[...path, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const n of next(name)) visit(n, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of configs.keys()) visit(name, []);
}


