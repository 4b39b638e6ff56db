/**
 * List prices of common cloud models, in USD per million tokens (input, output), shipped with the
 * package so a fresh install can put a price on every request. Prices change: override or extend
 * them in config (`ledger.prices`). Figures are the providers' public list prices for standard
 * (non-batch, non-cached) text tokens as of mid-2025.
 */
export interface ModelPrice {
  /** USD per million prompt (input) tokens. */
  input: number;
  /** USD per million completion (output) tokens. */
  output: number;
}

export const PRICES_AS_OF = '2025-06';

export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  // OpenAI
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, output: 60 },
  'o1-mini': { input: 1.1, output: 4.4 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
  // Anthropic
  'claude-opus-4': { input: 15, output: 75 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-3-5-sonnet': { input: 3, output: 15 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-opus': { input: 15, output: 75 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
  // Google
  'gemini-2.5-pro': { input: 1.25, output: 10 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4 },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
  'gemini-1.5-pro': { input: 1.25, output: 5 },
  'gemini-1.5-flash': { input: 0.075, output: 0.3 },
  // Mistral
  'mistral-large': { input: 2, output: 6 },
  'mistral-medium': { input: 0.4, output: 2 },
  'mistral-small': { input: 0.1, output: 0.3 },
  codestral: { input: 0.3, output: 0.9 },
  // DeepSeek
  'deepseek-chat': { input: 0.27, output: 1.1 },
  'deepseek-reasoner': { input: 0.55, output: 2.19 },
};

/**
 * Finds the price of a model name as clients and providers spell it: case-insensitive, without a
 * provider prefix (`openai/gpt-4o`), and for dated or suffixed variants the longest table entry
 * the name starts with at a `-` boundary (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`,
 * `claude-3-5-sonnet-latest` -> `claude-3-5-sonnet`). Lookups are memoised: the table is fixed.
 */
export class PriceTable {
  private readonly prices = new Map<string, ModelPrice>();
  private readonly resolved = new Map<string, { name: string; price: ModelPrice } | null>();

  constructor(overrides: Readonly<Record<string, ModelPrice>> = {}) {
    for (const [name, price] of Object.entries(DEFAULT_PRICES)) this.prices.set(name.toLowerCase(), price);
    for (const [name, price] of Object.entries(overrides)) this.prices.set(name.toLowerCase(), price);
  }

  /** The matched table entry and its price, or null when the model is unknown. */
  lookup(model: string): { name: string; price: ModelPrice } | null {
    const cached = this.resolved.get(model);
    if (cached !== undefined) return cached;
    const found = this.find(model);
    // Bounded: model names come from clients (pass-through addressing accepts any name).
    if (this.resolved.size >= 4096) this.resolved.clear();
    this.resolved.set(model, found);
    return found;
  }

  private find(model: string): { name: string; price: ModelPrice } | null {
    const full = model.toLowerCase();
    const exact = this.prices.get(full);
    if (exact) return { name: full, price: exact };
    const bare = full.slice(full.lastIndexOf('/') + 1);
    let best: string | null = null;
    for (const name of this.prices.keys()) {
      if (bare === name || (bare.startsWith(name) && bare.charCodeAt(name.length) === 45 /* '-' */)) {
        if (best === null || name.length > best.length) best = name;
      }
    }
    return best === null ? null : { name: best, price: this.prices.get(best)! };
  }
}
