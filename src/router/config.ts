/**
 * The `routing` block of sluice.config: which requests go to the local model and which to the
 * cloud. Clients opt in per request with the virtual model `auto` (`auto:0.3` overrides the
 * threshold), an alias, or the header `x-sluice-route: local|cloud|auto`; every other model name
 * keeps plain model routing.
 */
import { z } from 'zod';

const probability = z.number({ error: 'must be a number from 0 to 1' }).min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1');
const nonNegativeInt = z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more');
const policyName = z.string({ error: 'must be a policy name' }).regex(/^[A-Za-z0-9._-]+$/, 'must use only letters, digits, ".", "_" and "-"');
const usd = z.number({ error: 'must be a number (USD)' }).min(0, 'must be 0 or more');

const regex = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

const endpoint = z.enum(['chat.completions', 'completions', 'embeddings']);

/** One condition set; every condition given must hold. */
const ruleCondition = z.strictObject({
  /** Estimated prompt tokens (characters / 4) at least / at most. */
  minTokens: nonNegativeInt.optional(),
  maxTokens: nonNegativeInt.optional(),
  endpoint: z.union([endpoint, z.array(endpoint)]).optional(),
  /** Regular expression searched in the prompt text (user turns, or the completion prompt). */
  pattern: regex.optional(),
  /** Flags of `pattern` (default "i": case-insensitive). */
  flags: z.string().regex(/^[imsu]*$/, 'must be a combination of i, m, s, u').default('i'),
  /** API key names. */
  keys: z.array(z.string().min(1)).optional(),
  hasTools: z.boolean().optional(),
  hasImages: z.boolean().optional(),
  /** The client asked for JSON (response_format json_object / json_schema). */
  wantsJson: z.boolean().optional(),
});

const rule = z.strictObject({
  if: ruleCondition,
  /** `local`, `cloud`, or the name of another policy. */
  then: policyName,
});

const routerFile = z.string().min(1).optional();

const cascadeChecks = z
  .strictObject({
    /** Escalate when the client asked for JSON and the answer does not parse (or misses the json_schema's shape). */
    json: z.boolean().default(true),
    /** Escalate an empty answer (no text and no tool call). */
    empty: z.boolean().default(true),
    /** Escalate an answer cut by the token limit (finish_reason "length"). */
    truncated: z.boolean().default(true),
    /** Escalate when the geometric-mean token probability is below this (0: no confidence check). */
    minConfidence: probability.default(0.5),
    /**
     * Streams: decide after this many generated tokens (chunks with text) and stream the rest live,
     * instead of reading the whole local answer first; 0: always read to the end. Streams whose
     * JSON is checked are always read to the end. Past the window, a stream is no longer escalated.
     */
    streamWindow: nonNegativeInt.default(32),
  })
  .prefault({});

const candidate = z.strictObject({
  /** A model the gateway serves (public id or `<backend>/<model>`). */
  model: z.string().min(1),
  /**
   * USD per million tokens; default: ledger prices for the model, and for a local backend its
   * host's time: the ledger's hourly host cost divided by `tokensPerSecond` (src/router/local-price.ts).
   */
  price: z.strictObject({ input: usd, output: usd }).optional(),
  /** Local candidates: completion tokens per second on their host (default 20; prompt tokens count 10x faster). */
  tokensPerSecond: z.number().positive('must be more than 0').optional(),
  /** Take this model only for requests whose `need` score is below this (instead of the cost_quality knob). */
  threshold: probability.optional(),
});

