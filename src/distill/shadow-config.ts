/**
 * The `shadow` block of sluice.config: which share of locally answered requests is also sent to
 * the cloud and judged there, so the learned router can be retrained on the company's own traffic
 * (`sluice router train --from-ledger`). Off by default: every share is 0.
 */
import { z } from 'zod';

const share = z.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const positiveInt = z.number({ error: 'must be a number' }).int('must be a whole number').positive('must be greater than 0');

export const shadowSchema = z
  .strictObject({
    /** Share (0-1) of locally answered requests that are shadowed, for keys and aliases without their own share. */
    share: share.default(0),
    /** Share per model alias (the `model` the client asked for); wins over `share`. */
    models: z.record(z.string().min(1), share).default({}),
    /** Share per API key name; wins over the alias's and the global share. */
    keys: z.record(z.string().min(1), share).default({}),
    /** The cloud backend that answers and judges (default: the first remote backend). */
    backend: z.string().min(1).optional(),
    /** Model at that backend: a public name of its `models` map or an upstream name (default: its first model). */
    model: z.string().min(1).optional(),
    /** Model that judges (default: `model`). */
    judgeModel: z.string().min(1).optional(),
    /** Shadow jobs running at once; more wait in a queue. */
    maxConcurrent: positiveInt.default(2),
    /** Jobs waiting beyond this are dropped (counted, never an error for the client). */
    maxQueue: positiveInt.default(100),
    /** Cap on the cloud answer's length (max_tokens). */
    maxTokens: positiveInt.default(512),
    /** Deadline of one shadow job (cloud answer and verdict). */
    timeoutMs: positiveInt.default(60_000),
  })
  .prefault({});

export type ShadowConfig = z.output<typeof shadowSchema>;

/** Whether any key, alias or the global share can shadow at all (when not, nothing is wired). */
export function shadowEnabled(c: ShadowConfig): boolean {
  return c.share > 0 || Object.values(c.models).some((s) => s > 0) || Object.values(c.keys).some((s) => s > 0);
}

/** The share for one request: the key's, else the alias's, else the global one. */
export function shadowShare(c: ShadowConfig, keyName: string | null, model: string | null): number {
  if (keyName !== null) {
    const k = c.keys[keyName];
    if (k !== undefined) return k;
  }
  if (model !== null) {
    const m = c.models[model];
    if (m !== undefined) return m;
  }
  return c.share;
}
