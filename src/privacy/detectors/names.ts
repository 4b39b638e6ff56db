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
/**
 * Words kept out of the name lists because they are products, pronouns or calendar words, yet are
 * also given names: a name only with a surname after them or a strong cue before them.
 */
const NAMELIKE_PRODUCTS = new Set(['claude', 'gemini', 'alexa', 'siri', 'ruby', 'julia', 'sage', 'jenkins', 'watson', 'cassandra', 'pascal', 'perl', 'bard', 'ada', 'kai']);
/** Calendar words and pronouns that are also given names ("Jan", "Julio", "Ella", "Una"): any capitalised surname may follow. */
const NAMELIKE_WORDS = new Set(['ella', 'ela', 'elle', 'una', 'grant', 'may', 'june', 'april', 'august', 'jan', 'domingo', 'julio', 'mercedes', 'dolores', 'jesus', 'jesús', 'angel', 'ángel', 'noel', 'dawn', 'summer', 'autumn', 'rose', 'iris', 'lily', 'will']);
/** Direction words kept out of the surname list that are surnames after a given name ("Christine West"). */
const SURNAME_WORDS = new Set(['west', 'north', 'south', 'east', 'new', 'best', 'will', 'may']);
const MONTH_LIKE = new Set(['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);
/** Greetings, sign-offs and self-introductions: the cues that make even a product name a person. */
const ADDRESSING_CUES = new Set(['dear', 'hi', 'hello', 'hey', 'hallo', 'hola', 'bonjour', 'ciao', 'olá', 'thanks', 'regards', 'cheers', 'sincerely', 'my name is', "i'm", 'i am', 'best regards', 'kind regards', 'many thanks', 'thank you', 'liebe', 'lieber', 'querido', 'querida', 'caro', 'cara', 'cher', 'chère', 'saludos', 'grüße', 'groeten', 'pozdrawiam']);
const NAMELIKE = new Set([...NAMELIKE_PRODUCTS, ...NAMELIKE_WORDS]);
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
const DOTTED_LEGAL = /^,?\s(?:S\.\s?L\.(?:\s?U\.)?|S\.\s?A\.(?:\s?S\.)?(?:\s?de\s?C\.\s?V\.)?|S\.\s?p\.\s?A\.?|[Ss]\.\s?r\.\s?l\.?|s\.\s?p\.\s?a\.?|s\.\s?a\.?|V\.\s?O\.\s?F\.?|C\.\s?V\.?|G\.\s?b\.\s?R\.?|P\.\s?C\.?|P\.\s?L\.\s?L\.\s?C\.?|L\.\s?L\.\s?P\.?|K\.\s?K\.?|S\.\s?A\.\s?R\.\s?L\.?|B\.\s?V\.?|N\.\s?V\.?|L\.\s?L\.\s?C\.?|L\.\s?P\.?|(?:Sp\.\s?)?z\s?o\.\s?o\.?|Sp\.\s?[jkp]\.?|e\.\s?V\.?|Ltda\.?|[Ss]\.\s?[Cc]\.?|[Ss]p\.\s?[jkp]\.|SEM|SCOP|SCI|EURL|SNC|S\.\s?E\.?|Inc\.|Ltd\.|Co\.|Corp\.|GmbH|AG|KG|OHG|UG|SE|SA|SAS|SARL|SRL|SpA|BV|NV|LLC|LLP|PLC|plc|Oy|AB|ASA|A\/S|ApS|Kft\.?|s\.r\.o\.|a\.s\.)(?![\p{L}\p{N}])/u;
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
const DOTTED_PREFIX = new Set(['st', 'ste', 'mt', 'ft', 'pt']);
const CITY_HYPHEN = /-(?:on|upon|sur|sous|le|la|les|en|am|an|im|de|del|di|by|in|under)-/i;
const STREET_ENDINGS = [...STREET_COMPOUND_ENDINGS.filter((e) => !e.endsWith('.')), 'pfad', 'stieg', 'graben', 'park', 'hof', 'kamp', 'dreef', 'hoven'];
/** A compound street name: at least three letters, then a street ending ("Kirchstraße", "Kerkstraat"). */
const STREET_ENDINGS_BY_LAST = new Map<number, string[]>();
for (const e of STREET_ENDINGS) {
  const list = STREET_ENDINGS_BY_LAST.get(e.charCodeAt(e.length - 1)) ?? [];
  list.push(e);
  STREET_ENDINGS_BY_LAST.set(e.charCodeAt(e.length - 1), list);
}
const LETTER = /\p{L}/u;
/**
 * Same as /\p{L}{2}-?(?:ending)$/ but without an unanchored regex (which V8 retries at every
 * position of every capitalised word): endings are looked up by the word's last character.
 */
function hasStreetEnding(lower: string): boolean {
  const list = STREET_ENDINGS_BY_LAST.get(lower.charCodeAt(lower.length - 1));
  if (!list) return false;
  for (const e of list) {
    if (!lower.endsWith(e)) continue;
    let k = lower.length - e.length;
    if (lower.charCodeAt(k - 1) === 45) k--;
    if (k >= 2 && LETTER.test(lower[k - 1]!) && LETTER.test(lower[k - 2]!)) return true;
  }
  return false;
}
const STREET_ABBREVIATIONS = new Set(['st', 'dr', 'rd', 'ave', 'av', 'ln', 'ct', 'pl', 'sq', 'blvd', 'bd', 'cir', 'ter', 'hwy', 'pkwy', 'ul', 'al', 'os', 'str', 'way', 'row']);
const ARTICLES = new Set(['der', 'dem', 'den', 'die', 'de', 'la', 'le', 'het']);

const PERSON_PHRASE_SET = new Set([...PERSON_CUE_PHRASES.map((p) => p.toLowerCase()), ...PERSON_CUES_BEFORE]);
const LOCATION_PHRASE_SET = new Set(LOCATION_CUE_PHRASES.map((p) => p.toLowerCase()).filter((p) => !['in', 'to', 'from', 'at', 'near', 'visit', 'aus'].includes(p)));
const ORG_PHRASE_SET = new Set(ORG_CUE_PHRASES.map((p) => p.toLowerCase()));
/** Words right before an address: "Adresse", "address", "Anschrift", "indirizzo", "dirección". */
const ADDRESS_CUES = new Set(['address', 'adresse', 'anschrift', 'indirizzo', 'dirección', 'direccion', 'endereço', 'endereco', 'adres', 'adresu', 'domicile', 'domicilio', 'spedizione', 'envío', 'envio', 'livraison', 'lieferadresse', 'shipping', 'billing', 'delivery']);
const WEAK_LOCATION = new Set(['in', 'to', 'from', 'at', 'near', 'visit', 'visiting', 'aus', 'à', 'a', 'en', 'em', 'w', 'nach', 'naar', 'towards', 'of']);

// ---------------------------------------------------------------- tokens

// C1 controls (U+0080–U+009F) continue a word: they are what UTF-8 read as Latin-1 leaves inside one ("Ã\u0096merweg" for "Ömerweg")
const TOKEN = /[\p{L}\p{N}][\p{L}\p{M}\p{N}'’\u0080-\u009f-]*/gu;
export const TOKEN_PATTERN = TOKEN; // the reference the hand-written tokenizer below must agree with (tests)
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

export function tokenize(scan: ScanText): Tokens {
  const text = scan.text;
  const lowerText = scan.lowerSafe ? scan.lower : null;
  const t: Tokens = { start: [], end: [], text: [], lower: [], cap: [], num: [] };
  const n = text.length;
  let i = 0;
  while (i < n) {
    const w = wordChar(text, i, true);
    if (w === 0) {
      i++;
      continue;
    }
    const index = i;
    i += w;
    for (let c = wordChar(text, i, false); c !== 0 && i < n; c = wordChar(text, i, false)) i += c;
    let end = i;
    const last = text.charCodeAt(end - 1);
    if (last === 45 || last === 39 || last === 0x2019) end--; // trailing - ' ’
    const s = text.slice(index, end);
    t.start.push(index);
    t.end.push(end);
    t.text.push(s);
    t.lower.push(lowerText !== null ? lowerText.slice(index, end) : s.toLowerCase());
    const num = isHouseNumber(s);
    t.num.push(num);
    t.cap.push(!num && isCapitalised(s));
  }
  return t;
}

const START_CHAR = /^[\p{L}\p{N}]$/u;
const INNER_CHAR = /^[\p{L}\p{M}\p{N}]$/u;
/**
 * How many UTF-16 units the word character at `i` takes (0: none) — TOKEN's character classes by
 * character code, ASCII without any regex: the tokenizer runs over every character of the text.
 */
function wordChar(text: string, i: number, first: boolean): number {
  const c = text.charCodeAt(i);
  if (c < 128) {
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return 1;
    return !first && (c === 45 || c === 39) ? 1 : 0;
  }
  if (!first && (c === 0x2019 || c <= 0x9f)) return 1;
  if (c >= 0xd800 && c <= 0xdbff) {
    const cp = text.codePointAt(i)!;
    if (cp <= 0xffff) return 0;
    return (first ? START_CHAR : INNER_CHAR).test(String.fromCodePoint(cp)) ? 2 : 0;
  }
  return (first ? START_CHAR : INNER_CHAR).test(text[i]!) ? 1 : 0;
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
  // ("D'angelo", "O'neil" with a capital first letter are capitalised names themselves)
  if ((s[1] === "'" || s[1] === '’') && 'dl'.includes(s[0]!)) return UPPER_FIRST.test(s.slice(2));
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

/** "The account holder is …", "the patient was …": a role phrase and a copula before the name. */
function copulaCue(before: readonly string[]): boolean {
  if (before.length < 2 || !COPULAS.has(before[0]!)) return false;
  for (let k = 1; k < before.length; k++) if (PERSON_PHRASE_SET.has(before[k]!.slice(0, before[k]!.lastIndexOf(' ')))) return true;
  return false;
}
const COPULAS = new Set(['is', 'was', 'are', 'ist', 'war', 'est', 'es', 'era', 'è', 'é', 'jest', 'som', 'er']);

/** "Attendees: Ann Lee, Bo Mraz, Kel Tor": the next item of a comma list whose previous item is a person. */
function listOfPeople(ctx: Ctx, i: number): boolean {
  const { t, out, scan } = ctx;
  if (i === 0 || out.length === 0) return false;
  const g = gap(scan.text, t, i - 1);
  if (g !== ', ' && g !== ',') return false;
  const last = out[out.length - 1]!;
  return last.type === 'PERSON' && last.end === t.end[i - 1];
}

/** "— Jan Nieklauson", "-- Ann Lee" at the end of a line: a signature after a dash. */
function signatureDash(text: string, t: Tokens, i: number, j: number): boolean {
  const s = t.start[i]!;
  const lineEnd = t.end[j]!;
  if (!(lineEnd === text.length || text[lineEnd] === '\n' || (text[lineEnd] === '.' && (lineEnd + 1 === text.length || text[lineEnd + 1] === '\n')))) return false;
  return /(?:^|\s)(?:—|–|--)\s?$/.test(text.slice(Math.max(0, s - 4), s));
}

/** A title itself followed by a name ("Frau Dr. Weber": "Dr" is no name). */
function titleAhead(text: string, t: Tokens, i: number): boolean {
  if (i + 1 >= t.text.length || !t.cap[i + 1]) return false;
  const g = text.slice(t.end[i]!, t.start[i + 1]!);
  return g === ' ' || g === '. ' || g === '.\u00a0' || g === '\u00a0';
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
  const n = t.text.length;
  // every street shape needs a capitalised word here or right after: most tokens stop at this test
  if (!t.cap[i] && !(i + 1 < n && t.cap[i + 1])) return false;
  const lower = t.lower[i]!;
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
  if (hasStreetEnding(lower)) return true;
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
    while (l > 0 && k - l < 4 && t.cap[l - 1] && spaceGap(text, t, l - 1) && !used[l - 1] && !NOT_NAME.has(t.lower[l - 1]!) && !ADDRESS_CUES.has(t.lower[l - 1]!)) l--;
    // with a house number in front, any capitalised words and ordinals count: "7825 South Avenue", "8 The Mount", "2393 E 14th Street"
    let ln = k;
    while (ln > 0 && k - ln < 4 && (t.cap[ln - 1] || ORDINAL.test(t.text[ln - 1]!)) && spaceGap(text, t, ln - 1) && !used[ln - 1]) ln--;
    if (l > 0 && t.num[l - 1] && spaceGap(text, t, l - 1) && !used[l - 1]) {
      start = l - 1;
      hasNumber = true;
    } else if (ln > 0 && t.num[ln - 1] && spaceGap(text, t, ln - 1) && !used[ln - 1]) {
      start = ln - 1;
      hasNumber = true;
    } else if (STREET_PREPOSITIONS.has(t.lower[k]!)) start = k; // "Adresse Auf dem Lehn 11": the street starts at its preposition
    else start = l;
    // right: name words after a prefix-type street word ("Rue de la Paix", "Via Roma", "Am Vogelkreuz")
    let end = k;
    if (start === k || hasNumber) {
      let r = k;
      while (r + 1 < n && r - k < 6) {
        const g = gap(text, t, r);
        if (!(SPACE.test(g) || (r === k && g === '. '))) break;
        if (t.cap[r + 1] && !UNIT.has(t.lower[r + 1]!) && (!NOT_NAME.has(t.lower[r + 1]!) || STREET.has(t.lower[r + 1]!) || (r + 2 < n && t.num[r + 2]))) r++; // "Strada Ella 436", "Grove Street"
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
    } else if (!hasNumber && end + 2 < n && /^,? s\/n(?![\p{L}\p{N}])/iu.test(text.slice(t.end[end]!, t.end[end]! + 6))) {
      end += 2; // "sin número": "Calle Mayor s/n"
      hasNumber = true;
      if (text[t.end[end]!] === '.') ctx.used[end] = ctx.used[end]!; // the period is kept by the town step
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
      else if (((t.num[next] && t.text[next]!.length <= 4) || /^\d{1,2}[ºª°]$/.test(t.text[next]!)) && g === ' ') end = next; // "5 OG", "2º Izda."
      else if (/^(?:[IVX]+|[A-D])$/.test(t.text[next]!) && /^º?\s$/.test(g)) end = next;
      else break;
    }
    let endChar = t.end[end]!;
    if (text[endChar] === '.' && UNIT.has(`${t.lower[end]}.`)) endChar++;
    endChar = extendWithTown(scan, endChar);
    // " in Leem" right after an address names its town
    endChar = extendWithInTown(text, endChar);
    let last = end;
    while (last + 1 < n && t.start[last + 1]! < endChar) last++;
    emit(ctx, 'LOCATION', start, last, 0.9, endChar);
  }
}

const ORDINAL = /^\d{1,4}(?:st|nd|rd|th|e|er|re|º|ª|\.)$/i;
/** After a house number, " in <Capitalised>" is the town ("in Mars", "in Hoog") unless a function word. */
const NOT_TOWN = new Set(['the', 'a', 'an', 'this', 'that', 'these', 'those', 'my', 'our', 'your', 'his', 'her', 'their', 'its', 'it', 'addition', 'total', 'case', 'order', 'general', 'particular', 'short', 'fact', 'person', 'advance', 'cash', 'full', 'stock', 'time', 'progress', 'which', 'der', 'die', 'das', 'het', 'de', 'le', 'la', 'el']);
const IN_TOWN = /^\.?\s(?:in|à|en|em|w|a)\s(?=\p{Lu})/u;

/** " in Leem", " in Nogueira do Descoberto" right after an address names its town. */
function extendWithInTown(text: string, endChar: number): number {
  const lead = IN_TOWN.exec(text.slice(endChar, endChar + 8));
  if (!lead) return endChar;
  const town = TOWN.exec(text.slice(endChar + lead[0].length, endChar + lead[0].length + 80));
  if (!town || (!town[0].includes(' ') && NOT_TOWN.has(town[0].toLowerCase()))) return endChar;
  return trimDot(text, endChar, endChar + lead[0].length + town[0].length);
}

const POSTAL_AFTER = /^\.?,\s?(?:\d{5}(?:-\d{4})?|\d{4}(?:\s?[A-Z]{2})?|\d{2}-\d{3}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z\d]{2}|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\s+\p{Lu}/u;

/**
 * Addresses without a street word, known by their shape: capitalised words and a house number
 * followed by a postcode and a town ("Pützdelle 17b, 49935 West Kimidorf") or, after "at"/an address
 * cue, by " in <Town>" ("at Winterberg 3 in Mockenhauptscheid"); the house number may lead
 * ("8 The Mount in Kihnwick"). Then a town after a postcode on its own (", 42189 Roquetas de Mar").
 */
function detectShapedAddresses(ctx: Ctx): void {
  const { scan, t, used } = ctx;
  const text = scan.text;
  const n = t.text.length;
  for (let k = 1; k < n; k++) {
    // "s/n" (sin número) stands for the house number: "Arroyo Julio César Sevilla Camacho s/n., 00340 ..."
    const sinNumero = !t.num[k] && t.lower[k] === 's' && k + 1 < n && text.startsWith('/n', t.end[k]!) && t.cap[k - 1] === true;
    if (used[k] || !(t.num[k] || sinNumero)) continue;
    const numStart = k;
    if (sinNumero) k++;
    // units between the house number and the town: "Voigtslach 10c Zimmer 977 in Castrop-Rauxel"
    let u = k;
    while (u + 2 < n && u - k < 4 && UNIT.has(t.lower[u + 1]!) && /^[.,]?\s$/.test(gap(text, t, u)) && (t.num[u + 2] || t.text[u + 2]!.length === 1) && /^[.\s#º°]{1,3}$/.test(gap(text, t, u + 1))) u += 2;
    const after = text.slice(t.end[u]!, t.end[u]! + 24);
    let postal = POSTAL_AFTER.test(after);
    const inTown = !postal && IN_TOWN.test(after);
    const numberFirst = !postal && !inTown && k + 1 < n && t.cap[k + 1] === true && spaceGap(text, t, k);
    if (!postal && !inTown && !numberFirst) continue;
    // words before the number: "Auf dem Lehn 11", "Heinrich-Lützenkirchen-Weg 93b"
    let l = numStart;
    while (l > 0 && numStart - l < 5 && !used[l - 1] && (spaceGap(text, t, l - 1) || (l === numStart && gap(text, t, l - 1) === ', ')) && (t.cap[l - 1] || (l - 2 >= 0 && t.cap[l - 2] && (ARTICLES.has(t.lower[l - 1]!) || PARTICLES.has(t.lower[l - 1]!))))) l--;
    while (l < numStart && (!t.cap[l] || ADDRESS_CUES.has(t.lower[l]!) || NOT_NAME.has(t.lower[l]!))) l++;
    let start = l;
    let end = u;
    if (l === numStart || numberFirst) {
      // number first: "8 The Mount"
      let r = k;
      while (r + 1 < n && r - k < 4 && !used[r + 1] && t.cap[r + 1] && spaceGap(text, t, r)) r++;
      if (r === k) continue;
      // "628 Main Suite 618 in Port Alizaworth"
      if (UNIT.has(t.lower[r]!) && r + 1 < n && t.num[r + 1] && spaceGap(text, t, r)) r++;
      const tail = text.slice(t.end[r]!, t.end[r]! + 24);
      const tailPostal = POSTAL_AFTER.test(tail);
      if (!(tailPostal || IN_TOWN.test(tail))) continue;
      postal = tailPostal;
      start = k;
      end = r;
    }
    const words = t.lower.slice(start, end + 1).filter((w, q) => t.cap[start + q]);
    // "Version 3, 12345 ...", "Room 5 in London": the words must not be only common or unit words
    if (words.every((w) => NOT_NAME.has(w) || UNIT.has(w) || COMMON.has(w)) && !words.some((w) => STREET.has(w))) continue;
    if (!postal) {
      const before = phrasesBefore(text, t, start);
      const cue = before.length > 0 && (WEAK_LOCATION.has(before[0]!) || anyIn(before, LOCATION_PHRASE_SET) || ADDRESS_CUES.has(before[0]!));
      if (!cue && !/[:]\s*$/.test(text.slice(Math.max(0, t.start[start]! - 3), t.start[start]!))) continue;
    }
    let endChar = extendWithTown(scan, t.end[end]!);
    endChar = extendWithInTown(text, endChar);
    let last = end;
    while (last + 1 < n && t.start[last + 1]! < endChar) last++;
    emit(ctx, 'LOCATION', start, last, 0.85, endChar);
    k = last;
  }
  // ", 42189 Roquetas de Mar", "\n10115 Berlin": a town right after a postcode
  for (let k = 0; k + 1 < n; k++) {
    if (used[k] || !t.num[k] || t.text[k]!.length < 4 || used[k + 1] || !t.cap[k + 1]) continue;
    const s0 = t.start[k]!;
    const prev = text.slice(Math.max(0, s0 - 2), s0);
    if (!(s0 === 0 || /(?:, ?|\n)$/.test(prev))) continue;
    const pc = POSTCODE.exec(text.slice(s0, s0 + 12));
    if (!pc || text[s0 + pc[0].length] !== ' ') continue;
    const town = TOWN.exec(text.slice(s0 + pc[0].length + 1, s0 + pc[0].length + 81));
    if (!town) continue;
    const head = town[0].toLowerCase();
    if (!town[0].includes(' ') && (NOT_NAME.has(head) || COMMON.has(head) || UNIT.has(head))) continue;
    const townStart = s0 + pc[0].length + 1;
    const endChar = trimDot(text, townStart, townStart + town[0].length);
    let first = k + 1;
    while (first < n && t.start[first]! < townStart) first++;
    let last = first;
    while (last + 1 < n && t.start[last + 1]! < endChar) last++;
    if (used.subarray(first, last + 1).some((u) => u === 1)) continue;
    emit(ctx, 'LOCATION', first, last, 0.8, endChar);
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

/** A given name or surname, whatever else the word is (street word, common word). */
const isNameWord = (w: string) => FIRST.has(w) || LAST.has(w) || NAMELIKE.has(w);
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
    // legal forms and organisation words are capitalised ("GmbH", "Inc", "AG"): test that before the sets
    const c0 = t.text[i]!.charCodeAt(0);
    if (!t.cap[i] && !(c0 >= 65 && c0 <= 90)) continue;
    const lower = t.lower[i]!;
    const legal = LEGAL.has(lower);
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
      // "Le gall SASU", "De la rosa S.A.": a capitalised particle leading a lower-case surname
      else if (!t.cap[prev] && prev > 0 && SPACE.test(g) && t.cap[prev - 1] && PARTICLES.has(t.lower[prev - 1]!) && !COMMON.has(t.lower[prev]!) && !NOT_NAME.has(t.lower[prev]!) && spaceGap(text, t, prev - 1)) s = prev - 1;
      else if ((CONNECTORS.has(t.lower[prev]!) || PARTICLES.has(t.lower[prev]!)) && prev > 0 && (t.cap[prev - 1] || PARTICLES.has(t.lower[prev - 1]!)) && SPACE.test(g)) s = prev;
      else break;
    }
    const strictLegal = legal && /^[A-Z]/.test(t.text[i]!) && t.text[i] !== 'Group';
    while (s < i && (CONNECTORS.has(t.lower[s]!) || (ARTICLES.has(t.lower[s]!) && t.cap[s + 1] === true) || ['the', 'a', 'an', 'our', 'your', 'their'].includes(t.lower[s]!) || (!strictLegal && (NOT_NAME.has(t.lower[s]!) || (sentenceInitial(text, t, s) && COMMON.has(t.lower[s]!)))))) s++;
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
  // "Da silva et Renault", "Le roux et Dupont": a capitalised particle may lead a lower-case surname
  const particleLed = (q: number) => !t.cap[q] && q > 0 && t.cap[q - 1] === true && PARTICLES.has(t.lower[q - 1]!) && !COMMON.has(t.lower[q]!) && !NOT_NAME.has(t.lower[q]!) && spaceGap(text, t, q - 1);
  // 2. surname lists: "Conn and Sons", "Smith, Jones and Brown", "Valverde Carmona y Altamirano Covarrubias"
  for (let c = 1; c + 1 < n; c++) {
    const conn = t.lower[c]!;
    if (conn.length > 3 || used[c] || !CONNECTORS.has(conn)) continue;
    if (!spaceGap(text, t, c - 1) || !spaceGap(text, t, c)) continue;
    const lowerSons = SONS.has(t.lower[c + 1]!) && !t.cap[c + 1];
    if (!((t.cap[c - 1] || particleLed(c - 1)) && (t.cap[c + 1] || PARTICLES.has(t.lower[c + 1]!) || lowerSons))) continue;
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
      while (l >= 0 && g.length < 4 && (t.cap[l] || PARTICLES.has(t.lower[l]!) || particleLed(l)) && !used[l]) {
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
    const startsWithGiven = groups.some((g) => g.length >= 2 && strongFirst(firstOf(g)) && !LAST.has(firstOf(g)) && !PARTICLES.has(firstOf(g)));
    const orgCue = hasOrgCue(ctx, groups[0]![0]!);
    // three or more groups ("Vos, de Boer and van der Ven") may hold one surname no list knows
    const commonOnly = groups.some((g) => g.every((k) => COMMON.has(t.lower[k]!) && !LAST.has(t.lower[k]!)));
    const enoughSurnames = surnames === groups.length || (groups.length >= 3 && surnames >= groups.length - 1 && !commonOnly);
    const ok = sons || (enoughSurnames && givenOnly === 0 && !startsWithGiven && (groups.length >= 3 || orgCue || groups.every((g) => g.length >= 2) || surnames >= 2));
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
    if (!t.cap[i] || !(t.cap[i + 1] || PARTICLES.has(t.lower[i + 1]!))) continue;
    let s = i;
    while (s > 0 && PARTICLES.has(t.lower[s - 1]!) && spaceGap(text, t, s - 1)) s--;
    let e = i + 1;
    while (e + 1 < n && PARTICLES.has(t.lower[e]!) && spaceGap(text, t, e)) e++;
    if (!t.cap[e]) continue;
    // both sides surnames, or one a surname and the other an unknown capitalised word ("Zijlstra - Vos"), no places
    const a = t.lower[i]!;
    const b = t.lower[e]!;
    const surnameLike = (w: string) => surnameToken(w) || SURNAME_WORDS.has(w);
    const known = (surnameLike(a) ? 1 : 0) + (surnameLike(b) ? 1 : 0);
    if (known === 0 || (known === 1 && (COMMON.has(surnameToken(a) ? b : a) || PERSON_CUE.has(surnameToken(a) ? b : a) || PLACE_SEQ.has(a) || PLACE_SEQ.has(b)))) continue;
    if (s === i && i > 0 && t.cap[i - 1] && spaceGap(text, t, i - 1)) continue; // "Heidi Smith - thanks"
    emit(ctx, 'ORGANIZATION', s, e, 0.75);
  }
}

function hasOrgCue(ctx: Ctx, i: number): boolean {
  return anyIn(phrasesBefore(ctx.scan.text, ctx.t, i), ORG_PHRASE_SET);
}

function nameCompound(word: string, lower: string): boolean {
  if (!lower.includes('-')) return false;
  const parts = word.split('-');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length < 2 || !UPPER_FIRST.test(p) || !HAS_LOWER.test(p))) return false;
  return lower.split('-').every((p) => isName(p));
}

/** "Jan Nieklauson", "Julio Arenas": a calendar word or pronoun that is a given name, then an unknown capitalised word. */
function namelikeSurname(t: Tokens, i: number): boolean {
  const next = t.lower[i + 1]!;
  return NAMELIKE_WORDS.has(t.lower[i]!) && t.cap[i + 1] === true && !COMMON.has(next) && (!NOT_NAME.has(next) || LAST.has(next) || next.length > 2) && !STREET.has(next) && !MONTH_LIKE.has(next);
}

/** " will follow up", " said", " confirmed": what a person does right after their name. */
const PERSON_VERB = /^ (?:will (?!be\b|not\b|have\b|need\b|take\b|require\b)\p{Ll}|would like\b|said\b|says\b|asked\b|wrote\b|replied\b|called\b|emailed\b|mentioned\b|confirmed\b|agreed\b|promised\b|thinks\b|wants\b|wanted\b|joined\b|sagte\b|schrieb\b|wird\b|a dit\b|a écrit\b|dijo\b|escribió\b|ha detto\b|zei\b|disse\b|powiedział)/u;
const PERSON_ONLY_VERB = /^ (?:will follow up|said\b|says\b|asked\b|wrote\b|replied\b|confirmed\b|agreed\b|promised\b|mentioned\b|thinks\b|sagte\b|schrieb\b|a dit\b|dijo\b|zei\b|disse\b)/;
function personVerbAfter(text: string, end: number): boolean {
  return text.charCodeAt(end) === 32 && PERSON_VERB.test(text.slice(end, end + 16));
}

/** "Moraes-Franco", "Goldkühle-Lesch": capitalised parts, at least one a surname, not all given names ("Jean-Pierre"). */
function firmCompound(word: string, lower: string): boolean {
  if (!lower.includes('-')) return false;
  const parts = word.split('-');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length < 2 || !UPPER_FIRST.test(p) || !HAS_LOWER.test(p))) return false;
  const low = lower.split('-');
  if (low.every((p) => FIRST.has(p))) return false;
  if (low.some((p) => NOT_NAME.has(p) || PLACE_SEQ.has(p) && !LAST.has(p))) return false;
  return low.some((p) => LAST.has(p));
}

/** "van de Berg", "de la Cruz": particles from token i on, then a capitalised word. */
function capAfterParticles(text: string, t: Tokens, i: number): boolean {
  let q = i;
  while (q < t.text.length && PARTICLES.has(t.lower[q]!) && q - i < 3 && spaceGap(text, t, q)) q++;
  return q > i && q < t.text.length && t.cap[q] === true;
}

/** People and places from capitalised runs. */
function detectRuns(ctx: Ctx): void {
  const { scan, t, used } = ctx;
  const text = scan.text;
  const n = t.text.length;
  let i = 0;
  while (i < n) {
    const startsRun = t.cap[i] || (PARTICLES.has(t.lower[i]!) && titleBefore(text, t, i) && capAfterParticles(text, t, i));
    if (used[i] || !startsRun) {
      i++;
      continue;
    }
    // grow the run: single spaces, particles between capitalised words, initials with a period
    let j = i;
    while (j + 1 < n && !used[j + 1] && j - i < 6) {
      const g = gap(text, t, j);
      // initials ("J. Smith") and abbreviated place prefixes ("St. Kreigerley", "Mt. Pleasant") keep their period
      const initial = (t.text[j]!.length === 1 || DOTTED_PREFIX.has(t.lower[j]!)) && g === '. ';
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
  let honorific = titleBefore(text, t, i0);
  const before = phrasesBefore(text, t, i0);
  let cue = anyIn(before, PERSON_PHRASE_SET) || copulaCue(before) || listOfPeople(ctx, i0) || signatureDash(text, t, i0, j);
  // an organisation with a dotted legal form after it: "Rentería Tórrez S.L.", "Barrientos Muñoz S.A.",
  // "Boschi s.r.l.", "de Vries V.O.F." — checked on the whole run, before sentence starters are shed
  if (!honorific) {
    let ls = i0;
    while (ls < j && (PERSON_CUE.has(t.lower[ls]!) || HONORIFIC.has(t.lower[ls]!) || NOT_NAME.has(t.lower[ls]!))) ls++;
    for (let k = ls; k <= j; k++) {
      const after = text.charCodeAt(t.end[k]!);
      const next = text.charCodeAt(t.end[k]! + 1);
      // cheap gate: a legal form starts with ", " or " " and a capital (or "z o.o.", "s.r.l.")
      if (!((after === 32 || after === 44) && ((next >= 65 && next <= 90) || next === 122 || next === 115 || next === 32))) continue;
      const legal = DOTTED_LEGAL.exec(text.slice(t.end[k]!, t.end[k]! + 24));
      if (legal && !NOT_NAME.has(t.lower[ls]!)) {
        const endChar = t.end[k]! + legal[0].length;
        let s0 = ls;
        while (s0 > 0 && PARTICLES.has(t.lower[s0 - 1]!) && !ctx.used[s0 - 1] && spaceGap(text, t, s0 - 1)) s0--;
        emit(ctx, 'ORGANIZATION', s0, k, 0.85, endChar);
        for (let q = k + 1; q < t.text.length && t.start[q]! < endChar; q++) ctx.used[q] = 1;
        return;
      }
    }
    // a line of its own right under a signature's name: the organisation ("Jessy Pacocha\nWhite Group")
    if (!(j > ls && strongFirst(t.lower[ls]!)) && signatureOrg(ctx, i0, j)) {
      const runWords = t.lower.slice(ls, j + 1);
      if (!runWords.every((w) => COMMON.has(w) || NOT_NAME.has(w)) || ORG_TAIL.has(runWords[runWords.length - 1]!) || LEGAL.has(runWords[runWords.length - 1]!)) {
        emit(ctx, 'ORGANIZATION', ls, j, 0.7);
        return;
      }
    }
  }
  // honorifics and greeting words at the head of the run are context, not name
  while (i <= j) {
    const w = t.lower[i]!;
    // the word right after a title is the name, whatever else it could be ("Sig. Pani", "Sig.ra Siri", "Mme Blanc")
    if ((i > i0 ? titleBefore(text, t, i) : honorific) && !HONORIFIC.has(w)) break;
    if (HONORIFIC.has(w) && i < j) honorific = true;
    else if (PERSON_CUE.has(w) && i < j) cue = true;
    else if (CITY_PREFIX.has(w) && i < j) break; // "North Jedidiah", "Süd Zoeydorf": part of a place
    // "August Fisher", "Best regards, Julio": a given name that is also a month or a common word
    else if (FIRST.has(w) && !HONORIFIC.has(w) && ((i < j && surnameToken(t.lower[i + 1]!)) || (cue && i === j))) break;
    else if (NOT_NAME.has(w)) {
      // sentence starters, weekdays, product names — unless the word is also a given name and a surname
      // follows ("Claude Boyer", "Ella van Dam") or a strong cue precedes it alone ("thanks, Domingo")
      const surnameNext = i < j && (strongLast(t.lower[i + 1]!) || PARTICLES.has(t.lower[i + 1]!) || namelikeSurname(t, i));
      // a product name alone ("Ask Claude") is a person only when greeted or signing ("thanks, Claude", "Dear Siri")
      const aloneWithCue = i === j && (NAMELIKE_WORDS.has(w) ? cue || personVerbAfter(text, t.end[i]!) : anyIn(before, ADDRESSING_CUES));
      if (NAMELIKE.has(w) && (anyIn(before, LOCATION_PHRASE_SET) || surnameNext || aloneWithCue)) break;
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
  // ...but a capitalised particle that is also a given name leads its surname mid-sentence ("Al Fritsch", "Van Morrison")
  if (!(honorific && i === i0)) while (i < j && PARTICLES.has(t.lower[i]!) && !(t.cap[i] && FIRST.has(t.lower[i]!) && strongLast(t.lower[i + 1]!) && !sentenceInitial(text, t, i))) i++;
  // a title alone ("Sr." before a name the period split off) is no name
  if (i === j && (HONORIFIC.has(t.lower[i]!) || PERSON_CUE.has(t.lower[i]!)) && (!titleBefore(text, t, i) || titleAhead(text, t, i)) && !personVerbAfter(text, t.end[i]!)) return;
  // trailing non-names ("Heidi Johnston Support"); a street word that is also a surname ("Moen",
  // "Blanc", "Hill") stays when it follows a name or a title: addresses with numbers were taken before
  while (j >= i && !(j === i && (honorific || NAMELIKE.has(t.lower[j]!) || personVerbAfter(text, t.end[j]!))) && !(j > i && (LAST.has(t.lower[j]!) || SURNAME_WORDS.has(t.lower[j]!)) && strongFirst(t.lower[j - 1]!)) && (NOT_NAME.has(t.lower[j]!) || PARTICLES.has(t.lower[j]!) || (STREET.has(t.lower[j]!) && !(isNameWord(t.lower[j]!) && ((j > i && (strongFirst(t.lower[j - 1]!) || NAMELIKE.has(t.lower[j - 1]!))) || honorific || cue || strongFirst(t.lower[j]!) || personVerbAfter(text, t.end[j]!)))))) j--;
  if (i > j) return;
  const lastWord = before[0] ?? '';
  const locationCue = anyIn(before, LOCATION_PHRASE_SET);
  const weakLocationCue = WEAK_LOCATION.has(lastWord);
  const orgCue = anyIn(before, ORG_PHRASE_SET);
  const len = j - i + 1;
  const words = t.lower.slice(i, j + 1);

  const placeEnd = placeMatch(t, i, j);
  const firstKnown = strongFirst(words[0]!) || (len >= 2 && (NAMELIKE_WORDS.has(words[0]!) || (NAMELIKE_PRODUCTS.has(words[0]!) && strongLast(words[1]!))));
  const lastKnown = len > 1 && surnameToken(words[len - 1]!);
  const anyName = words.some(isName);
  // place-shaped words ("North …", "… am Main", "Stratford-upon-Avon"); the regexes only when a word has a hyphen
  const hyphenPlace = words.some((w) => w.includes('-')) && CITY_HYPHEN.test(words.join(' '));
  const prefixOrParticle = (len >= 2 && CITY_PREFIX.has(words[0]!)) || words.some((w) => PLACE_PARTICLES.has(w)) || hyphenPlace;
  // places from the gazetteer (longest match from the run start)
  if (placeEnd === j && !honorific && !(cue && anyName)) {
    const personish = len >= 2 && firstKnown && lastKnown;
    if (!personish) {
      const alsoName = words.some((w) => FIRST.has(w) || LAST.has(w));
      emitPlace(ctx, i, j, locationCue || weakLocationCue ? 0.9 : alsoName ? 0.55 : 0.8);
      return;
    }
  }
  if (!honorific && !cue && prefixOrParticle) {
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
    // "- Lane will follow up", "Julio said": a given name as the subject of a person's verb
    else if (!verbish && (FIRST.has(w) || NAMELIKE_WORDS.has(w)) && !NAMELIKE_PRODUCTS.has(w) && personVerbAfter(text, t.end[i]!)) score = Math.max(score, 0.7);
    // "- Brouvia will follow up": a word in no list, as the subject of what only people do
    else if (!verbish && !COMMON.has(w) && !NOT_NAME.has(w) && !STREET.has(w) && PERSON_ONLY_VERB.test(text.slice(t.end[i]!, t.end[i]! + 20))) score = Math.max(score, 0.6);
  }
  if (len > 4) score = Math.min(score, 0.6);
  if ((locationCue || orgCue) && !honorific && !cue && score < 0.9) score = 0; // "lives in Jackson": a place
  if (orgCue && !honorific && !cue && len >= 1 && words.every(surnameToken) && !firstKnown) score = 0;
  if (score >= 0.5) {
    emit(ctx, 'PERSON', i, j, score);
    return;
  }
  // "at Moraes-Franco", "billed by Goldkühle-Lesch": a hyphenated pair of capitalised surnames with no
  // given name before it names a firm (a person's double-barrelled surname comes with a given name or a title)
  if (len === 1 && !honorific && !cue && !locationCue && placeEnd !== j && firmCompound(t.text[i]!, words[0]!)) {
    emit(ctx, 'ORGANIZATION', i, j, 0.7);
    return;
  }
  // "Xavier-Xavier", "Jean-Pierre": every part a name — a firm after "at"/"for", a person otherwise
  if (len === 1 && !locationCue && placeEnd !== j && nameCompound(t.text[i]!, words[0]!)) {
    emit(ctx, orgCue || (!honorific && !cue && (lastWord === 'at' || lastWord === 'for' || lastWord === 'from')) ? 'ORGANIZATION' : 'PERSON', i, j, 0.65);
    return;
  }
  // places and organisations by context: "lives in North Jedidiah", "billed by Orthmann-Jansen"
  if (locationCue && len <= 6) emitPlace(ctx, i, j, 0.85);
  else if (orgCue && len <= 5) emit(ctx, 'ORGANIZATION', i, j, 0.75);
  else if (weakLocationCue && len <= 4 && !COMMON.has(words[0]!)) {
    const placeShaped = prefixOrParticle || CITY_SHAPE.test(words[len - 1]!);
    if (placeEnd >= i || placeShaped) emitPlace(ctx, i, j, placeShaped ? 0.7 : 0.6);
  }
}

export const namesDetector: Detector = {
  name: 'names',
  types: ['PERSON', 'LOCATION', 'ORGANIZATION'],
  detect(scan: ScanText, out: Finding[]): void {
    const t = tokenize(scan);
    const ctx: Ctx = { scan, t, used: new Uint8Array(t.text.length), out };
    detectAddresses(ctx);
    detectShapedAddresses(ctx);
    detectOrganisations(ctx);
    detectRuns(ctx);
  },
};
