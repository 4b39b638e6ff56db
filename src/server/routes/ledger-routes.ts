/** The operator routes outside /v1 that the ledger brings: /metrics and /dashboard (each with its own admin auth). */
import type { RootRoute } from '../app.js';
import type { SluiceConfig } from '../../config/schema.js';
import type { KeyRing } from '../../keys/store.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { GatewayMetrics } from '../../ledger/metrics.js';
import type { LedgerDb } from '../../ledger/schema.js';
import { dashboardRoute } from './dashboard.js';
import { metricsRoute } from './metrics.js';

export function ledgerRootRoutes(o: { config: SluiceConfig; keys: KeyRing | null; ledger: Ledger; metrics: GatewayMetrics; now?: () => number }): RootRoute[] {
  if (!o.config.metrics.enabled) return [];
  return [
    metricsRoute(o.metrics, o.keys, o.config.metrics.auth),
    dashboardRoute({
      keys: o.keys,
      db: () => (o.ledger.database ? (o.ledger.database.db as LedgerDb) : null),
      flush: () => o.ledger.flush(),
      now: o.now,
    }),
  ];
}
