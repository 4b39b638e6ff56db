/** Hand-made usage events and a cost config for ledger tests. */
import type { BackendInfo, CostConfig } from '../../src/ledger/costs.js';
import type { UsageEvent } from '../../src/ledger/usage.js';

let seq = 0;

export function usageEvent(over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    requestId: `req-${++seq}`,
    startedAt: Date.UTC(2025, 0, 15, 12, 0, 0),
    endpoint: 'chat.completions',
    keyName: 'team-a',
    model: 'gpt-4o-mini',
    backend: 'cloud',
    backendKind: 'openai-compatible',
    attempts: 1,
    fallbackFrom: [],
    stream: false,
    status: 'ok',
    httpStatus: 200,
    errorCode: null,
    errorMessage: null,
    promptTokens: 1000,
    completionTokens: 500,
    latencyMs: 100,
    ttftMs: null,
    route: 'cloud',
    routeReason: 'model',
    routerScore: null,
    piiTypes: [],
    task: null,
    ...over,
  };
}

export const costConfig = (over: Partial<CostConfig> = {}): CostConfig => ({
  baselineModel: 'gpt-4o',
  baselineEmbeddingModel: 'text-embedding-3-small',
  prices: {},
  localCost: { hourlyUsd: 3.6, hardwareUsd: 0, amortizationMonths: 1, watts: 0, electricityUsdPerKwh: 0 },
  backendHourlyUsd: {},
  ...over,
});

export const backends = new Map<string, BackendInfo>([
  ['cloud', { locality: 'remote' as const, models: { 'gpt-4o-mini': 'gpt-4o-mini', smart: 'gpt-4o-2024-08-06' } }],
  ['openai', { locality: 'remote' as const, models: { openai: 'openai' } }],
  ['backup', { locality: 'remote' as const, models: { 'backup-model': 'claude-3-5-haiku-latest' } }],
  ['local', { locality: 'local' as const, models: { local: 'local' } }],
  ['gpu', { locality: 'local' as const, models: { gpu: 'gpu' } }],
]);
