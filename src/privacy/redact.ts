/**
 * Redaction as a service: the engine behind `POST /v1/redact` and `sluice redact`. One mode for
 * every type found (the gateway's per-type policies are for traffic; this is for files and
 * pipelines), offsets of the findings in the original text.
 */
import type { DetectingGuard } from './detecting-guard.js';
import type { Mode } from './pseudonyms.js';

export type RedactMode = 'mask' | 'pseudonymise' | 'hash';

export interface RedactResult {
  text: string;
  redacted: string;
  entities: Array<{ type: string; start: number; end: number; score: number }>;
}

export function parseRedactMode(value: unknown): RedactMode | null {
  if (value === undefined || value === null) return 'mask';
  if (value === 'pseudonymize') return 'pseudonymise';
  return value === 'mask' || value === 'pseudonymise' || value === 'hash' ? value : null;
}

/** Finds and replaces; throws ScanFailure when a detector fails or the budget runs out (fail closed). */
export function redactText(guard: DetectingGuard, text: string, mode: RedactMode): RedactResult {
  const findings = guard.scan(text);
  const redacted = guard.newRedactor().apply(text, findings, (): Mode => mode);
  return { text, redacted, entities: findings.map((f) => ({ type: f.type, start: f.start, end: f.end, score: f.score })) };
}
