/**
 * Prometheus metrics (prom-client) in a registry of sluice's own, not prom-client's global one, so
 * an embedding process or a second gateway in the same process never mixes series.
 *
 * Label values come only from configuration and fixed sets (endpoint, route side, backend name,
 * status, router policy, PII entity type): never from request content. The requested model is not
 * a label (clients choose it freely, pass-through addressing forwards any name).
 *
 * Per-request updates go through cached label children: no label hashing on the hot path.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend } from '../backends/types.js';
import { NANO_PER_USD, type Priced } from './costs.js';
import type { UsageEvent } from './usage.js';
import type { LedgerWriter } from './writer.js';
import type { Budgets } from './budgets.js';

export interface MetricsSources {
  backends: ReadonlyArray<Backend>;
  /** Circuit state of a backend (`closed`, `open`, `half-open`). */
  breakerState(backend: Backend): string;
  writer: LedgerWriter | null;
  budgets?: Budgets;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

type Child<T> = T extends Counter<string> ? ReturnType<Counter<string>['labels']> : ReturnType<Histogram<string>['labels']>;

/** Label children by a precomputed key, so a label set is hashed once, not per request. */
class Children<M extends Counter<string> | Histogram<string>> {
  private readonly map = new Map<string, Child<M>>();
  constructor(private readonly metric: M) {}
  get(key: string, ...values: string[]): Child<M> {
    let child = this.map.get(key);
    if (child === undefined) {
      child = this.metric.labels(...values) as Child<M>;
      this.map.set(key, child);
    }
    return child;
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Children<Counter<string>>;
  private readonly duration: Children<Histogram<string>>;
  private readonly ttft: Children<Histogram<string>>;
  private readonly tokens: Children<Counter<string>>;
  private readonly cost: Children<Counter<string>>;
  private readonly baseline: Children<Counter<string>>;
  private readonly decisions: Children<Counter<string>>;
  private readonly pii: Children<Counter<string>>;
  private readonly fallbacks: Children<Counter<string>>;
  private readonly shadowCalls: Children<Counter<string>>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.requests = new Children(
      new Counter({ name: 'sluice_requests_total', help: 'API requests by endpoint, where they were served (route), backend, outcome and HTTP status.', labelNames: ['endpoint', 'route', 'backend', 'status', 'code'], registers }),
    );
    this.duration = new Children(
      new Histogram({ name: 'sluice_request_duration_seconds', help: 'Arrival to last byte, by endpoint and route.', labelNames: ['endpoint', 'route'], buckets: LATENCY_BUCKETS, registers }),
    );
    this.ttft = new Children(
      new Histogram({ name: 'sluice_time_to_first_token_seconds', help: 'Arrival to first streamed content, streams only.', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers }),
    );
    this.tokens = new Children(new Counter({ name: 'sluice_tokens_total', help: 'Tokens by route and kind (prompt, completion).', labelNames: ['route', 'kind'], registers }));
    this.cost = new Children(new Counter({ name: 'sluice_cost_usd_total', help: 'What requests cost (cloud list prices; local host time), USD.', labelNames: ['route'], registers }));
    this.baseline = new Children(
      new Counter({ name: 'sluice_baseline_cost_usd_total', help: 'What the same tokens would have cost on the baseline cloud model, USD.', labelNames: ['route'], registers }),
    );
    this.decisions = new Children(
      new Counter({ name: 'sluice_route_decisions_total', help: "The router's first choice (local/cloud) and the policy that made it.", labelNames: ['route', 'reason'], registers }),
    );
    this.shadowCalls = new Children(
      new Counter({ name: 'sluice_shadow_calls_total', help: 'Shadow-mode cloud calls (second opinions and judge calls) by backend and outcome; their tokens and cost are under route="shadow".', labelNames: ['backend', 'status'], registers }),
    );
    this.pii = new Children(new Counter({ name: 'sluice_pii_findings_total', help: 'Requests in which the privacy guard found an entity type (types only, never values).', labelNames: ['type'], registers }));
    this.fallbacks = new Children(
      new Counter({ name: 'sluice_fallback_requests_total', help: 'Requests answered by a backend other than the first one tried, by the backend that answered.', labelNames: ['backend'], registers }),
    );

    const { backends, breakerState, writer, budgets } = sources;
    // Key names are operator-chosen configuration (budgets.keys), so they may be labels here.
    const perKey = (name: string, help: string, read: (u: ReturnType<Budgets['usage']>[number]) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['key'],
        registers,
        collect() {
          for (const u of budgets?.usage() ?? []) {
            const v = read(u);
            if (v !== undefined) this.set({ key: u.key }, v);
          }
        },
      });
    perKey('sluice_key_monthly_cloud_spend_usd', 'Cloud spend this UTC month of each key with limits (this instance\'s own plus what other instances have flushed).', (u) => u.spentUsd);
    perKey('sluice_key_monthly_cloud_budget_usd', 'Monthly cloud budget of each key that has one.', (u) => u.limits.monthlyCloudUsd);
    perKey('sluice_key_requests_per_minute', 'Sliding one-minute request count of each key with a requests-per-minute limit.', (u) => (u.limits.requestsPerMinute === undefined ? undefined : u.requestsPerMinute));
    perKey('sluice_key_tokens_per_minute', 'Sliding one-minute token count of each key with a tokens-per-minute limit.', (u) => (u.limits.tokensPerMinute === undefined ? undefined : u.tokensPerMinute));
    new Gauge({
      name: 'sluice_backend_up',
      help: 'Whether the backend can take requests (model loaded, a healthy pool member).',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backends) this.set({ backend: b.name }, b.status().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_backend_circuit_open',
      help: "1 while the backend's circuit breaker is open (failing, taken out of service).",
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backends) this.set({ backend: b.name }, breakerState(b) === 'open' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_backend_in_flight',
      help: 'Requests the backend is serving now.',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backends) this.set({ backend: b.name }, b.status().inFlight);
      },
    });
    new Gauge({
      name: 'sluice_backend_queue_depth',
      help: 'Requests waiting for a free slot of the backend (local models).',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backends) this.set({ backend: b.name }, b.status().queued ?? 0);
      },
    });
    new Gauge({
      name: 'sluice_ledger_buffer_depth',
      help: 'Ledger records waiting to be written to the database.',
      registers,
      collect() {
        this.set(writer?.depth ?? 0);
      },
    });
    // Counters mirrored from the writer's own tallies at scrape time.
    const mirror = (name: string, help: string, read: (w: LedgerWriter) => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = writer ? read(writer) : 0;
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    };
    mirror('sluice_ledger_dropped_records_total', 'Ledger records lost: the buffer was full while the database was unreachable (or it was still down at shutdown).', (w) => w.dropped);
    mirror('sluice_ledger_written_records_total', 'Ledger records written to the database.', (w) => w.written);
    mirror('sluice_ledger_write_errors_total', 'Failed ledger writes (each is retried).', (w) => w.writeErrors);
  }

  /** Per finished request (a priced usage event). */
  readonly observe = (e: UsageEvent, p: Priced): void => {
    const route = p.side;
    const backend = e.backend ?? 'none';
    const code = e.httpStatus;
    this.requests.get(`${e.endpoint}|${route}|${backend}|${e.status}|${code}`, e.endpoint, route, backend, e.status, String(code)).inc();
    this.duration.get(`${e.endpoint}|${route}`, e.endpoint, route).observe(e.latencyMs / 1000);
    if (e.ttftMs !== null) this.ttft.get(route, route).observe(e.ttftMs / 1000);
    if (e.promptTokens > 0) this.tokens.get(`${route}|p`, route, 'prompt').inc(e.promptTokens);
    if (e.completionTokens > 0) this.tokens.get(`${route}|c`, route, 'completion').inc(e.completionTokens);
    if (p.costNusd > 0) this.cost.get(route, route).inc(p.costNusd / NANO_PER_USD);
    if (p.baselineNusd > 0) this.baseline.get(route, route).inc(p.baselineNusd / NANO_PER_USD);
    if (e.route !== null) this.decisions.get(`${e.route}|${e.routeReason}`, e.route, e.routeReason ?? 'unknown').inc();
    for (let i = 0; i < e.piiTypes.length; i++) this.pii.get(e.piiTypes[i]!, e.piiTypes[i]!).inc();
    if (e.fallbackFrom.length > 0 && e.status === 'ok') this.fallbacks.get(backend, backend).inc();
  };

  /**
   * Per shadow-mode call (the second opinion or the judge; src/distill/shadow.ts): not client
   * traffic, so not in sluice_requests_total, but its tokens and cost are real cloud spend and
   * count under route "shadow".
   */
  readonly observeShadow = (e: UsageEvent, p: Priced): void => {
    const backend = e.backend ?? 'none';
    this.shadowCalls.get(`${backend}|${e.status}`, backend, e.status).inc();
    if (e.promptTokens > 0) this.tokens.get('shadow|p', 'shadow', 'prompt').inc(e.promptTokens);
    if (e.completionTokens > 0) this.tokens.get('shadow|c', 'shadow', 'completion').inc(e.completionTokens);
    if (p.costNusd > 0) this.cost.get('shadow', 'shadow').inc(p.costNusd / NANO_PER_USD);
  };

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
