/**
 * The task APIs' configuration resolved against the backends actually configured: which model a
 * task asks by default, where an extraction escalates, what a job is compared against.
 */
import type { BackendConfig, SluiceConfig, TasksConfig } from '../config/schema.js';
import type { ModelPrice } from '../ledger/prices.js';

export interface TaskSettings extends Omit<TasksConfig, 'model' | 'escalationModel' | 'baselineModel'> {
  /** Model asked when a request names none (null: nothing is served). */
  model: string | null;
  /** Model extraction escalates to (null: no escalation). */
  escalationModel: string | null;
  baselineModel: string;
  /** Price overrides (the ledger's, when configured). */
  prices: Record<string, ModelPrice>;
}

export const DEFAULT_BASELINE_MODEL = 'gpt-4o-mini';

function publicModels(b: BackendConfig): string[] {
  return b.models ? Object.keys(b.models) : [b.name];
}

function isRemote(b: BackendConfig): boolean {
  return b.kind !== 'local' && b.locality === 'remote';
}

/** The ledger's block, read loosely: the tasks work with or without a ledger configured. */
function ledgerOf(config: SluiceConfig): { baselineModel?: string; prices?: Record<string, ModelPrice> } {
  const ledger = (config as { ledger?: unknown }).ledger;
  return ledger && typeof ledger === 'object' ? (ledger as { baselineModel?: string; prices?: Record<string, ModelPrice> }) : {};
}

export function resolveTaskSettings(config: SluiceConfig): TaskSettings {
  const t = config.tasks;
  const local = config.backends.find((b) => b.kind === 'local');
  const remote = config.backends.find(isRemote);
  const model = t.model ?? (local ? publicModels(local)[0] : config.backends[0] ? publicModels(config.backends[0])[0] : undefined) ?? null;
  let escalationModel: string | null = null;
  if (t.escalationModel !== false) escalationModel = t.escalationModel ?? (remote ? publicModels(remote)[0]! : null);
  if (escalationModel === model) escalationModel = null;
  const ledger = ledgerOf(config);
  return {
    ...t,
    model,
    escalationModel,
    baselineModel: t.baselineModel ?? ledger.baselineModel ?? DEFAULT_BASELINE_MODEL,
    prices: ledger.prices ?? {},
  };
}
