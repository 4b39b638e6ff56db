/**
 * Where a request's backend is chosen: the one place routing policies plug in.
 * This release routes by model name: each backend serves the public model ids of its `models`
 * map (default: its own name), `<backend>/<upstream-model>` addresses a remote backend directly,
 * and a backend's `fallbacks` follow it in the plan. PolicyRouter (./policy-router.ts) wraps it
 * with `auto`, aliases and routing policies (learned, rules, cascade, cheapest); nothing else in
 * the gateway changes.
 */
import type { ModelInfo } from '../api/types.js';
import type { Backend, CallContext } from '../backends/types.js';
import type { BackendConfig } from '../config/schema.js';
import { errors } from '../errors.js';
import type { Endpoint } from '../api/types.js';

export interface RouteTarget {
  backend: Backend;
  /** The model name to send to this backend. */
  upstreamModel: string;
  /** Fields added to the body sent to this target (a cascade asks the local model for logprobs). */
  extra?: Record<string, unknown>;
  /**
   * Inspects this target's answer before it is returned (a cascade's checks): resolves to the
   * answer to use, or rejects with a retryable `fallbackOnly` GatewayError to go on to the next
   * target. Streams are handed over once committed, so a check may buffer one before the client
   * sees a byte.
   */
  accept?: (answer: unknown, ctx: CallContext) => Promise<unknown>;
}

/** Which side a plan sends the request to first: reported in `x-sluice-route` and the ledger. */
export type RouteSide = 'local' | 'cloud';

export interface RoutePlan {
  /** The primary target first, then fallbacks in order. */
  targets: RouteTarget[];
  /** Side of the primary target (derived from its locality when the router does not decide). */
  route?: RouteSide;
  /** Why this plan: the policy that chose it (`model`, `rules:<name>`, `learned`, `cascade`, ...). */
  reason?: string;
  /** The learned router's score (P(strong model needed)), when one was computed. */
  score?: number;
}

/** What the router sees of a request: the endpoint and the whole parsed body. */
export interface RouteRequest {
  endpoint: Endpoint;
  body: { model: string; [field: string]: unknown };
  /** Request headers, lower-case names (e.g. `x-sluice-route`); absent for in-process callers. */
  headers?: Record<string, string | string[] | undefined>;
  /** The task API the request belongs to; default: the call context's `task` (set by the task APIs). */
  task?: string;
}

export interface Router {
  /**
   * Throws a 404 GatewayError for a model nobody serves. Returns a promise only when the decision
   * waits for something (a learned router with embedding features); callers await it only then,
   * so plain routing stays synchronous.
   */
  route(req: RouteRequest, ctx: CallContext): RoutePlan | Promise<RoutePlan>;
  models(): ModelInfo[];
}

interface Entry {
  backend: Backend;
  /** public id -> upstream name */
  models: Record<string, string>;
  fallbacks: string[];
}

export class ModelRouter implements Router {
  private readonly entries = new Map<string, Entry>();
  /** public model id -> plan, computed once: routing is a Map lookup on the hot path. */
  private readonly plans = new Map<string, RoutePlan>();
  private readonly modelList: ModelInfo[] = [];

  constructor(backends: ReadonlyArray<{ backend: Backend; config: BackendConfig }>) {
    const created = Math.floor(Date.now() / 1000);
    for (const { backend, config } of backends) {
      const models = config.models ?? { [config.name]: config.name };
      this.entries.set(config.name, { backend, models, fallbacks: config.fallbacks });
    }
    for (const [name, entry] of this.entries) {
      for (const [publicId, upstream] of Object.entries(entry.models)) {
        if (this.plans.has(publicId)) continue; // first backend that declares a model owns it
        this.plans.set(publicId, this.plan(name, upstream, publicId));
        this.modelList.push({ id: publicId, object: 'model', created, owned_by: `sluice:${name}` });
      }
    }
  }

  private plan(primary: string, upstream: string, publicId: string): RoutePlan {
    const targets: RouteTarget[] = [];
    const seen = new Set<string>();
    // Breadth-first over fallbacks of fallbacks, each backend once.
    const queue: Array<[string, string]> = [[primary, upstream]];
    while (queue.length) {
      const [name, model] = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const entry = this.entries.get(name);
      if (!entry) continue;
      targets.push({ backend: entry.backend, upstreamModel: model });
      for (const fb of entry.fallbacks) {
        const fbEntry = this.entries.get(fb);
        if (!fbEntry) continue;
        // A fallback serves the same public model if it declares it, else its own default model.
        queue.push([fb, fbEntry.models[publicId] ?? Object.values(fbEntry.models)[0] ?? fb]);
      }
    }
    const first = targets[0]?.backend;
    return { targets, route: first?.locality === 'remote' ? 'cloud' : 'local', reason: 'model' };
  }

  route(req: RouteRequest, _ctx: CallContext): RoutePlan {
    const model = req.body.model;
    const plan = this.plans.get(model);
    if (plan) return plan;
    // `<backend>/<upstream model>`: pass any model name through to a remote backend.
    const slash = model.indexOf('/');
    if (slash > 0) {
      const name = model.slice(0, slash);
      const entry = this.entries.get(name);
      if (entry && entry.backend.capabilities.passThroughModels) {
        const direct = this.plan(name, model.slice(slash + 1), model);
        return direct;
      }
    }
    throw errors.modelNotFound(model);
  }

  models(): ModelInfo[] {
    return this.modelList;
  }
}
