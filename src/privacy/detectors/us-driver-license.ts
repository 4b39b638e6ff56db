/**
 * US_DRIVER_LICENSE: state formats vary from 1 letter + 4–14 digits to 9 digits or dashed groups,
 * so a bare token is never enough: a licence word ("driver's license", "DL", "licence no.") must
 * come just before it.
 */
import { matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const CUE = /\b(?:driver'?s?|drivers’|driving)\s+(?:licen[cs]e|lic\.?|permit)(?:\s+(?:number|no\.?|num|#|id))?|\bDL\s*(?:#|no\.?|number)?|\blicen[cs]e\s+(?:number|no\.?|#)/gi;
const TOKEN = /^[\s:#=.\-–]*(?:is\s+|number\s+|no\.?\s*|#\s*)?([A-Z]\d{2,3}[- ]\d{3,4}[- ]\d{2,4}(?:[- ]\d{1,4}){0,2}|[A-Z]{1,2}\d{3,14}|\d{3}[- ]\d{3}[- ]\d{3}|\d{7,12}|[A-Z]{1,3}[- ]?\d{4,8}[A-Z]?|\d{1,3}[A-Z]{1,3}\d{2,6})(?![A-Za-z0-9])/;

export const usDriverLicenseDetector: Detector = {
  name: 'us-driver-license',
  types: ['US_DRIVER_LICENSE'],
  detect({ text }: ScanText, out: Finding[]): void {
    if (!/licen[cs]e|\bDL\b|\blic\b/i.test(text)) return;
    for (const m of matches(CUE, text)) {
      const from = m.index + m[0].length;
      const t = TOKEN.exec(text.slice(from, from + 40));
      if (!t) continue;
      const value = t[1]!;
      const start = from + t[0].length - value.length;
      out.push({ type: 'US_DRIVER_LICENSE', start, end: start + value.length, score: 0.85 });
    }
  },
};
