/**
 * Bearer-key authentication for the /v1 API. Keys are looked up by hash (see src/keys/store.ts).
 * Failed authentications are counted per client address: past `maxFailures` in `windowMs`, that
 * address gets 429 `auth_throttled` until the window ends (keys are 256-bit, so this is not about
 * guessing them: it keeps a misconfigured or hostile client from flooding the logs and the CPU).
 */
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { gatewayError, type GatewayError } from '../errors.js';
import type { KeyRing } from '../keys/store.js';

const missing = (): GatewayError =>
  gatewayError(
    'missing_api_key',
    "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' (create one with `sluice keys create --name <name>`).",
  );

const invalid = (): GatewayError => gatewayError('invalid_api_key', 'Incorrect API key provided. Keys are created with `sluice keys create`.');

/** The key a request carries: `Authorization: Bearer <key>` (any case), or Azure-style `api-key`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) {
    const space = header.indexOf(' ');
    if (space > 0 && header.slice(0, space).toLowerCase() === 'bearer') return header.slice(space + 1).trim() || undefined;
    return undefined;
  }
  const alt = request.headers['api-key'];
  return typeof alt === 'string' ? alt.trim() || undefined : undefined;
}

/** Returns the key's name; throws 401 when the key is missing or unknown, 429 when the address is throttled. */
export function authenticate(request: FastifyRequest, keys: KeyRing, throttle?: AuthThrottle): string {
  const address = request.ip;
  if (throttle) {
    const wait = throttle.blockedFor(address);
    if (wait !== undefined) throw throttledError(wait);
  }
  const key = presentedKey(request);
  if (!key) throw missing();
  const name = keys.lookup(key);
  if (name === undefined) {
    throttle?.fail(address);
    throw invalid();
  }
  return name;
}

function throttledError(seconds: number): GatewayError {
  return gatewayError('auth_throttled', `Too many failed authentications from this address; try again in ${seconds} s.`, { retryAfter: seconds });
}

export interface AuthThrottleOptions {
  maxFailures: number;
  windowMs: number;
  logger?: Logger;
  /** Clock (ms); tests pass a fake one. */
  now?: () => number;
  /** Addresses remembered at most (oldest forgotten first), so a flood of addresses cannot exhaust memory. */
  maxAddresses?: number;
}

interface Failures {
  count: number;
  windowStart: number;
}

export class AuthThrottle {
  private readonly byAddress = new Map<string, Failures>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(options: AuthThrottleOptions) {
    this.maxFailures = options.maxFailures;
    this.windowMs = options.windowMs;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
    this.log = options.logger;
  }

  /** Seconds this address must wait, or undefined when it may try. */
  blockedFor(address: string): number | undefined {
    if (this.byAddress.size === 0) return undefined; // the common case: nobody has failed
    const f = this.byAddress.get(address);
    if (f === undefined || f.count < this.maxFailures) return undefined;
    const left = f.windowStart + this.windowMs - this.now();
    if (left <= 0) {
      this.byAddress.delete(address);
      return undefined;
    }
    return Math.max(1, Math.ceil(left / 1000));
  }

  /** Counts a failed authentication from `address` (and logs it, with the address). */
  fail(address: string): void {
    const now = this.now();
    let f = this.byAddress.get(address);
    if (f === undefined || now - f.windowStart >= this.windowMs) {
      if (f === undefined && this.byAddress.size >= this.maxAddresses) this.forgetOldest(now);
      f = { count: 0, windowStart: now };
      this.byAddress.set(address, f);
    }
    f.count++;
    if (f.count === this.maxFailures) {
      const seconds = Math.max(1, Math.ceil((f.windowStart + this.windowMs - now) / 1000));
      this.log?.warn({ client: address, failures: f.count, windowMs: this.windowMs, throttledForS: seconds }, 'authentication failures: client throttled');
    }
  }

  private forgetOldest(now: number): void {
    for (const [address, f] of this.byAddress) {
      if (now - f.windowStart >= this.windowMs) this.byAddress.delete(address);
    }
    // Still full: forget the oldest entries (Map keeps insertion order).
    for (const address of this.byAddress.keys()) {
      if (this.byAddress.size < this.maxAddresses) break;
      this.byAddress.delete(address);
    }
  }
}
