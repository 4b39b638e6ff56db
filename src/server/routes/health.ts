/** Liveness and readiness for load balancers and orchestrators. */
import type { FastifyInstance } from 'fastify';
import type { Backend } from '../../backends/types.js';

export interface HealthState {
  draining: boolean;
}

export function registerHealthRoutes(app: FastifyInstance, backends: ReadonlyArray<Backend>, state: HealthState): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready when every backend can take requests (a local model is loaded, a pool has a healthy
  // member) and we are not draining for shutdown. The body says which backend holds it back.
  app.get('/readyz', async (_request, reply) => {
    const statuses: Record<string, { ready: boolean; detail: string; inFlight: number; queued?: number }> = {};
    let ready = !state.draining;
    for (const backend of backends) {
      const s = backend.status();
      statuses[backend.name] = { ready: s.ready, detail: s.detail, inFlight: s.inFlight, ...(s.queued !== undefined ? { queued: s.queued } : {}) };
      if (!s.ready) ready = false;
    }
    reply.code(ready ? 200 : 503);
    return { status: state.draining ? 'draining' : ready ? 'ready' : 'not_ready', backends: statuses };
  });
}
