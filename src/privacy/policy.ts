/**
 * Which protection each entity type gets, for a given API key and model alias. Levels merge from
 * general to specific — global, then the alias the client asked for, then the API key — and any
 * `never_leave` list at any level forces `block` for its types: a key cannot loosen what the
 * global policy keeps on the machine.
 */
import type { Mode } from './pseudonyms.js';
import { ENTITY_TYPES, type EntityType } from './types.js';

export interface PrivacyPolicyConfig {
  modes?: Partial<Record<EntityType, Mode | 'pseudonymize'>>;
  never_leave?: EntityType[];
}

export interface PrivacyConfig extends PrivacyPolicyConfig {
  enabled: boolean;
  defaultMode: Mode | 'pseudonymize';
  /** Findings below this score are ignored. */
  minScore: number;
  /** Milliseconds the scan of a request may take per 100 KB of text (at least this much). */
  timeBudgetMs: number;
  /** Environment variable holding the key for hashes and pseudonyms (default: random per process). */
  secretEnv?: string;
  keys: Record<string, PrivacyPolicyConfig>;
  aliases: Record<string, PrivacyPolicyConfig>;
}

export const DEFAULT_PRIVACY: PrivacyConfig = {
  enabled: true,
  defaultMode: 'mask',
  minScore: 0.5,
  timeBudgetMs: 1000,
  modes: {},
  never_leave: [],
  keys: {},
  aliases: {},
};

export type ModeTable = Readonly<Record<EntityType, Mode>>;

const norm = (m: Mode | 'pseudonymize'): Mode => (m === 'pseudonymize' ? 'pseudonymise' : m);

export class PolicyBook {
  private readonly cache = new Map<string, ModeTable>();

  constructor(private readonly config: PrivacyConfig) {}

  /** The mode of every type for this key and alias (cached: policies are static per process). */
  modes(keyName: string | undefined, alias: string | undefined): ModeTable {
    const id = `${keyName ?? ''}\u0000${alias ?? ''}`;
    let table = this.cache.get(id);
    if (table) return table;
    const levels = [this.config, alias !== undefined ? this.config.aliases[alias] : undefined, keyName !== undefined ? this.config.keys[keyName] : undefined];
    const out = {} as Record<EntityType, Mode>;
    for (const type of ENTITY_TYPES) out[type] = norm(this.config.defaultMode);
    for (const level of levels) for (const [type, mode] of Object.entries(level?.modes ?? {})) out[type as EntityType] = norm(mode!);
    for (const level of levels) for (const type of level?.never_leave ?? []) out[type] = 'block';
    table = Object.freeze(out);
    if (this.cache.size < 10_000) this.cache.set(id, table);
    return table;
  }
}
