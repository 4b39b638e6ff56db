/**
 * PHONE_NUMBER, international. A cheap regex finds digit groups shaped like a phone number;
 * libphonenumber-js then decides: an international number ("+49 …", "0049 …") must be possible
 * for its country; a national one must be valid for one of the common regions. Context words
 * ("phone", "Tel.", "call me") lift weaker shapes; dates, IPs and version numbers are excluded.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { cueSet, digitsOf, hasCueBefore, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

// ASCII-only on purpose: no unicode property classes, so V8 scans a long text fast.
const CANDIDATE = /(?<![A-Za-z0-9+\-.\/])(?:\+|00)?(?:\(\d{1,5}\)[ .\-]?)?\d(?:[ .\-\/]?(?:\(\d{1,5}\)|\d)){5,17}(?:[ ]?(?:[xX]|[eE]xt\.?|[eE]xtension|#)[ ]?\d{1,6})?(?![A-Za-z0-9]|[.\-\/]\d)/g;
// National numbers are tried against these regions in turn (libphonenumber needs a region for them).
const DEFAULT_REGIONS: CountryCode[] = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'BR', 'PL', 'IN', 'AU', 'CH'];
/** Regions whose national format starts with the trunk prefix 0, and those where a number can start otherwise. */
const TRUNK_ZERO_REGIONS = DEFAULT_REGIONS.filter((r) => ['GB', 'DE', 'FR', 'IT', 'NL', 'BR', 'IN', 'AU', 'CH'].includes(r));
const NO_TRUNK_REGIONS = DEFAULT_REGIONS.filter((r) => ['US', 'ES', 'IT', 'BR', 'PL', 'IN', 'CH'].includes(r));
const CUES = cueSet(
  `phone phones tel tel. telephone mobile mob cell cellphone fax call calls calling reach text sms whatsapp dial contact
   appelez appeler appelle joindre llame llamar llámame contacto contatto chiamare chiama kontakt anrufen bellen ligue ligar zadzwoń
   ring hotline landline telefon telefonnummer handy handynummer rufnummer mobil téléphone telephone portable tél numéro
   teléfono telefono móvil movil celular número numero cellulare telefoonnummer mobiel nummer telemóvel telefone celular
   telefonu komórka numer tlf puhelin`,
);
/** Numbers introduced by these words are accounts, cards, orders — other detectors' business. */
const NOT_PHONE_CUES = cueSet('account acct routing aba iban card ssn social license licence dl npi dea order invoice ticket ref reference tracking po serial id customer member policy case');
const DATE_LIKE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$/;

function score(raw: string, hasCue: boolean): number {
  const digits = digitsOf(raw.replace(/(?:x|ext\.?|extension|#)\s*\d+$/i, ''));
  if (digits.length < 7 || digits.length > 15) return 0;
  const international = raw.startsWith('+') || raw.startsWith('00');
  const grouped = /[ .\-()\/]/.test(raw);
  if (international) {
    const p = parsePhoneNumberFromString(raw.startsWith('00') ? `+${raw.slice(2)}` : raw);
    if (!p) return hasCue ? 0.7 : grouped && digits.length >= 9 ? 0.55 : 0;
    if (p.isValid()) return hasCue ? 1 : 0.9;
    if (p.isPossible()) return hasCue ? 0.95 : 0.8;
    // "+" or "00" and eight-plus grouped digits: hardly anything else, even when no country validates it
    return hasCue ? 0.7 : grouped ? 0.55 : 0.45;
  }
  // A phone word just before and a phone-shaped number: no need to ask every region.
  if (hasCue) return grouped || digits.length >= 9 ? 0.9 : 0.7;
  let valid = false;
  let possible = false;
  // libphonenumber takes tens of µs per region: ask only the regions whose national numbers can
  // start like this one (a trunk prefix "0" or not) — a failing candidate no longer costs 12 parses
  for (const region of digits.charCodeAt(0) === 48 ? TRUNK_ZERO_REGIONS : NO_TRUNK_REGIONS) {
    const p = parsePhoneNumberFromString(raw, region);
    if (!p) continue;
    if (p.isValid()) {
      valid = true;
      break;
    }
    if (!possible && p.isPossible()) possible = true;
  }
  if (valid) return grouped ? 0.75 : 0.45;
  if (possible) return grouped ? 0.55 : 0.3;
  return 0;
}

/** Types whose validated findings can hold a phone-shaped digit run (card, IBAN, account, SSN, …). */
const SPECIFIC = new Set(['CREDIT_CARD', 'IBAN_CODE', 'US_SSN', 'US_BANK_NUMBER', 'CRYPTO', 'SECRET', 'URL', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_DRIVER_LICENSE', 'MEDICAL_LICENSE']);

/**
 * True when a more specific detector that ran before (the scanner runs them most specific first,
 * into one list) already reported a validated value around [start, end): the candidate would lose
 * the overlap anyway, so libphonenumber (the costly part, up to 12 regions) is not asked.
 */
function covered(out: readonly Finding[], start: number, end: number): boolean {
  for (let k = 0; k < out.length; k++) {
    const f = out[k]!;
    if (f.start <= start && f.end >= end && f.score >= 0.9 && SPECIFIC.has(f.type)) return true;
  }
  return false;
}

export const phoneDetector: Detector = {
  name: 'phone',
  types: ['PHONE_NUMBER'],
  detect(scan: ScanText, out: Finding[]): void {
    for (const m of matches(CANDIDATE, scan.text)) {
      const raw = m[0];
      const start = m.index;
      if (DATE_LIKE.test(raw)) continue;
      if (covered(out, start, start + raw.length)) continue;
      // Dotted groups of 1–3 digits are versions or IPs ("10.2.1.33"), not numbers.
      // 64 characters: "reach my colleague Marisol Castellanos Sosa on 946791315"
      const hasCue = hasCueBefore(scan, start, CUES, 64);
      // Dotted groups of 1–3 digits are versions or IPs ("10.2.1.33", "1.20.3"), not numbers — but three groups
      // of three ("936.109.070") is how Spain and others print a nine-digit number.
      if (!hasCue && /^\d{1,3}(?:\.\d{1,3}){2,}$/.test(raw) && !/^\d{3}\.\d{3}\.\d{3}$/.test(raw)) continue;
      if (!hasCue && !raw.startsWith('+') && hasCueBefore(scan, start, NOT_PHONE_CUES, 24)) continue;
      const s = score(raw, hasCue);
      if (s <= 0) continue;
      out.push({ type: 'PHONE_NUMBER', start, end: start + raw.length, score: s });
    }
  },
};
