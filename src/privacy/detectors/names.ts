/**
 * PERSON, LOCATION and ORGANIZATION: the "named entity" family. No statistical model: a compact,
 * shippable combination that runs in microseconds and explains itself —
 *
 * - gazetteers (./../data/gazetteer.ts): ~16k given names and ~15k surnames from ~70 locales,
 *   ~20k real places (cities, regions, countries in 30 languages), street words and legal forms;
 * - capitalisation: candidates are runs of capitalised words ("Heidi Johnston", "Bad Homburg"),
 *   with name particles inside ("Ludwig van Beethoven", "María de la Cruz") and initials ("J. Smith");
 * - context: honorifics ("Mr.", "Frau", "Dr"), greetings and sign-offs ("Dear", "Hi", "Best regards,"),
 *   phrases ("my name is", "lives in", "works at"), legal suffixes ("GmbH", "Inc.", "& Sons"),
 *   street words and house numbers for addresses;
 * - ambiguity handling: a name that is also a common word ("Will", "Grant", "Rose") or a sentence
 *   starter needs support from a neighbouring name or a cue; all-caps tokens (AWS, EKS, GPT-4) and
 *   product names are never names.
 *
 * A capitalised pair with one known given name or surname is reported even when the other word is
 * in no list, which is how names outside the gazetteer are still found.
 */
import {
  ADDRESS_UNIT_WORDS,
  HONORIFICS,
  LOCATION_CUE_PHRASES,
  NOT_NAMES,
  ORG_CUE_PHRASES,
  ORG_SUFFIXES,
  ORG_TAIL_WORDS,
  PERSON_CUE_PHRASES,
  PERSON_CUES_BEFORE,
  STREET_COMPOUND_ENDINGS,
  TECH_TERMS,
  US_STATE_CODES,
} from '../data/lexicon.js';
import { COMMON_WORDS, FIRST_NAMES, LEGAL_ENTITY_TYPES, PLACES, STREET_WORDS_ALL, SURNAMES } from '../data/gazetteer.js';
import { matches } from '../text.js';
import type { Detector, EntityType, Finding, ScanText } from '../types.js';

// ---------------------------------------------------------------- lexicons (built once)

