/**
 * What a request cost and what it would have cost on the baseline cloud model. Money is counted in
 * nano-dollars (1e-9 USD) as integers: sums are exact in JavaScript and in SQL up to 9 million USD,
 * and one token of the cheapest model still has a whole number of them.
 *
 * - A request answered by a remote backend costs its model's list price (prices.ts, overridable).
 * - A request answered by a local backend costs the host's hourly price times the busy time it
 *   added: the local backend's busy time is the union of its requests' [arrival, end] intervals,
 *   and because usage events arrive in end order, each request can be charged exactly the part of
 *   that union it extends. One request at a time: each pays `hourly x its latency`. Overlapping
 *   requests: the sum is still exactly `hourly x busy time`; the first to finish carries the shared
 *   stretch. An idle host costs nothing here (the hardware is bought either way; the report
 *   compares what traffic costs).
 * - The baseline is what the configured baseline model would have charged for the same prompt and
 *   completion tokens (embeddings: the baseline embedding model).
 */
import type { UsageEvent } from './usage.js';
import { PriceTable, type ModelPrice } from './prices.js';

export const NANO_PER_USD = 1e9;

export type Side = 'local' | 'cloud' | 'none';

export interface LocalCostConfig {
  /** Explicit hourly cost of the host (USD); when unset it is derived from the fields below. */
  hourlyUsd?: number;
  /** Purchase price of the host, spread over `amortizationMonths`. */
  hardwareUsd: number;
  amortizationMonths: number;
  /** Average draw under load, and the price of electricity. */
  watts: number;
  electricityUsdPerKwh: number;
}

export interface CostConfig {
  baselineModel: string;
  baselineEmbeddingModel: string;
  prices: Record<string, ModelPrice>;
  localCost: LocalCostConfig;
  /** Hourly cost per local backend, overriding `localCost` (a GPU box next to a CPU box). */
  backendHourlyUsd: Record<string, number>;
}

export interface BackendInfo {
  locality: 'local' | 'remote';
  /** Public model id -> upstream model name (the backend's `models` map). */
  models: Record<string, string>;
}

export interface Priced {
  costNusd: number;
  baselineNusd: number;
  /** Where the request was served: the locality of the backend that answered (or was last tried). */
  side: Side;
  /** The price-table entry applied, `local`, or null when a cloud model has no known price. */
  priceSource: string | null;
}

const HOURS_PER_MONTH = 730;

/** Hourly host cost: explicit, or hardware amortisation plus power. */
export function hourlyCost(c: LocalCostConfig): number {
  if (c.hourlyUsd !== undefined) return c.hourlyUsd;
  return c.hardwareUsd / (c.amortizationMonths * HOURS_PER_MONTH) + (c.watts / 1000) * c.electricityUsdPerKwh;
}

/** Nano-dollars for a token count at a per-million price. */
function tokenCost(tokens: number, usdPerMillion: number): number {
  // USD per million tokens == nano-dollars per token / 1000.
  return tokens * usdPerMillion * 1000;
}

export function priceTokens(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  return Math.round(tokenCost(promptTokens, price.input) + tokenCost(completionTokens, price.output));
}

export class CostModel {
  readonly prices: PriceTable;
  private readonly baseline: ModelPrice | null;
  private readonly baselineEmbedding: ModelPrice | null;
  private readonly nanoPerMs = new Map<string, number>();
  private readonly defaultNanoPerMs: number;
  /** Per local backend: the end of the busy time already charged (epoch ms). */
  private readonly busyUntil = new Map<string, number>();
  private readonly backends: ReadonlyMap<string, BackendInfo>;

  constructor(config: CostConfig, backends: ReadonlyMap<string, BackendInfo>) {
    this.prices = new PriceTable(config.prices);
    this.backends = backends;
    this.baseline = this.prices.lookup(config.baselineModel)?.price ?? null;
    this.baselineEmbedding = this.prices.lookup(config.baselineEmbeddingModel)?.price ?? null;
    if (!this.baseline) throw new Error(`ledger.baselineModel "${config.baselineModel}" has no price: add it to ledger.prices`);
    if (!this.baselineEmbedding) throw new Error(`ledger.baselineEmbeddingModel "${config.baselineEmbeddingModel}" has no price: add it to ledger.prices`);
    this.defaultNanoPerMs = (hourlyCost(config.localCost) * NANO_PER_USD) / 3_600_000;
    for (const [name, hourly] of Object.entries(config.backendHourlyUsd)) this.nanoPerMs.set(name, (hourly * NANO_PER_USD) / 3_600_000);
  }

  /** The model name the backend was sent: its `models` map, `<backend>/<model>` addressing, or the name itself. */
  upstreamModel(backend: string, model: string, info: BackendInfo | undefined): string {
    const mapped = info?.models[model];
    if (mapped !== undefined) return mapped;
    if (model.startsWith(backend) && model.charCodeAt(backend.length) === 47 /* '/' */) return model.slice(backend.length + 1);
    // A router that picked this backend for a public name it does not declare (`auto`): its first model.
    if (info) for (const first in info.models) return info.models[first]!;
    return model;
  }

  /** Prices one finished request. Must be called in end order (the usage event order). */
  price(e: UsageEvent, finishedAt: number): Priced {
    const tokens = e.promptTokens + e.completionTokens;
    const base = e.endpoint === 'embeddings' ? this.baselineEmbedding! : this.baseline!;
    const baselineNusd = tokens === 0 ? 0 : priceTokens(base, e.promptTokens, e.completionTokens);
    if (e.backend === null) return { costNusd: 0, baselineNusd, side: 'none', priceSource: null };
    const info = this.backends.get(e.backend);
    if (info?.locality === 'local') {
      return { costNusd: this.localCost(e.backend, e.startedAt, finishedAt), baselineNusd, side: 'local', priceSource: 'local' };
    }
    if (tokens === 0) return { costNusd: 0, baselineNusd, side: 'cloud', priceSource: null };
    const found = this.prices.lookup(this.upstreamModel(e.backend, e.model ?? '', info));
    if (!found) return { costNusd: 0, baselineNusd, side: 'cloud', priceSource: null };
    return { costNusd: priceTokens(found.price, e.promptTokens, e.completionTokens), baselineNusd, side: 'cloud', priceSource: found.name };
  }

  /** Charges the busy time this request adds to its local backend's union of busy intervals. */
  private localCost(backend: string, start: number, end: number): number {
    const chargedUntil = this.busyUntil.get(backend) ?? 0;
    const added = end - Math.max(start, chargedUntil);
    if (end > chargedUntil) this.busyUntil.set(backend, end);
    if (added <= 0) return 0;
    return Math.round(added * (this.nanoPerMs.get(backend) ?? this.defaultNanoPerMs));
  }
}

export function usd(nano: number): number {
  return nano / NANO_PER_USD;
}
