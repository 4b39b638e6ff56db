/**
 * EMAIL_ADDRESS. Anchored on each '@' and expanded both ways by character class, so a megabyte
 * without '@' costs one indexOf and a long run of letters never makes a regex backtrack.
 */
import type { Detector, Finding, ScanText } from '../types.js';

const LOCAL = /[\p{L}\p{N}._%+'!#$&*=?^{|}~-]/u;
const DOMAIN_TAIL = /^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?\.)+\p{L}{2,24}(?![\p{L}\p{N}-])/u;

export const emailDetector: Detector = {
  name: 'email',
  types: ['EMAIL_ADDRESS'],
  detect({ text }: ScanText, out: Finding[]): void {
    let at = text.indexOf('@');
    let floor = 0; // never expand left past the previous finding
    while (at !== -1) {
      let start = at;
      while (start > floor && at - start < 64 && LOCAL.test(text[start - 1]!)) start--;
      while (start < at && text[start] === '.') start++;
      // "postgres://user:password@host": credentials in a URL, not an address (the secret detector's)
      const inUrl = text[start - 1] === ':' && /:\/\/[^\s\/@]*$/.test(text.slice(Math.max(0, start - 80), start));
      if (start < at && !inUrl) {
        const m = DOMAIN_TAIL.exec(text.slice(at + 1, at + 256));
        if (m) {
          const end = at + 1 + m[0].length;
          out.push({ type: 'EMAIL_ADDRESS', start, end, score: 0.95 });
          floor = end;
          at = text.indexOf('@', end);
          continue;
        }
      }
      at = text.indexOf('@', at + 1);
    }
  },
};
