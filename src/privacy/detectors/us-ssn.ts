/** US_SSN: AAA-GG-SSSS with the SSA's never-issued ranges excluded; undashed forms need context. */
import { cueSet, hasCueBefore, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const CANDIDATE = /(?<![\d-])(\d{3})([- .]?)(\d{2})\2(\d{4})(?![\d-]|\.\d)/g;
const CUES = cueSet('ssn ssns social security ss# ssn# ssn: sozialversicherungsnummer taxpayer tin itin');

export const usSsnDetector: Detector = {
  name: 'us-ssn',
  types: ['US_SSN'],
  detect(scan: ScanText, out: Finding[]): void {
    for (const m of matches(CANDIDATE, scan.text)) {
      const area = m[1]!;
      const sep = m[2]!;
      if (area === '000' || area === '666' || area[0] === '9' || m[3] === '00' || m[4] === '0000') continue;
      if (/^(\d)\1{8}$/.test(area + m[3] + m[4])) continue;
      const cue = hasCueBefore(scan, m.index, CUES, 40);
      const score = sep === '-' ? (cue ? 1 : 0.85) : cue ? 0.85 : 0.3;
      out.push({ type: 'US_SSN', start: m.index, end: m.index + m[0].length, score });
    }
  },
};