const lines = (s: string) => s.split('\n');
const FIRST = new Set(lines(FIRST_NAMES));
const LAST = new Set(lines(SURNAMES));
const COMMON = new Set(lines(COMMON_WORDS));
const NOT_NAME = new Set([...NOT_NAMES, ...TECH_TERMS, 'claude', 'gemini', 'alexa', 'siri', 'cortana', 'copilot', 'llama', 'mistral', 'grok', 'bard', 'watson', 'jenkins', 'ansible', 'terraform', 'kafka', 'cassandra', 'hadoop', 'spark', 'flask', 'django', 'rails', 'ruby', 'julia', 'pandas', 'numpy', 'apache', 'oracle', 'sage', 'prometheus', 'grafana', 'helm', 'vault', 'consul', 'nomad', 'pulumi', 'ollama', 'vercel', 'heroku', 'netlify', 'stripe', 'twilio', 'shopify', 'paypal', 'venmo', 'zelle', 'dear', 'hi', 'hello', 'hey']);
const HONORIFIC = new Set(HONORIFICS);
const PERSON_CUE = new Set(PERSON_CUES_BEFORE);
const STREET = new Set([...lines(STREET_WORDS_ALL), ...[...lines(STREET_WORDS_ALL)].map((w) => w.replace(/\.$/, ''))]);
const UNIT = new Set([...ADDRESS_UNIT_WORDS, ...ADDRESS_UNIT_WORDS.map((w) => w.replace(/\.$/, ''))]);
const LEGAL = new Set([...ORG_SUFFIXES, ...lines(LEGAL_ENTITY_TYPES), ...ORG_SUFFIXES.map((w) => w.replace(/\.$/, ''))]);
const ORG_TAIL = new Set(ORG_TAIL_WORDS);
const STATE_CODES = new Set(US_STATE_CODES);
const PARTICLES = new Set(['de', 'da', 'do', 'dos', 'das', 'di', 'del', 'della', 'dei', 'van', 'von', 'der', 'den', 'ter', 'ten', 'le', 'la', 'du', 'des', 'bin', 'binti', 'bint', 'al', 'el', 'zu', 'af', 'av', 'mac', 'aan', 'am', 'an', 'upon', 'sur', 'sous', 'bei', 'im']);
/** Particles that occur in place names but hardly in people's ("Frankfurt am Main", "Huissen aan de IJssel"). */
const PLACE_PARTICLES = new Set(['aan', 'am', 'an', 'upon', 'sur', 'sous', 'bei', 'im']);
/** German street names without a street word: "Am Vogelkreuz 12", "An der Mühle 3", "Zum Anger 5". */
const STREET_PREPOSITIONS = new Set(['am', 'an', 'auf', 'im', 'in', 'zum', 'zur', 'unter', 'hinter', 'vor', 'bei', 'op', 'aan']);
/** Dotted legal forms right after a name: "Rentería S.L.", "Witczak Sp. z o.o.", "Dupont S.A.". */
const DOTTED_LEGAL = /^,?\s(?:S\.\s?L\.(?:\s?U\.)?|S\.\s?A\.(?:\s?S\.)?(?:\s?de\s?C\.\s?V\.)?|S\.\s?p\.\s?A\.?|S\.\s?r\.\s?l\.?|S\.\s?A\.\s?R\.\s?L\.?|B\.\s?V\.?|N\.\s?V\.?|L\.\s?L\.\s?C\.?|L\.\s?P\.?|(?:Sp\.\s?)?z\s?o\.\s?o\.?|Sp\.\s?[jkp]\.?|e\.\s?V\.?|Ltda\.?|S\.\s?C\.?|S\.\s?E\.?|Inc\.|Ltd\.|Co\.|Corp\.|GmbH|AG|KG|OHG|UG|SE|SA|SAS|SARL|SRL|SpA|BV|NV|LLC|LLP|PLC|plc|Oy|AB|ASA|A\/S|ApS|Kft\.?|s\.r\.o\.|a\.s\.)(?![\p{L}\p{N}])/u;
const SONS = new Set(['sons', 'söhne', 'fils', 'hijos', 'figli', 'zonen', 'partners', 'associates', 'co', 'asociados', 'associados', 'filhos', 'hnos', 'hermanos', 'fratelli', 'frères']);
const CONNECTORS = new Set(['and', 'und', 'et', 'e', 'y', 'en', 'i', 'og', 'och', 've', '&']);
/** Places by lower-case first word: the full lower-case word sequences. */
const PLACE_SEQ = new Map<string, string[][]>();
for (const p of lines(PLACES)) {
  const toks = p.toLowerCase().match(/\p{L}[\p{L}\p{M}'’.-]*|\d+/gu);
  if (!toks) continue;
  const list = PLACE_SEQ.get(toks[0]!) ?? [];
  list.push(toks);
  PLACE_SEQ.set(toks[0]!, list);
}
for (const list of PLACE_SEQ.values()) list.sort((a, b) => b.length - a.length);
const CITY_SHAPE = /(?:ville|burg|bourg|berg|stadt|stad|dorf|hausen|heim|ingen|furt|ford|field|ton|town|port|mouth|chester|cester|bury|borough|boro|haven|land|side|view|wood|worth|shire|sk|grad|pol|polis|abad|pur|pura|nagar)$/;
const CITY_PREFIX = new Set(['north', 'south', 'east', 'west', 'new', 'lake', 'port', 'fort', 'saint', 'sainte', 'st', 'san', 'santa', 'são', 'bad', 'great', 'little', 'upper', 'lower', 'mount', 'ciudad', 'villa', 'porto', 'puerto', 'süd', 'nord', 'ost', 'alt', 'neu', 'groß', 'klein', 'sankt', 'castel', 'castello', 'monte', 'borgo', 'quarto', 'sesto', 'settimo', 'terzo', 'san', 'nieuw', 'oud', 'noord', 'zuid', 'oost', 'nowy', 'stary', 'mont']);
const CITY_HYPHEN = /-(?:on|upon|sur|sous|le|la|les|en|am|an|im|de|del|di|by|in|under)-/i;
const STREET_ENDINGS = [...STREET_COMPOUND_ENDINGS.filter((e) => !e.endsWith('.')), 'pfad', 'stieg', 'graben', 'park', 'hof', 'kamp', 'dreef', 'hoven'];
/** A compound street name: at least three letters, then a street ending ("Kirchstraße", "Kerkstraat"). */
const STREET_ENDING = new RegExp(`\\p{L}{3}(?:${STREET_ENDINGS.join('|')})$`, 'u');
const STREET_ABBREVIATIONS = new Set(['st', 'dr', 'rd', 'ave', 'av', 'ln', 'ct', 'pl', 'sq', 'blvd', 'bd', 'cir', 'ter', 'hwy', 'pkwy', 'ul', 'al', 'os', 'str', 'way', 'row']);
const ARTICLES = new Set(['der', 'dem', 'den', 'die', 'de', 'la', 'le', 'het']);

const PERSON_PHRASE_SET = new Set([...PERSON_CUE_PHRASES.map((p) => p.toLowerCase()), ...PERSON_CUES_BEFORE]);
const LOCATION_PHRASE_SET = new Set(LOCATION_CUE_PHRASES.map((p) => p.toLowerCase()).filter((p) => !['in', 'to', 'from', 'at', 'near', 'visit', 'aus'].includes(p)));
const ORG_PHRASE_SET = new Set(ORG_CUE_PHRASES.map((p) => p.toLowerCase()));
const WEAK_LOCATION = new Set(['in', 'to', 'from', 'at', 'near', 'visit', 'visiting', 'aus', 'à', 'a', 'en', 'em', 'w', 'nach', 'naar', 'towards', 'of']);

// ---------------------------------------------------------------- tokens

const TOKEN = /[\p{L}\p{N}][\p{L}\p{M}\p{N}'’-]*/gu;
const HOUSE_NUMBER = /^\d{1,6}[A-Za-z]?$/;

interface Tokens {
  start: number[];
  end: number[];
  text: string[];
  lower: string[];
  /** Capitalised word (first letter upper, not an all-caps acronym). */
  cap: boolean[];
  num: boolean[];
}

function tokenize(text: string): Tokens {
  const t: Tokens = { start: [], end: [], text: [], lower: [], cap: [], num: [] };
  const re = TOKEN;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    let s = m[0];
    const last = s.charCodeAt(s.length - 1);
    if (last === 45 || last === 39 || last === 0x2019) s = s.slice(0, -1); // trailing - ' ’
    t.start.push(m.index);
    t.end.push(m.index + s.length);
    t.text.push(s);
    t.lower.push(s.toLowerCase());
    const num = isHouseNumber(s);
    t.num.push(num);
    t.cap.push(!num && isCapitalised(s));
  }
  return t;
}

/** "12", "22b", "742": digits with at most one trailing letter. */
function isHouseNumber(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 7) return false;
  let i = 0;
  while (i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 0 || i > 6) return false;
  if (i === n) return true;
  const c = s.charCodeAt(i) | 32;
  return i === n - 1 && c >= 97 && c <= 122;
}

const UPPER_FIRST = /^\p{Lu}/u;
const HAS_LOWER = /\p{Ll}/u;
function isCapitalised(s: string): boolean {
  const c0 = s.charCodeAt(0);
  // French/Italian elision: "d'Argenteuil", "l'Aquila"
  if ((s[1] === "'" || s[1] === '’') && 'dlDL'.includes(s[0]!)) return UPPER_FIRST.test(s.slice(2));
  if (c0 < 128) {
    if (c0 < 65 || c0 > 90) return false;
    // digits anywhere: "S3", "C4", "GPT4" are product names
    let lower = false;
    for (let i = 1; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 48 && c <= 57) return false;
      if (c >= 97 && c <= 122) lower = true;
      else if (c >= 128) return s.length === 1 || HAS_LOWER.test(s);
    }
    return s.length === 1 || lower;
  }
  if (!UPPER_FIRST.test(s) || /\d/.test(s)) return false;
  // all-caps acronyms (AWS, EKS, NASA) are not names; "McDonald", "O'Neil", "DeShawn" are
  return s.length === 1 || HAS_LOWER.test(s);
}

