/** CREDIT_CARD: 13–19 digits, optionally grouped by spaces or dashes, Luhn-valid, known issuer prefix. */
import { cueSet, digitsOf, hasCueBefore, luhnValid, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const CANDIDATE = /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d]|[.,]\d)/g;
const ISSUER = /^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6(?:011|5|4[4-9]|2)|50|5[6-8]|6[37])/;
const CUES = cueSet('card credit debit visa mastercard amex american express discover maestro jcb diners cc kreditkarte carte tarjeta carta cartão karta kaart pan cardnumber');

export const creditCardDetector: Detector = {
  name: 'credit-card',
  types: ['CREDIT_CARD'],
  detect(scan: ScanText, out: Finding[]): void {
    for (const m of matches(CANDIDATE, scan.text)) {
      const raw = m[0];
      // Mixed separators ("1234 5678-9012") are rarely card numbers; groups are of one kind.
      if (raw.includes(' ') && raw.includes('-')) continue;
      const digits = digitsOf(raw);
      if (digits.length < 13 || digits.length > 19 || !luhnValid(digits)) continue;
      if (/^(\d)\1+$/.test(digits)) continue;
      const issuer = ISSUER.test(digits);
      const cue = hasCueBefore(scan, m.index, CUES, 48);
      const score = issuer ? (cue ? 1 : 0.9) : cue ? 0.7 : 0.35;
      out.push({ type: 'CREDIT_CARD', start: m.index, end: m.index + raw.length, score });
    }
  },
};
