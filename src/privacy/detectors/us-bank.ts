/**
 * US_BANK_NUMBER: account numbers (8–17 digits) and ABA routing numbers (9 digits, checksum) near a
 * banking word. Bare digit runs without context are order numbers, invoices, timestamps: never reported.
 */
import { cueSet, hasCueBefore, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const CANDIDATE = /(?<![\d\-.,\/])\d{8,17}(?![\d]|[.,\-\/]\d)/g;
const CUES = cueSet('account acct acct. acc a/c accountnumber routing aba checking savings bank banking deposit wire ach iban beneficiary kontonummer konto compte cuenta conto conta rekening');
const ROUTING_CUES = cueSet('routing aba rtn transit');

export function abaValid(d: string): boolean {
  if (d.length !== 9) return false;
  const n = [...d].map(Number);
  return (3 * (n[0]! + n[3]! + n[6]!) + 7 * (n[1]! + n[4]! + n[7]!) + (n[2]! + n[5]! + n[8]!)) % 10 === 0;
}

export const usBankDetector: Detector = {
  name: 'us-bank',
  types: ['US_BANK_NUMBER'],
  detect(scan: ScanText, out: Finding[]): void {
    for (const m of matches(CANDIDATE, scan.text)) {
      const d = m[0];
      if (!hasCueBefore(scan, m.index, CUES, 48)) continue;
      const routing = d.length === 9 && abaValid(d) && hasCueBefore(scan, m.index, ROUTING_CUES, 48);
      out.push({ type: 'US_BANK_NUMBER', start: m.index, end: m.index + d.length, score: routing ? 0.9 : 0.75 });
    }
  },
};