/** True when token i and token i+1 are separated by exactly one space (no substring allocated). */
function spaceGap(text: string, t: Tokens, i: number): boolean {
  const a = t.end[i]!;
  if (t.start[i + 1]! - a !== 1) return false;
  const c = text.charCodeAt(a);
  return c === 32 || c === 0xa0;
}

/** What separates token i from token i+1. */
function gap(text: string, t: Tokens, i: number): string {
  return text.slice(t.end[i]!, t.start[i + 1]!);
}

const SPACE = /^[ \u00a0]$/;

function sentenceInitial(text: string, t: Tokens, i: number): boolean {
  if (i === 0) return true;
  let k = t.start[i]! - 1;
  while (k >= 0 && (text[k] === ' ' || text[k] === '\t' || text[k] === '\u00a0')) k--;
  if (k >= 0 && !'.!?:;\n"“(['.includes(text[k]!) && !'•*>#|'.includes(text[k]!)) return false;
  // "Mr. Smith", "Dr. Weber": the period belongs to a title, not a sentence end
  return !HONORIFIC.has(t.lower[i - 1]!);
}

// ---------------------------------------------------------------- context

/** Separators allowed between a cue and the name it introduces ("Dear Heidi", "regards,\nHeidi", "contact: Heidi"). */
const CUE_GAP = /^[\s,:;=\-–—'"“(]*$/;

/**
 * The lower-case words just before token `i`, as the phrases they form ("is", "name is", "my name
 * is", ...), nearest first; empty when a sentence end or another token kind intervenes.
 */
function phrasesBefore(text: string, t: Tokens, i: number): string[] {
  const out: string[] = [];
  let phrase = '';
  for (let k = i - 1; k >= 0 && i - k <= 4; k--) {
    const g = text.slice(t.end[k]!, t.start[k + 1]!);
    if (k === i - 1 ? !CUE_GAP.test(g) : !SPACE.test(g)) break;
    phrase = phrase ? `${t.lower[k]} ${phrase}` : t.lower[k]!;
    out.push(phrase);
  }
  return out;
}

function anyIn(phrases: readonly string[], set: ReadonlySet<string>): boolean {
  for (const p of phrases) if (set.has(p)) return true;
  return false;
}

/** "Mr. Smith", "Frau Weber", "Sig.ra Rossi", "Dott.ssa Bianchi": a title right before token `i`. */
function titleBefore(text: string, t: Tokens, i: number): boolean {
  if (i === 0) return false;
  const g = text.slice(t.end[i - 1]!, t.start[i]!);
  if (g !== ' ' && g !== '. ' && g !== '.\u00a0' && g !== '\u00a0') return false;
  const prev = t.lower[i - 1]!;
  if (HONORIFIC.has(prev)) return true;
  return (prev === 'ra' || prev === 'ssa' || prev === 'a') && i >= 2 && HONORIFIC.has(t.lower[i - 2]!) && text.slice(t.end[i - 2]!, t.start[i - 1]!) === '.';
}

// ---------------------------------------------------------------- classification

interface Ctx {
  scan: ScanText;
  t: Tokens;
  used: Uint8Array;
  out: Finding[];
}

function emit(ctx: Ctx, type: EntityType, from: number, to: number, score: number, endChar?: number): void {
  const { t, used, out } = ctx;
  for (let k = from; k <= to; k++) used[k] = 1;
  out.push({ type, start: t.start[from]!, end: endChar ?? t.end[to]!, score });
}

function isStreetToken(t: Tokens, text: string, i: number): boolean {
  const lower = t.lower[i]!;
  const n = t.text.length;
  if (STREET.has(lower)) {
    // "van Dijk", "de la Rue", "Hill" after a given name: surnames, not streets
    if (i > 0 && PARTICLES.has(t.lower[i - 1]!)) return false;
    // a lower-case street word ("rue", "via", "ulica") leads a capitalised name; "port 8080" is no street
    if (!t.cap[i] && !(i + 1 < n && t.cap[i + 1])) return false;
    // short abbreviations (St, Dr, Rd, Ave) count only with their period or after a name/number
    if (STREET_ABBREVIATIONS.has(lower) && text[t.end[i]!] !== '.' && !t.cap[i - 1] && !t.num[i - 1]) return false;
    return true;
  }
  if (STREET_PREPOSITIONS.has(lower)) {
    const k = i + 1 < n && ARTICLES.has(t.lower[i + 1]!) ? i + 2 : i + 1;
    return t.cap[i] && k + 1 < n && t.cap[k] === true && (t.num[k + 1] === true || (t.cap[k + 1] === true && t.num[k + 2] === true));
  }
  if (!t.cap[i] || lower.length < 6) return false;
  if (STREET_ENDING.test(lower)) return true;
  return lower.endsWith('str') && text[t.end[i]!] === '.';
}

const POSTCODE = /^(?:\d{5}(?:-\d{3,4})?|\d{4}(?:\s?[A-Z]{2}(?![\p{L}]))?|\d{2}-\d{3}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z\d]{2}|[A-Z]\d[A-Z]\s?\d[A-Z]\d)(?![\p{L}\p{N}])/u;
const SEPARATOR = /^(?:,\s{0,2}|\s*\n\s*|\s)/;
/** A town: capitalised words with particles, hyphen compounds, and lower-case toponym tails ("Bisconti a mare"). */
const TOWN = /^\p{Lu}[\p{L}\p{M}'’-]*(?:\s(?:(?:de|da|do|di|del|della|dei|la|le|les|am|an|der|den|aan|upon|on|sur|sous|en|im|bei|a|al|y|e)\s)*[\p{Lu}][\p{L}\p{M}'’-]*){0,3}(?:\s(?:a\s)?(?:mare|calabro|umbro|ligure|sardo|veneto|laziale|lombardo|salentino|friulano|terme|marittimo|del\sfriuli|di\ssopra|di\ssotto))?/u;

