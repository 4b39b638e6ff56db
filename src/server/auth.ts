/** Bearer-key authentication for the /v1 API. Keys are looked up by hash (see src/keys/store.ts). */
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { KeyRing } from '../keys/store.js';

const missing = () =>
  new GatewayError({
    status: 401,
    code: 'missing_api_key',
    message: "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' (create one with `sluice keys create --name <name>`).",
  });

const invalid = () =>
  new GatewayError({ status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided. Keys are created with `sluice keys create`.' });

/** Returns the key's name; throws 401 when the key is missing or unknown. */
export function authenticate(request: FastifyRequest, keys: KeyRing): string {
  const header = request.headers.authorization;
  let key: string | undefined;
  if (header) {
    // "Bearer <key>", case-insensitive scheme, as OpenAI accepts.
    const space = header.indexOf(' ');
    if (space > 0 && header.slice(0, space).toLowerCase() === 'bearer') key = header.slice(space + 1).trim();
  } else {
    // Azure-style clients send the key in `api-key`.
    const alt = request.headers['api-key'];
    if (typeof alt === 'string') key = alt.trim();
  }
  if (!key) throw missing();
  const name = keys.lookup(key);
  if (name === undefined) throw invalid();
  return name;
}
