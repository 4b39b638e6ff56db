/**
 * Liveness and readiness for load balancers and orchestrators.
 *
 * /readyz says whether the gateway can serve, and each backend's state and circuit. Without an
 * admin key (or with auth off) that is all it says: the details (model paths, upstream URLs,
 * download progress, pool members) are for operators, so they need an admin key.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Backend } from '../../backends/types.js';
import type { BreakerState } from '../../gateway/breaker.js';
import { isAdmin, type KeyRing } from '../../keys/store.js';
import { presentedKey } from '../auth.js';

export interface HealthState {
  draining: boolean;
}

export interface HealthOptions {
  backends: ReadonlyArray<Backend>;
  state: HealthState;
  /** null: auth disabled, everyone sees the details. */
  keys: KeyRing | null;
  /** The dispatcher's circuit breaker state of a backend. */
  circuits: (backend: Backend) => BreakerState;
}

interface BackendHealth {
  ready: boolean;
  circuit: BreakerState;
  detail?: string;
  inFlight?: number;
  queued?: number;
  members?: Array<{ name: string; healthy: boolean; inFlight: number; detail?: string }>;
}

function seesDetails(request: FastifyRequest, keys: KeyRing | null): boolean {
  if (keys === null) return true;
  const key = presentedKey(request);
  return key !== undefined && isAdmin(keys, keys.lookup(key));
}

export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const { backends, state, keys, circuits } = options;
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready when every backend can take requests (a local model is loaded, a pool has a healthy
  // member) and we are not draining for shutdown. The body says which backend holds it back.
  app.get('/readyz', async (request, reply) => {
    const details = seesDetails(request, keys);
    const statuses: Record<string, BackendHealth> = {};
    let ready = !state.draining;
    for (const backend of backends) {
      const s = backend.status();
      const entry: BackendHealth = { ready: s.ready, circuit: circuits(backend) };
      if (details) {
        entry.detail = s.detail;
        entry.inFlight = s.inFlight;
        if (s.queued !== undefined) entry.queued = s.queued;
        if (s.members !== undefined) entry.members = s.members;
      }
      statuses[backend.name] = entry;
      if (!s.ready) ready = false;
    }
    reply.code(ready ? 200 : 503);
    return { status: state.draining ? 'draining' : ready ? 'ready' : 'not_ready', backends: statuses };
  });
}