export const policySchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('local') }),
    z.strictObject({ type: z.literal('cloud') }),
    z.strictObject({
      type: z.literal('learned'),
      /** Requests scoring at or above go to the cloud; default: routing.threshold, else the router file's. */
      threshold: probability.optional(),
      router: routerFile,
    }),
    z.strictObject({
      type: z.literal('rules'),
      /** First matching rule wins. */
      rules: z.array(rule).default([]),
      /** When no rule matches: `local`, `cloud` or a policy name. */
      otherwise: policyName.default('learned'),
    }),
    z.strictObject({
      type: z.literal('cascade'),
      /** Requests scoring at or above this skip the local try and go straight to the cloud (default: none do). */
      threshold: probability.optional(),
      checks: cascadeChecks,
      router: routerFile,
    }),
    z.strictObject({
      type: z.literal('cheapest'),
      /** Models to choose from, in any order: the cheapest one predicted to answer well enough wins. */
      candidates: z.array(candidate).min(2, 'needs at least two candidates'),
      /** 0: always the cheapest, 1: always the likeliest to be right; default: 1 - the router's threshold. */
      costQuality: probability.optional(),
      router: routerFile,
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'type must be one of "local", "cloud", "learned", "rules", "cascade", "cheapest"' : undefined) },
);

export const BUILTIN_POLICIES = ['local', 'cloud', 'learned', 'cascade'] as const;

export const routingSchema = z
  .strictObject({
    /** The local side: a model the gateway serves; default: the first local backend's first model. */
    local: z.string().min(1).optional(),
    /** The cloud side; default: the first remote backend's first model. `<backend>/<model>` works. */
    cloud: z.string().min(1).optional(),
    /** Learned router file; default: the one shipped with sluice (assets/router.json). */
    router: routerFile,
    /**
     * Embeds prompts for router files trained with embedding features (`--embed-model`). Default:
     * the local backend serving the GGUF file the router was trained with, or the backend/model
     * the file names; without one, such files score lexically (reason `<policy>:lexical:unavailable`).
     */
    embedder: z
      .strictObject({
        /** A model the gateway serves that answers /v1/embeddings (public id or `<backend>/<model>`). */
        model: z.string().min(1).optional(),
        /** Time budget per request; past it the request is scored lexically (reason `<policy>:lexical:timeout`). */
        timeoutMs: z.number().int().min(1).max(60000).default(250),
        /** Prompts whose vectors are remembered (repeated prompts are embedded once). */
        cacheSize: nonNegativeInt.default(1024),
      })
      .prefault({}),
    /** Threshold of `learned` routing; default: the router file's (calibrated to send ~20% to the cloud). */
    threshold: probability.optional(),
    /** The policy of `model: "auto"`. */
    default: policyName.default('learned'),
    /** Named policies; `local`, `cloud`, `learned` and `cascade` exist with defaults and may be redefined. */
    policies: z.record(policyName, policySchema).default({}),
    /** Model names clients may ask for, each routed by a policy: {"smart": "cascade"}. */
    aliases: z.record(z.string().min(1), policyName).default({}),
    /** The policy of `auto` per API key name. */
    keys: z.record(z.string().min(1), policyName).default({}),
  })
  .superRefine((cfg, ctx) => {
    const known = new Set<string>([...BUILTIN_POLICIES, ...Object.keys(cfg.policies)]);
    const check = (name: string, path: Array<string | number>) => {
      if (!known.has(name)) ctx.addIssue({ code: 'custom', path, message: `unknown policy "${name}" (known: ${[...known].join(', ')})` });
    };
    check(cfg.default, ['default']);
    for (const [alias, p] of Object.entries(cfg.aliases)) {
      check(p, ['aliases', alias]);
      if (alias === 'auto' || alias.startsWith('auto:')) ctx.addIssue({ code: 'custom', path: ['aliases', alias], message: '"auto" is built in; pick another alias' });
    }
    for (const [key, p] of Object.entries(cfg.keys)) check(p, ['keys', key]);
    for (const [name, p] of Object.entries(cfg.policies)) {
      if (p.type !== 'rules') continue;
      p.rules.forEach((r, i) => check(r.then, ['policies', name, 'rules', i, 'then']));
      check(p.otherwise, ['policies', name, 'otherwise']);
    }
  })
  .prefault({});

export type RoutingConfig = z.output<typeof routingSchema>;
export type PolicyConfig = z.output<typeof policySchema>;
export type RuleCondition = z.output<typeof ruleCondition>;
export type CascadeChecks = z.output<typeof cascadeChecks>;
