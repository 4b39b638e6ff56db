/** IBAN_CODE: country code, check digits and BBAN, printed with or without spaces; ISO 13616 mod-97. */
import { matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

/** IBAN length per country (SWIFT IBAN registry). */
const LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22,
  VG: 24, XK: 20, LY: 25, SD: 18, BI: 27, DJ: 27, RU: 33, SO: 23, NI: 28, FK: 18, OM: 23, YE: 30, MN: 20,
};

const CANDIDATE = /(?<![A-Za-z0-9])([A-Z]{2})(\d{2})((?:[ ]?[A-Za-z0-9]){10,32})/g;

export function ibanValid(compact: string): boolean {
  const country = compact.slice(0, 2).toUpperCase();
  const expected = LENGTHS[country];
  if (expected !== undefined && compact.length !== expected) return false;
  if (compact.length < 15 || compact.length > 34) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 65 && c <= 90) v = c - 55;
    else if (c >= 97 && c <= 122) v = c - 87;
    else return false;
    rest = v >= 10 ? (rest * 100 + v) % 97 : (rest * 10 + v) % 97;
  }
  return rest === 1;
}

export const ibanDetector: Detector = {
  name: 'iban',
  types: ['IBAN_CODE'],
  detect({ text }: ScanText, out: Finding[]): void {
    for (const m of matches(CANDIDATE, text)) {
      const country = m[1]!;
      const expected = LENGTHS[country];
      // Only countries of the IBAN registry: "BN18 88V Kub Place" (a UK postcode and a town) passes mod-97 by chance.
      if (expected === undefined) continue;
      // The greedy tail may have swallowed a following word: walk back to the registry length.
      const raw = m[0];
      let compact = '';
      let end = m.index;
      let found = -1;
      for (let i = 0; i < raw.length; i++) {
        const ch = raw[i]!;
        if (ch === ' ') continue;
        compact += ch;
        end = m.index + i + 1;
        if (expected !== undefined ? compact.length === expected : compact.length >= 15 && ibanValid(compact)) {
          if (ibanValid(compact)) found = end;
          if (expected !== undefined) break;
        }
      }
      if (found === -1) continue;
      const next = text[found];
      if (next !== undefined && /[A-Za-z0-9]/.test(next)) continue;
      out.push({ type: 'IBAN_CODE', start: m.index, end: found, score: 0.95 });
    }
  },
};
