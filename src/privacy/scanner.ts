/**
 * Runs every detector over a text and turns their candidates into one sorted, non-overlapping
 * list of findings. Fails closed: a detector that throws, or a scan that runs past its time
 * budget, raises a ScanFailure — the guard turns that into a refused request, never into an
 * unprotected one.
 */
import { creditCardDetector } from './detectors/credit-card.js';
import { cryptoDetector } from './detectors/crypto.js';
import { dateTimeDetector } from './detectors/date-time.js';
import { emailDetector } from './detectors/email.js';
import { ibanDetector } from './detectors/iban.js';
import { ipDetector } from './detectors/ip.js';
import { medicalLicenseDetector } from './detectors/medical-license.js';
import { caselessNamesDetector } from './detectors/caseless-names.js';
import { namesDetector } from './detectors/names.js';
import { phoneDetector } from './detectors/phone.js';
import { secretDetector } from './detectors/secret.js';
import { urlDetector } from './detectors/url.js';
import { usBankDetector } from './detectors/us-bank.js';
import { usDriverLicenseDetector } from './detectors/us-driver-license.js';
import { usSsnDetector } from './detectors/us-ssn.js';
import { scanText } from './text.js';
import type { Detector, EntityType, Finding } from './types.js';

/** Most specific first: on equal footing, earlier detectors win overlaps. */
export const DEFAULT_DETECTORS: readonly Detector[] = [
  secretDetector,
  emailDetector,
  urlDetector,
  creditCardDetector,
  ibanDetector,
  cryptoDetector,
  usSsnDetector,
  ipDetector,
  medicalLicenseDetector,
  usDriverLicenseDetector,
  usBankDetector,
  phoneDetector,
  dateTimeDetector,
  namesDetector,
  caselessNamesDetector,
];

export class ScanFailure extends Error {
  constructor(
    readonly reason: 'detector_error' | 'time_budget',
    readonly detector: string,
  ) {
    // Never the text, never the underlying error's message (it could quote the input).
    super(reason === 'time_budget' ? `privacy scan exceeded its time budget (at detector '${detector}')` : `privacy detector '${detector}' failed`);
    this.name = 'ScanFailure';
  }
}

export interface ScanOptions {
  detectors?: readonly Detector[];
  /** Findings below this score are dropped (default 0.5). */
  minScore?: number;
  /** Only these types are reported (default: all). */
  types?: ReadonlySet<EntityType>;
  /** Milliseconds the whole scan may take; checked after each detector. Infinity: no budget. */
  budgetMs?: number;
  /** Clock for the budget (tests). */
  now?: () => number;
}

/**
 * Picks, among overlapping candidates, the more specific: a higher score, and on near-equal scores
 * the longer span (a URL over the domain inside it, an address over the surname in its street name).
 */
export function resolveOverlaps(candidates: Finding[]): Finding[] {
  if (candidates.length <= 1) return candidates;
  const weight = (f: Finding) => f.score + 0.15 * Math.min(1, (f.end - f.start) / 60);
  const order = candidates.slice().sort((a, b) => weight(b) - weight(a) || a.start - b.start);
  const kept: Finding[] = [];
  for (const f of order) {
    if (f.end <= f.start) continue;
    let overlaps = false;
    for (const k of kept) {
      if (f.start < k.end && k.start < f.end) {
        overlaps = true;
        break;
      }
    }
    if (!overlaps) kept.push(f);
  }
  return kept.sort((a, b) => a.start - b.start);
}

export function scan(text: string, options: ScanOptions = {}): Finding[] {
  if (text.length === 0) return [];
  const detectors = options.detectors ?? DEFAULT_DETECTORS;
  const minScore = options.minScore ?? 0.5;
  const budget = options.budgetMs ?? Number.POSITIVE_INFINITY;
  const now = options.now ?? performance.now.bind(performance);
  const started = now();
  const view = scanText(text);
  const raw: Finding[] = [];
  for (const detector of detectors) {
    if (options.types && !detector.types.some((t) => options.types!.has(t))) continue;
    try {
      detector.detect(view, raw);
    } catch {
      throw new ScanFailure('detector_error', detector.name);
    }
    if (now() - started > budget) throw new ScanFailure('time_budget', detector.name);
  }
  const eligible: Finding[] = [];
  for (const f of raw) {
    if (f.score < minScore || (options.types && !options.types.has(f.type))) continue;
    if (!(f.start >= 0 && f.end <= text.length && f.start < f.end)) continue;
    eligible.push({ type: f.type, start: f.start, end: f.end, score: Math.round(f.score * 100) / 100 });
  }
  return resolveOverlaps(eligible);
}

let warmed = false;

/**
 * Compiles the detectors' regular expressions and warms the JIT once per process, so the first
 * real request is not the one that pays ~100 ms for it (and trips its time budget on a busy machine).
 */
export function warmUp(): void {
  if (warmed) return;
  warmed = true;
  const sample =
    'Hi David Johnson, call +44 20 7946 0958 or (415) 555-2671, mail d.j@example.org, card 4111 1111 1111 1111, ' +
    'IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, IP 203.0.113.4 / 2001:db8::1, https://example.com/x, ' +
    'on March 3, 2024 at 14:30, 742 Evergreen Terrace, Springfield, IL 62704; Acme GmbH; password=hunter2x; ' +
    "driver's license D1234567, account number 12345678, DEA AB1234563, 0x52908400098527886E0F7030069857D2E4169EE7.";
  for (let i = 0; i < 3; i++) scan(sample);
}