/** After an address: ", 10115 Berlin", ", North Jedidiah, NY 12345", ", Kolumbien" (at most three parts). */
function extendWithTown(scan: ScanText, endChar: number): number {
  const text = scan.text;
  let end = endChar;
  for (let step = 0; step < 3; step++) {
    const rest = text.slice(end, end + 80);
    const sep = SEPARATOR.exec(rest);
    if (!sep) break;
    const after = rest.slice(sep[0].length);
    const pc = POSTCODE.exec(after);
    if (pc) {
      end += sep[0].length + pc[0].length;
      const town = /^\s/.test(text.slice(end, end + 1)) ? TOWN.exec(text.slice(end + 1, end + 80)) : null;
      if (town && !(NOT_NAME.has(town[0].toLowerCase()) && !town[0].includes(' '))) end += 1 + town[0].length;
      continue;
    }
    const state = /^([A-Z]{2})(?:\s(\d{5}(?:-\d{4})?))?(?![\p{L}\p{N}])/u.exec(after);
    if (state && STATE_CODES.has(state[1]!) && sep[0].includes(',')) {
      end += sep[0].length + state[0].length;
      continue;
    }
    if (!sep[0].includes(',') && !sep[0].includes('\n')) break;
    const town = TOWN.exec(after);
    if (!town) break;
    const head = town[0].split(/\s/)[0]!.toLowerCase();
    const single = !town[0].includes(' ');
    if ((single && (NOT_NAME.has(head) || COMMON.has(head))) || PERSON_CUE.has(head) || HONORIFIC.has(head)) break;
    end += sep[0].length + town[0].length;
  }
  return trimDot(text, endChar, end);
}

function trimDot(text: string, start: number, end: number): number {
  // "Bad Homburg v.d.H." keeps its dots; a sentence's final period does not belong to the town
  while (end > start && text[end - 1] === '.' && !/\.\p{L}\.$/u.test(text.slice(start, end))) end--;
  return end;
}

