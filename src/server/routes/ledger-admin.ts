/** The admin check of the operator routes (/metrics, /dashboard data): a valid key that isAdmin(). */
import type { FastifyRequest } from 'fastify';
import { gatewayError } from '../../errors.js';
import { isAdmin, type KeyRing } from '../../keys/store.js';
import { authenticate, type AuthThrottle } from '../auth.js';

/**
 * Throws 401 for a missing or unknown key (429 once the address has failed too often), 403
 * `admin_required` for a non-admin one. With auth off, lets everyone in.
 */
export function requireAdmin(request: FastifyRequest, keys: KeyRing | null, throttle: AuthThrottle | undefined): void {
  if (keys === null) return;
  const name = authenticate(request, keys, throttle);
  if (!isAdmin(keys, name)) {
    throw gatewayError('admin_required', `Key "${name}" is not an admin key. Create one with \`sluice keys create --name <name> --admin\`.`);
  }
}
