/**
 * POST /v1/redact (also /v1/tasks/redact): `{"text", "mode"?}` in, `{"text", "redacted",
 * "entities": [{"type","start","end","score"}]}` out. Authenticated like the rest of /v1; no
 * model is called, nothing leaves the machine, and the text is never logged.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { gatewayError } from '../../errors.js';
import type { DetectingGuard } from '../../privacy/detecting-guard.js';
import { parseRedactMode, redactText } from '../../privacy/redact.js';
import { ScanFailure } from '../../privacy/scanner.js';
import { parseBody } from '../errors.js';

const redactRequest = z.looseObject({
  text: z.string({ error: 'must be a string' }),
  mode: z.enum(['mask', 'pseudonymise', 'pseudonymize', 'hash'], { error: 'must be one of mask, pseudonymise, hash' }).optional(),
});

export function redactRoutes(guard: DetectingGuard): (app: FastifyInstance) => void {
  return (app) => {
    const handler = async (request: FastifyRequest) => {
      const body = parseBody(redactRequest, request.body);
      try {
        return redactText(guard, body.text, parseRedactMode(body.mode)!);
      } catch (err) {
        if (err instanceof ScanFailure) throw gatewayError('privacy_guard_failed', `The privacy guard could not check this text (${err.message}).`);
        throw err;
      }
    };
    app.post('/v1/redact', handler);
    app.post('/v1/tasks/redact', handler);
  };
}
