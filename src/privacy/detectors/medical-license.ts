/**
 * MEDICAL_LICENSE: DEA registration numbers (two letters + seven digits with the DEA checksum),
 * NPI numbers (10 digits, Luhn over "80840" + number) next to "NPI", and any licence number after
 * "medical license"/"NPI"/"DEA".
 */
import { cueSet, hasCueBefore, luhnValid, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const DEA = /(?<![A-Za-z0-9])[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7}(?![A-Za-z0-9])/g;
const NPI = /(?<![\d])\d{10}(?![\d])/g;
const CUE = /\b(?:medical|physician|nursing|practitioner|state|board)\s+(?:licen[cs]e|registration)(?:\s+(?:number|no\.?|#))?|\blicen[cs]e\s+to\s+practi[cs]e/gi;
const AFTER_CUE = /^[\s:#=.\-–]*(?:is\s+|number\s+|no\.?\s*|#\s*)?([A-Z]{0,3}[- ]?\d{4,10}[A-Z]?)(?![A-Za-z0-9])/;
const DEA_CUES = cueSet('dea registration prescriber license licence physician doctor dr md');
const NPI_CUES = cueSet('npi provider');

function deaValid(s: string): boolean {
  const d = s.slice(2).split('').map(Number);
  const sum = d[0]! + d[2]! + d[4]! + 2 * (d[1]! + d[3]! + d[5]!);
  return sum % 10 === d[6];
}

export const medicalLicenseDetector: Detector = {
  name: 'medical-license',
  types: ['MEDICAL_LICENSE'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    for (const m of matches(DEA, text)) {
      if (!deaValid(m[0])) continue;
      out.push({ type: 'MEDICAL_LICENSE', start: m.index, end: m.index + 9, score: hasCueBefore(scan, m.index, DEA_CUES, 40) ? 0.95 : 0.55 });
    }
    if (/npi|provider/i.test(text)) {
      for (const m of matches(NPI, text)) {
        if (!luhnValid(`80840${m[0]}`) || !hasCueBefore(scan, m.index, NPI_CUES, 30)) continue;
        out.push({ type: 'MEDICAL_LICENSE', start: m.index, end: m.index + 10, score: 0.9 });
      }
    }
    if (/licen[cs]e|registration/i.test(text)) {
      for (const m of matches(CUE, text)) {
        const from = m.index + m[0].length;
        const t = AFTER_CUE.exec(text.slice(from, from + 40));
        if (!t) continue;
        const start = from + t[0].length - t[1]!.length;
        out.push({ type: 'MEDICAL_LICENSE', start, end: start + t[1]!.length, score: 0.85 });
      }
    }
  },
};
