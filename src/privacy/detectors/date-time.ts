/**
 * DATE_TIME: calendar dates (ISO 8601, numeric d/m/y and m/d/y, month names in English, German,
 * French, Spanish, Italian, Portuguese, Dutch and Polish) and clock times. A month name alone is
 * not reported ("May I ask…", "in March"): it needs a day or a year. Numbers that only look like
 * dates ("3.10.12" after "Python") are excluded: dotted dates need a four-digit year.
 */
import { inCode, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const FULL_MONTHS = [
  'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
  'januar', 'jänner', 'februar', 'märz', 'mai', 'juni', 'juli', 'oktober', 'dezember',
  'janvier', 'février', 'fevrier', 'mars', 'avril', 'juin', 'juillet', 'août', 'aout', 'septembre', 'octobre', 'novembre', 'décembre', 'decembre',
  'enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'setiembre', 'octubre', 'noviembre', 'diciembre',
  'gennaio', 'febbraio', 'aprile', 'maggio', 'giugno', 'luglio', 'settembre', 'ottobre', 'dicembre',
  'janeiro', 'fevereiro', 'março', 'maio', 'junho', 'julho', 'setembro', 'outubro', 'novembro', 'dezembro',
  'januari', 'februari', 'maart', 'mei', 'augustus',
  'stycznia', 'lutego', 'marca', 'kwietnia', 'maja', 'czerwca', 'lipca', 'sierpnia', 'września', 'października', 'listopada', 'grudnia',
  'styczeń', 'luty', 'marzec', 'kwiecień', 'maj', 'czerwiec', 'lipiec', 'sierpień', 'wrzesień', 'październik', 'listopad', 'grudzień',
  // Scandinavian (sv/da/nb): most are shared with German/Dutch/English above
  'augusti', 'desember',
];
const ABBR_MONTHS = [
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'jän', 'mär', 'okt', 'dez', 'janv', 'févr', 'fév', 'avr', 'juil', 'déc', 'ene', 'abr', 'ago', 'dic', 'set',
  'gen', 'mag', 'giu', 'lug', 'ott', 'fev', 'out', 'mrt', 'sty', 'lut', 'kwi', 'cze', 'lip', 'sie', 'wrz', 'paź', 'lis', 'gru',
];
const MONTHS = [...FULL_MONTHS, ...ABBR_MONTHS].sort((a, b) => b.length - a.length);
/** Month words that are also everyday words: they need a year or a capital to count. */
const AMBIGUOUS_MONTHS = new Set(['may', 'march', 'mar', 'set', 'out', 'gen', 'sie', 'lip', 'mag', 'lis', 'sat', 'sun', 'dec', 'jun', 'ago']);
const FULL = new Set(FULL_MONTHS);
const MONTH_SET = new Set(MONTHS);
const WORD = /\p{L}+/gu;
const WEEKDAYS = 'monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo';
const M = `(?:${MONTHS.join('|')})\\.?`;
const DAY = '(?:[12]\\d|3[01]|0?[1-9])(?:st|nd|rd|th|er|e|º|°|\\.)?';
const YEAR = '(?:1[89]\\d\\d|2[01]\\d\\d)';
const OF = '(?:\\s+(?:de|del|di|van|of)\\s+|\\s+|\\s*,\\s*)';
const NAMED = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:(?:${WEEKDAYS}),?\\s+)?(?:${DAY}${OF}${M}(?:${OF}${YEAR})?|${M}\\s+${DAY}(?:,?\\s+${YEAR})?|${M}${OF}${YEAR})(?![\\p{L}\\p{N}])`,
  'giu',
);
const ISO = /(?<![\d.\-\/])(?:19|20|21)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?(?![\d\-\/])/g;
const NUMERIC = /(?<![\d.\-\/])(\d{1,2})([.\/-])(\d{1,2})\2(\d{4}|\d{2})(?![\d]|[.\/-]\d)/g;
const TIME = /(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[AaPp]\.?[Mm]\.?|Uhr|h))?(?![\d:]|\.\d)|(?<![\d:.])(?:1[0-2]|0?[1-9])\s?[AaPp]\.?[Mm]\.?(?![\p{L}])/gu;

function validDayMonth(a: number, b: number): boolean {
  return (a >= 1 && a <= 31 && b >= 1 && b <= 12) || (b >= 1 && b <= 31 && a >= 1 && a <= 12);
}

const VERSION_BEFORE = /(?:\bv|version|python|node|java|go|ruby|php|release|build|\d\.)\s*$/i;

const MAX_MONTH = Math.max(...MONTHS.map((m) => m.length));
const LETTER = /\p{L}/u;
const isLetter = (c: number, ch: string) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 0xaa && LETTER.test(ch));

/**
 * The month words of the text (index and original spelling), from one pass over the lower-case
 * copy by character code: no regex over every word, no lower-casing per word.
 */
function* monthWords(scan: ScanText): Generator<{ index: number; 0: string }> {
  const { text } = scan;
  if (!scan.lowerSafe) {
    for (const w of matches(WORD, text)) if (MONTH_SET.has(w[0].toLowerCase())) yield w;
    return;
  }
  const lower = scan.lower;
  const n = lower.length;
  let i = 0;
  while (i < n) {
    const c = lower.charCodeAt(i);
    if (!isLetter(c, lower[i]!)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && isLetter(lower.charCodeAt(j), lower[j]!)) j++;
    if (j - i >= 3 && j - i <= MAX_MONTH && MONTH_SET.has(lower.slice(i, j))) yield { index: i, 0: text.slice(i, j) };
    i = j;
  }
}

export const dateTimeDetector: Detector = {
  name: 'date-time',
  types: ['DATE_TIME'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    // Timestamps in code blocks and log excerpts are machine data, not someone's date of birth.
    const push = (start: number, end: number, score: number) => {
      if (!inCode(scan, start)) out.push({ type: 'DATE_TIME', start, end, score });
    };
    for (const m of matches(ISO, text)) push(m.index, m.index + m[0].length, 0.95);
    for (const m of matches(NUMERIC, text)) {
      const sep = m[2]!;
      const year = m[4]!;
      if (sep === '.' && year.length !== 4 && VERSION_BEFORE.test(text.slice(Math.max(0, m.index - 12), m.index))) continue;
      if (!validDayMonth(Number(m[1]), Number(m[3]))) continue;
      if (year.length === 4 && (Number(year) < 1900 || Number(year) > 2199)) continue;
      push(m.index, m.index + m[0].length, year.length === 4 ? 0.9 : 0.6);
    }
    // Named dates: find month words first (a cheap word scan), then try the full pattern only around them.
    let lastEnd = -1;
    for (const w of monthWords(scan)) {
      const from = Math.max(lastEnd, w.index - 24, 0);
      const window = text.slice(from, w.index + w[0].length + 14);
      for (const m0 of matches(NAMED, window)) {
        const m = { index: from + m0.index, 0: m0[0] };
        if (m.index > w.index || m.index + m[0].length < w.index + w[0].length) continue;
        lastEnd = m.index + m[0].length;
        // "may 5" in prose ("you may 2 …") is rare; a capitalised month or a year keeps precision.
        const s = m[0];
        const hasYear = /\d{4}/.test(s);
        const capital = /^\p{Lu}/u.test(s) || /\s\p{Lu}/u.test(s);
        const month = (/\p{L}{3,}(?=\.?(?:\s|,|$))/u.exec(s.replace(/^\p{L}+,?\s+(?=\d)/u, ''))?.[0] ?? '').toLowerCase();
        // "24 november", "8 de abril": a day and a full, unambiguous month name is a date
        const dayFirst = /^\d/.test(s) || /^\p{L}+,?\s+\d/u.test(s);
        if (!hasYear && !capital && !(dayFirst && FULL.has(month) && !AMBIGUOUS_MONTHS.has(month))) continue;
        if (!hasYear && AMBIGUOUS_MONTHS.has(month) && !capital) continue;
        push(m.index, m.index + s.length, hasYear ? 0.9 : 0.75);
        break;
      }
    }
    if (text.includes(':') || /\d\s?[AaPp]\.?[Mm]/.test(text)) {
      for (const m of matches(TIME, text)) push(m.index, m.index + m[0].length, 0.7);
    }
  },
};
