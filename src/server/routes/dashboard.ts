/**
 * /dashboard: a static page (web/) with uPlot charts, and /dashboard/data, the JSON it polls.
 * The page itself holds no data and is served to anyone; the data needs an admin key, which the
 * page asks for and sends as a bearer token (kept in the tab's sessionStorage, never in a URL).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RootRoute } from '../app.js';
import { gatewayError } from '../../errors.js';
import type { KeyRing } from '../../keys/store.js';
import { dashboardData, type DashboardData } from '../../ledger/dashboard-data.js';
import type { LedgerDb } from '../../ledger/schema.js';
import { requireAdmin } from './ledger-admin.js';

/** web/ sits at the package root: three levels above src/server/routes and dist/server/routes alike. */
const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: join(WEB_DIR, 'dashboard.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: join(WEB_DIR, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: join(WEB_DIR, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/dashboard/vendor/uPlot.iife.min.js': { file: join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/vendor/uPlot.min.css': { file: join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const DEFAULT_MINUTES = 60;
const MAX_MINUTES = 7 * 24 * 60;
/** Several open dashboards share one computation per window for this long (SQLite reads run on the event loop). */
const CACHE_MS = 2_000;

export interface DashboardRouteOptions {
  keys: KeyRing | null;
  /** The ledger's database, or null when the ledger is off. */
  db: () => LedgerDb | null;
  /** Writes buffered records first, so the page shows every finished request. */
  flush?: () => Promise<void>;
  now?: () => number;
}

export function dashboardRoute(options: DashboardRouteOptions): RootRoute {
  // Read once: small files, and a missing one should fail at start, not on first view.
  const files = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: readFileSync(a.file), type: a.type }]));
  const send = (reply: FastifyReply, path: string) => {
    const f = files.get(path)!;
    reply.header('content-type', f.type);
    reply.headers(SECURITY_HEADERS);
    reply.header('cache-control', path === '/dashboard' ? 'no-cache' : 'public, max-age=300');
    return reply.send(f.body);
  };
  const now = options.now ?? Date.now;
  const cache = new Map<number, { at: number; data: Promise<DashboardData> }>();
  const compute = async (db: LedgerDb, minutes: number): Promise<DashboardData> => {
    await options.flush?.().catch(() => {});
    return dashboardData(db, minutes * 60_000, now());
  };
  return (app, { throttle }) => {
    for (const path of files.keys()) app.get(path, (_request, reply) => send(reply, path));
    app.get('/dashboard/', (_request, reply) => reply.redirect('/dashboard'));
    app.get('/dashboard/data', async (request: FastifyRequest<{ Querystring: { minutes?: string } }>, reply) => {
      requireAdmin(request, options.keys, throttle);
      const db = options.db();
      if (db === null) throw gatewayError('ledger_unavailable', 'The ledger is off (ledger.enabled: false): there is nothing to chart.');
      const raw = request.query.minutes;
      const minutes = raw === undefined ? DEFAULT_MINUTES : Number(raw);
      if (!Number.isFinite(minutes) || minutes <= 0 || minutes > MAX_MINUTES) {
        throw gatewayError('invalid_request_body', `'minutes' must be a number between 1 and ${MAX_MINUTES}`, { param: 'minutes' });
      }
      let entry = cache.get(minutes);
      if (!entry || now() - entry.at >= CACHE_MS) {
        entry = { at: now(), data: compute(db, minutes) };
        if (cache.size > 16) cache.clear();
        cache.set(minutes, entry);
      }
      try {
        const data = await entry.data;
        reply.header('cache-control', 'no-store');
        return data;
      } catch (err) {
        cache.delete(minutes);
        throw gatewayError('ledger_unavailable', `The ledger database cannot be read: ${(err as Error).message}`, { cause: err });
      }
    });
  };
}
