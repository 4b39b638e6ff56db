/**
 * The vocabulary of the privacy guard: entity types (named as Microsoft Presidio names them, so
 * policies and audit logs read the same across tools), findings, and the one Detector interface
 * every detector family implements.
 */

export const ENTITY_TYPES = [
  'PERSON',
  'EMAIL_ADDRESS',
  'PHONE_NUMBER',
  'CREDIT_CARD',
  'IBAN_CODE',
  'US_SSN',
  'IP_ADDRESS',
  'URL',
  'DOMAIN_NAME',
  'LOCATION',
  'ORGANIZATION',
  'DATE_TIME',
  'US_DRIVER_LICENSE',
  'US_BANK_NUMBER',
  'CRYPTO',
  'MEDICAL_LICENSE',
  'SECRET',
] as const;

export type EntityType = (typeof ENTITY_TYPES)[number];

export function isEntityType(value: unknown): value is EntityType {
  return typeof value === 'string' && (ENTITY_TYPES as readonly string[]).includes(value);
}

/** One detected span. `end` is exclusive; offsets are JavaScript string (UTF-16) indices. */
export interface Finding {
  type: EntityType;
  start: number;
  end: number;
  /** 0..1: how sure the detector is (validators and context raise it). */
  score: number;
}

/** Shared, precomputed facts about the text being scanned, so each detector does not redo them. */
export interface ScanText {
  readonly text: string;
  /** Lower-cased copy (same length for all but a handful of exotic characters; see `lowerSafe`). */
  readonly lower: string;
  /** True when `lower` has the same offsets as `text`. */
  readonly lowerSafe: boolean;
  /** Sorted, non-overlapping [start, end) ranges of fenced/inline code. */
  readonly code: ReadonlyArray<readonly [number, number]>;
}

export interface Detector {
  /** Stable name for logs and failure reports (never includes text). */
  readonly name: string;
  /** Types this detector can emit. */
  readonly types: readonly EntityType[];
  /** Appends findings to `out`. Must be linear-time in the text and never throw on odd input. */
  detect(input: ScanText, out: Finding[]): void;
}