/** Street addresses: a street word with a house number on either side, units and a town after. */
function detectAddresses(ctx: Ctx): void {
  const { scan, t, used } = ctx;
  const text = scan.text;
  const n = t.text.length;
  for (let k = 0; k < n; k++) {
    if (used[k] || !isStreetToken(t, text, k)) continue;
    let start = k;
    let hasNumber = false;
    // left: capitalised name words, then a house number ("20622 Corkery Oval", "37 Allée Marcadet")
    let l = k;
    while (l > 0 && k - l < 4 && t.cap[l - 1] && spaceGap(text, t, l - 1) && !used[l - 1] && !NOT_NAME.has(t.lower[l - 1]!)) l--;
    if (l > 0 && t.num[l - 1] && spaceGap(text, t, l - 1) && !used[l - 1]) {
      start = l - 1;
      hasNumber = true;
    } else start = l;
    // right: name words after a prefix-type street word ("Rue de la Paix", "Via Roma", "Am Vogelkreuz")
    let end = k;
    if (start === k || hasNumber) {
      let r = k;
      while (r + 1 < n && r - k < 6) {
        const g = gap(text, t, r);
        if (!(SPACE.test(g) || (r === k && g === '. '))) break;
        if (t.cap[r + 1] && !UNIT.has(t.lower[r + 1]!) && !NOT_NAME.has(t.lower[r + 1]!)) r++;
        else if (r === k && STREET_PREPOSITIONS.has(t.lower[k]!) && ARTICLES.has(t.lower[r + 1]!) && t.cap[r + 2]) r += 2;
        else if (PARTICLES.has(t.lower[r + 1]!)) {
          let q = r + 1;
          while (q + 1 < n && PARTICLES.has(t.lower[q + 1]!) && spaceGap(text, t, q)) q++;
          if (q + 1 < n && t.cap[q + 1] && spaceGap(text, t, q)) r = q + 1;
          else break;
        } else break;
      }
      end = r;
    }
    // then a house number ("Alfred-Kubin-Str. 22b", "Rambla Nicolás, 8", "rynek Szewczyk 7/6")
    if (!hasNumber && end + 1 < n && t.num[end + 1] && /^\.?[ \u00a0]$|^\.?, $/.test(gap(text, t, end))) {
      end++;
      hasNumber = true;
    }
    if (!hasNumber) {
      // "Corkery Oval" alone is a street only after a location cue
      if (start < k && anyIn(phrasesBefore(text, t, start), LOCATION_PHRASE_SET)) emit(ctx, 'LOCATION', start, k, 0.7);
      continue;
    }
    if (end + 1 < n && t.num[end + 1] && gap(text, t, end) === '/') end++;
    // units: "Suite 146", "Apt. 922", "Zimmer 151", "m. 371", "3 étage", "1º C", "2 hoog achter"
    for (let guard = 0; guard < 4 && end + 1 < n; guard++) {
      const g = gap(text, t, end);
      if (!/^[.,]?\s{1,2}$|^º\s$/.test(g)) break;
      const next = end + 1;
      if (UNIT.has(t.lower[next]!) && next + 1 < n && (t.num[next + 1] || /^[A-Z]$/.test(t.text[next + 1]!)) && /^[.\s#º°]{1,3}$/.test(gap(text, t, next))) end = next + 1;
      else if (UNIT.has(t.lower[next]!) && g.trim() === '') end = next;
      else if (t.num[next] && t.text[next]!.length <= 4 && g === ' ') end = next;
      else if (/^(?:[IVX]+|[A-D])$/.test(t.text[next]!) && /^º?\s$/.test(g)) end = next;
      else break;
    }
    let endChar = t.end[end]!;
    if (text[endChar] === '.' && UNIT.has(`${t.lower[end]}.`)) endChar++;
    endChar = extendWithTown(scan, endChar);
    // " in Leem" right after an address names its town
    const inTown = /^\s(?:in|à|en|em|w)\s(\p{Lu}[\p{L}\p{M}'’-]+(?:\s\p{Lu}[\p{L}\p{M}'’-]+)?)/u.exec(text.slice(endChar, endChar + 60));
    if (inTown && !NOT_NAME.has(inTown[1]!.toLowerCase())) endChar += inTown[0].length;
    let last = end;
    while (last + 1 < n && t.start[last + 1]! < endChar) last++;
    emit(ctx, 'LOCATION', start, last, 0.9, endChar);
  }
}

function placeMatch(t: Tokens, i: number, max: number): number {
  const seqs = PLACE_SEQ.get(t.lower[i]!);
  if (!seqs) return -1;
  for (const seq of seqs) {
    if (i + seq.length - 1 > max) continue;
    let ok = true;
    for (let k = 1; k < seq.length; k++) {
      if (t.lower[i + k] !== seq[k]) {
        ok = false;
        break;
      }
    }
    if (ok) return i + seq.length - 1;
  }
  return -1;
}

const isName = (w: string) => (FIRST.has(w) || LAST.has(w)) && !NOT_NAME.has(w);
const strongFirst = (w: string) => FIRST.has(w) && !COMMON.has(w) && !NOT_NAME.has(w);
const strongLast = (w: string) => LAST.has(w) && !COMMON.has(w) && !NOT_NAME.has(w);
/** A surname, including double-barrelled ones ("Hamill-Walsh", "Barros-Oliveira"). */
const surnameToken = (w: string) => LAST.has(w) || (w.includes('-') && w.split('-').every((p) => LAST.has(p)));

/** Organisations: "<Names> GmbH", "<Name>, <Name> and <Name>", "<Name> and Sons", "<Name> - <Name>". */
function detectOrganisations(ctx: Ctx): void {
  const { scan, t, used } = ctx;
  const text = scan.text;
  const n = t.text.length;
  // 1. a legal form or an organisation word after capitalised names
  for (let i = 1; i < n; i++) {
    if (used[i]) continue;
    const lower = t.lower[i]!;
    const legal = LEGAL.has(lower) && (t.cap[i] || /^[A-Z]/.test(t.text[i]!));
    const tail = ORG_TAIL.has(lower) && t.cap[i];
    if (!legal && !tail) continue;
    // "Acme Holdings Inc.": the organisation ends at the last of its tail words
    if (i + 1 < n && spaceGap(text, t, i) && (LEGAL.has(t.lower[i + 1]!) || ORG_TAIL.has(t.lower[i + 1]!)) && /^[A-Z]/.test(t.text[i + 1]!)) continue;
    let s = i;
    while (s > 0 && i - s < 7) {
      const g = gap(text, t, s - 1);
      const prev = s - 1;
      if (used[prev]) break;
      if (t.cap[prev] && /^[ \u00a0]$|^, $|^ & $|^ - $|^-$/.test(g)) s = prev;
      else if ((CONNECTORS.has(t.lower[prev]!) || PARTICLES.has(t.lower[prev]!)) && prev > 0 && (t.cap[prev - 1] || PARTICLES.has(t.lower[prev - 1]!)) && SPACE.test(g)) s = prev;
      else break;
    }
    const strictLegal = legal && /^[A-Z]/.test(t.text[i]!) && t.text[i] !== 'Group';
    while (s < i && (CONNECTORS.has(t.lower[s]!) || ARTICLES.has(t.lower[s]!) || ['the', 'a', 'an', 'our', 'your', 'their'].includes(t.lower[s]!) || (!strictLegal && (NOT_NAME.has(t.lower[s]!) || (sentenceInitial(text, t, s) && COMMON.has(t.lower[s]!)))))) s++;
    if (s >= i) continue;
    let namey = strictLegal;
    for (let k = s; k < i; k++) if (!COMMON.has(t.lower[k]!) || isName(t.lower[k]!)) namey = true;
    if (!namey) continue;
    let endChar = t.end[i]!;
    const more = /^(?:\.?\s*&\s*Co\.?\s*(?:KG|OHG)?|\.(?:\s?[A-Z]\.)+|\.)/.exec(text.slice(endChar, endChar + 16));
    if (more && (more[0] !== '.' || /^(?:inc|ltd|corp|co|bros|gebr|hnos|intl)$/.test(lower))) endChar += more[0].length;
    let end = i;
    while (end + 1 < n && t.end[end + 1]! <= endChar) end++;
    emit(ctx, 'ORGANIZATION', s, end, legal ? 0.85 : 0.7, endChar);
  }
  // 2. surname lists: "Conn and Sons", "Smith, Jones and Brown", "Valverde Carmona y Altamirano Covarrubias"
  for (let c = 1; c + 1 < n; c++) {
    const conn = t.lower[c]!;
    const dash = false;
    if (!(CONNECTORS.has(conn) || dash) || used[c]) continue;
    if (!spaceGap(text, t, c - 1) || !spaceGap(text, t, c)) continue;
    const lowerSons = SONS.has(t.lower[c + 1]!) && !t.cap[c + 1];
    if (!(t.cap[c - 1] && (t.cap[c + 1] || PARTICLES.has(t.lower[c + 1]!) || lowerSons))) continue;
    const groups: number[][] = [];
    // right group
    let r = c + 1;
    const right = [];
    if (lowerSons) right.push(r);
    else while (r < n && right.length < 4 && (t.cap[r] || PARTICLES.has(t.lower[r]!)) && !used[r]) {
      right.push(r);
      if (r + 1 < n && spaceGap(text, t, r) && (t.cap[r + 1] || PARTICLES.has(t.lower[r + 1]!))) r++;
      else break;
    }
    groups.push(right);
    // left groups, separated by ", "
    let l = c - 1;
    for (;;) {
      const g: number[] = [];
      while (l >= 0 && g.length < 4 && (t.cap[l] || PARTICLES.has(t.lower[l]!)) && !used[l]) {
        g.unshift(l);
        if (l > 0 && spaceGap(text, t, l - 1) && (t.cap[l - 1] || PARTICLES.has(t.lower[l - 1]!))) l--;
        else break;
      }
      if (g.length === 0) break;
      groups.unshift(g);
      if (l > 0 && gap(text, t, l - 1) === ', ' && t.cap[l - 1]) l -= 1;
      else break;
    }
    if (groups.length < 2 || groups.some((g) => g.length === 0)) continue;
    const sons = SONS.has(t.lower[right[0]!]!);
    const lastOf = (g: number[]) => t.lower[g[g.length - 1]!]!;
    const firstOf = (g: number[]) => t.lower[g[0]!]!;
    const surnames = groups.filter((g) => surnameToken(lastOf(g))).length;
    // "Ana y Pedro", "John and Mary": given names joined are people, not a firm
    const givenOnly = groups.filter((g) => g.length === 1 && FIRST.has(firstOf(g)) && !LAST.has(firstOf(g))).length;
    const startsWithGiven = groups.some((g) => g.length >= 2 && strongFirst(firstOf(g)) && !LAST.has(firstOf(g)));
    const orgCue = hasOrgCue(ctx, groups[0]![0]!);
    const ok = sons || (surnames === groups.length && givenOnly === 0 && !startsWithGiven && (groups.length >= 3 || orgCue || groups.every((g) => g.length >= 2) || surnames >= 2));
    if (!ok) continue;
    const s0 = groups[0]![0]!;
    let e0 = right[right.length - 1]!;
    let endChar = t.end[e0]!;
    const legal = DOTTED_LEGAL.exec(text.slice(endChar, endChar + 24));
    if (legal) endChar += legal[0].length;
    while (e0 + 1 < n && t.end[e0 + 1]! <= endChar) e0++;
    emit(ctx, 'ORGANIZATION', s0, e0, sons ? 0.85 : 0.75, endChar);
  }
  // 3. "Halvorson - Mayer", "Kok - Bijl", "van der Horst - de Vos"
  for (let i = 0; i + 1 < n; i++) {
    if (used[i] || used[i + 1] || t.start[i + 1]! - t.end[i]! !== 3 || text[t.end[i]! + 1] !== '-') continue;
    if (gap(text, t, i) !== ' - ') continue;
    if (!surnameToken(t.lower[i]!) || !(t.cap[i + 1] || PARTICLES.has(t.lower[i + 1]!))) continue;
    let s = i;
    while (s > 0 && PARTICLES.has(t.lower[s - 1]!) && spaceGap(text, t, s - 1)) s--;
    let e = i + 1;
    while (e + 1 < n && PARTICLES.has(t.lower[e]!) && spaceGap(text, t, e)) e++;
    if (!t.cap[e] || !surnameToken(t.lower[e]!)) continue;
    if (s === i && i > 0 && t.cap[i - 1] && spaceGap(text, t, i - 1)) continue; // "Heidi Smith - thanks"
    emit(ctx, 'ORGANIZATION', s, e, 0.75);
  }
}

function hasOrgCue(ctx: Ctx, i: number): boolean {
  return anyIn(phrasesBefore(ctx.scan.text, ctx.t, i), ORG_PHRASE_SET);
}

/** People and places from capitalised runs. */
function detectRuns(ctx: Ctx): void {
  const { scan, t, used } = ctx;
  const text = scan.text;
  const n = t.text.length;
  let i = 0;
  while (i < n) {
    const startsRun = t.cap[i] || (PARTICLES.has(t.lower[i]!) && i + 1 < n && t.cap[i + 1] && titleBefore(text, t, i));
    if (used[i] || !startsRun) {
      i++;
      continue;
    }
    // grow the run: single spaces, particles between capitalised words, initials with a period
    let j = i;
    while (j + 1 < n && !used[j + 1] && j - i < 6) {
      const g = gap(text, t, j);
      const initial = t.text[j]!.length === 1 && g === '. ';
      if (!(SPACE.test(g) || initial)) break;
      if (t.cap[j + 1]) {
        j++;
        continue;
      }
      let q = j + 1;
      while (q < n && PARTICLES.has(t.lower[q]!) && q - j < 4 && spaceGap(text, t, q)) q++;
      if (q > j + 1 && q < n && t.cap[q] && !used[q]) j = q;
      else break;
    }
    classifyRun(ctx, i, j);
    i = j + 1;
  }
}

/** A line of its own right under a person's name in a signature: the organisation ("Heidi Johnston\nKoehler-Moll"). */
function signatureOrg(ctx: Ctx, i: number, j: number): boolean {
  const { scan, t, out } = ctx;
  const text = scan.text;
  const lineStart = t.start[i]!;
  const lineEnd = t.end[j]!;
  if (text[lineStart - 1] !== '\n' || !(lineEnd === text.length || text[lineEnd] === '\n')) return false;
  const prevLineEnd = lineStart - 1;
  const prevLineStart = text.lastIndexOf('\n', prevLineEnd - 1) + 1;
  return out.some((f) => f.type === 'PERSON' && f.start === prevLineStart && f.end === prevLineEnd);
}

/** A place from a run, with a house number and town after it when the run is a street ("Grundermühle 193, 75316 Noemischeid"). */
function emitPlace(ctx: Ctx, i: number, j: number, score: number): void {
  const { scan, t } = ctx;
  const text = scan.text;
  const n = t.text.length;
  let end = j;
  if (end + 1 < n && t.num[end + 1] && /^[ \u00a0]$|^, $/.test(gap(text, t, end)) && /^,? ?\d{4,5}\b|^\s*[,.]?\s*$|^ [A-Z]/.test(text.slice(t.end[end + 1]!, t.end[end + 1]! + 8) || ' ')) end++;
  if (end === j) return emit(ctx, 'LOCATION', i, j, score);
  const endChar = extendWithTown(scan, t.end[end]!);
  let last = end;
  while (last + 1 < n && t.start[last + 1]! < endChar) last++;
  emit(ctx, 'LOCATION', i, last, Math.max(score, 0.85), endChar);
}

function classifyRun(ctx: Ctx, i0: number, j: number): void {
  const { scan, t } = ctx;
  const text = scan.text;
  let i = i0;
  const rawPrefix = text.slice(Math.max(0, t.start[i0]! - 14), t.start[i0]!);
  let honorific = titleBefore(text, t, i0);
  const before = phrasesBefore(text, t, i0);
  let cue = anyIn(before, PERSON_PHRASE_SET);
  // honorifics and greeting words at the head of the run are context, not name
  while (i <= j) {
    const w = t.lower[i]!;
    if (HONORIFIC.has(w) && i < j) honorific = true;
    else if (PERSON_CUE.has(w) && i < j) cue = true;
    else if (CITY_PREFIX.has(w) && i < j) break; // "North Jedidiah", "Süd Zoeydorf": part of a place
    // "August Fisher", "Best regards, Julio": a given name that is also a month or a common word
    else if (FIRST.has(w) && !HONORIFIC.has(w) && ((i < j && surnameToken(t.lower[i + 1]!)) || (cue && i === j))) break;
    else if (NOT_NAME.has(w)) {
      // sentence starters, weekdays, product names
    } else if (i === i0 && i < j && sentenceInitial(text, t, i) && ((COMMON.has(w) && !(FIRST.has(w) && isName(t.lower[i + 1]!))) || (!isName(w) && strongFirst(t.lower[i + 1]!)))) {
      // "Please", "Thanks", "Customer" at a sentence start
    } else break;
    i++;
  }
  // particles lead a name only right after a title ("Mevr. van Wijk"), not after "I am";
  // places keep theirs ("Le Mans", "La Paz", "Den Haag")
  if (!(honorific && i === i0) && PARTICLES.has(t.lower[i]!) && placeMatch(t, i, j) === j) {
    emitPlace(ctx, i, j, 0.85);
    return;
  }
  if (!(honorific && i === i0)) while (i < j && PARTICLES.has(t.lower[i]!)) i++;
  // a title alone ("Sr." before a name the period split off) is no name
  if (i === j && (HONORIFIC.has(t.lower[i]!) || PERSON_CUE.has(t.lower[i]!))) return;
  // trailing non-names ("Heidi Johnston Support")
  while (j >= i && (NOT_NAME.has(t.lower[j]!) || STREET.has(t.lower[j]!) || PARTICLES.has(t.lower[j]!))) j--;
  if (i > j) return;
  const lastWord = before[0] ?? '';
  if (!honorific && !(j > i && strongFirst(t.lower[i]!)) && signatureOrg(ctx, i, j)) {
    emit(ctx, 'ORGANIZATION', i, j, 0.7);
    return;
  }
  const locationCue = anyIn(before, LOCATION_PHRASE_SET);
  const weakLocationCue = WEAK_LOCATION.has(lastWord);
  const orgCue = anyIn(before, ORG_PHRASE_SET);
  const len = j - i + 1;
  const words = t.lower.slice(i, j + 1);

  // an organisation with a dotted legal form after it: "Rentería Tórrez S.L.", "Barrientos Muñoz S.A."
  for (let k = i; k <= j && !honorific; k++) {
    const after = text.charCodeAt(t.end[k]!);
    const next = text.charCodeAt(t.end[k]! + 1);
    // cheap gate: a legal form starts with ", " or " " and a capital (or "z o.o.")
    if (!((after === 32 || after === 44) && ((next >= 65 && next <= 90) || next === 122 || next === 32))) continue;
    const legal = DOTTED_LEGAL.exec(text.slice(t.end[k]!, t.end[k]! + 24));
    if (legal && !(k === i && NOT_NAME.has(t.lower[i]!))) {
      const endChar = t.end[k]! + legal[0].length;
      emit(ctx, 'ORGANIZATION', i, k, 0.85, endChar);
      for (let q = k + 1; q < t.text.length && t.start[q]! < endChar; q++) ctx.used[q] = 1;
      return;
    }
  }

  const placeEnd = placeMatch(t, i, j);
  const firstKnown = strongFirst(words[0]!);
  const lastKnown = len > 1 && surnameToken(words[len - 1]!);
  const anyName = words.some(isName);
  const placeShaped =
    (len >= 2 && CITY_PREFIX.has(words[0]!)) || words.some((w) => PLACE_PARTICLES.has(w)) || CITY_HYPHEN.test(words.join(' ')) || CITY_SHAPE.test(words[len - 1]!);
  // places from the gazetteer (longest match from the run start)
  if (placeEnd === j && !honorific && !(cue && anyName)) {
    const personish = len >= 2 && firstKnown && lastKnown;
    if (!personish) {
      const alsoName = words.some((w) => FIRST.has(w) || LAST.has(w));
      emitPlace(ctx, i, j, locationCue || weakLocationCue ? 0.9 : alsoName ? 0.55 : 0.8);
      return;
    }
  }
  if (!honorific && !cue && ((len >= 2 && CITY_PREFIX.has(words[0]!)) || words.some((w) => PLACE_PARTICLES.has(w)) || CITY_HYPHEN.test(words.join(' ')))) {
    emitPlace(ctx, i, j, locationCue || weakLocationCue ? 0.85 : 0.7);
    return;
  }

  // people
  let score = 0;
  if (honorific) score = 0.95;
  else if (len >= 2) {
    const initial = words.some((w, k) => w.length === 1 && k < len - 1);
    if (firstKnown && lastKnown) score = 0.95;
    else if (firstKnown || (initial && lastKnown)) score = 0.85;
    else if (lastKnown && !COMMON.has(words[0]!) && !sentenceInitial(text, t, i)) score = 0.75;
    else if (lastKnown) score = 0.6;
    else if (words.some((w) => FIRST.has(w) && !NOT_NAME.has(w)) && !COMMON.has(words[0]!)) score = 0.6;
    if (cue) score = Math.max(score, 0.9);
  } else {
    const w = words[0]!;
    const initialWord = sentenceInitial(text, t, i);
    // "Will you…", "May I…", "Grant us…": a sentence-initial word followed by a pronoun is a verb
    const verbish = initialWord && /^\s+(?:you|i|we|they|he|she|it|us|me|them|not)\b/i.test(text.slice(t.end[i]!, t.end[i]! + 6));
    if (verbish) score = 0;
    else if (strongFirst(w)) score = initialWord ? 0.6 : 0.7;
    else if (FIRST.has(w) && !NOT_NAME.has(w)) score = 0.4;
    else if (strongLast(w)) score = 0.45;
    if (cue && !verbish && (FIRST.has(w) || LAST.has(w) || !COMMON.has(w))) score = Math.max(score, 0.85);
  }
  if (len > 4) score = Math.min(score, 0.6);
  if ((locationCue || orgCue) && !honorific && !cue && score < 0.9) score = 0; // "lives in Jackson": a place
  if (orgCue && !honorific && !cue && len >= 1 && words.every(surnameToken) && !firstKnown) score = 0;
  if (score >= 0.5) {
    emit(ctx, 'PERSON', i, j, score);
    return;
  }
  // places and organisations by context: "lives in North Jedidiah", "billed by Orthmann-Jansen"
  if (locationCue && len <= 4) emitPlace(ctx, i, j, 0.85);
  else if (orgCue && len <= 5) emit(ctx, 'ORGANIZATION', i, j, 0.75);
  else if (weakLocationCue && len <= 4 && (placeEnd >= i || placeShaped) && !COMMON.has(words[0]!)) emitPlace(ctx, i, j, placeShaped ? 0.7 : 0.6);
}

export const namesDetector: Detector = {
  name: 'names',
  types: ['PERSON', 'LOCATION', 'ORGANIZATION'],
  detect(scan: ScanText, out: Finding[]): void {
    const t = tokenize(scan.text);
    const ctx: Ctx = { scan, t, used: new Uint8Array(t.text.length), out };
    detectAddresses(ctx);
    detectOrganisations(ctx);
    detectRuns(ctx);
  },
};
