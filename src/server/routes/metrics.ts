/** GET /metrics: Prometheus text format from sluice's own registry (src/ledger/metrics.ts). */
import type { KeyRing } from '../../keys/store.js';
import type { GatewayMetrics } from '../../ledger/metrics.js';
import type { RootRoute } from '../app.js';
import { requireAdmin } from './ledger-admin.js';

export function metricsRoute(metrics: GatewayMetrics, keys: KeyRing | null, auth: 'admin' | 'none'): RootRoute {
  return (app, { throttle }) => {
    app.get('/metrics', async (request, reply) => {
      if (auth === 'admin') requireAdmin(request, keys, throttle);
      reply.header('content-type', metrics.contentType);
      reply.header('cache-control', 'no-store');
      return metrics.metrics();
    });
  };
}
