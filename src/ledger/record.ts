/** The ledger row of one API request, built from its usage event and its price. */
import type { Insertable } from 'kysely';
import type { Priced } from './costs.js';
import type { RequestsTable } from './schema.js';
import type { UsageEvent } from './usage.js';

export type LedgerRecord = Insertable<RequestsTable>;

export function toRecord(e: UsageEvent, priced: Priced, finishedAt: number, instance: string): LedgerRecord {
  return {
    started_at: e.startedAt,
    finished_at: Math.round(finishedAt),
    request_id: e.requestId,
    instance,
    key_name: e.keyName,
    endpoint: e.endpoint,
    task: e.task,
    model: e.model,
    backend: e.backend,
    side: priced.side,
    route: e.route,
    route_reason: e.routeReason,
    router_score: e.routerScore,
    stream: e.stream ? 1 : 0,
    status: e.status,
    http_status: e.httpStatus,
    error_code: e.errorCode,
    attempts: e.attempts,
    fallback_from: e.fallbackFrom.length === 0 ? null : e.fallbackFrom.join(','),
    prompt_tokens: e.promptTokens,
    completion_tokens: e.completionTokens,
    latency_ms: e.latencyMs,
    ttft_ms: e.ttftMs,
    pii_types: e.piiTypes.length === 0 ? null : e.piiTypes.join(','),
    cost_nusd: priced.costNusd,
    baseline_nusd: priced.baselineNusd,
    price_source: priced.priceSource,
  };
}
