/**
 * What a token from a local model costs, for choosing among N models by price: local models are
 * not free, they cost their host's time. The ledger charges a local request `host hourly cost x
 * busy time` (src/ledger/costs.ts); the router needs the same money per token before the request
 * runs, so it divides the same hourly cost (the backend's `ledger.backendHourlyUsd`, else
 * `ledger.localCost`) by the host's speed:
 *
 *   output USD per million tokens = hourly / (3600 x completion tokens per second) x 1e6
 *   input  USD per million tokens = hourly / (3600 x prompt tokens per second) x 1e6
 *
 * Speeds are the candidate's `tokensPerSecond` (config) or CPU-class defaults; prompt tokens are
 * read in batches, so they go `PROMPT_SPEEDUP` times faster than tokens are generated.
 */
import { hourlyCost, type LocalCostConfig } from '../ledger/costs.js';

/** Completion tokens per second a small model generates on a CPU host, when the config does not say. */
export const DEFAULT_LOCAL_TOKENS_PER_SECOND = 20;
/** How much faster prompt tokens are processed than completion tokens are generated. */
export const PROMPT_SPEEDUP = 10;

export interface LocalPriceInput {
  /** The backend's own hourly cost (ledger.backendHourlyUsd[name]), if set. */
  backendHourlyUsd?: number;
  localCost: LocalCostConfig;
  /** Completion tokens per second on this host. */
  tokensPerSecond?: number;
}

/** USD per million tokens, input and output, of a local model: its host's time. */
export function localTokenPrice(p: LocalPriceInput): { input: number; output: number; hourlyUsd: number } {
  const hourlyUsd = p.backendHourlyUsd ?? hourlyCost(p.localCost);
  const tps = p.tokensPerSecond ?? DEFAULT_LOCAL_TOKENS_PER_SECOND;
  const output = (hourlyUsd / (3600 * tps)) * 1e6;
  return { input: output / PROMPT_SPEEDUP, output, hourlyUsd };
}
