/**
 * SECRET: credentials that must never reach a third party. Three layers, most specific first:
 * 1. provider token formats (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Google, …),
 *    JSON Web Tokens and PEM private keys — reported wherever they appear, code included;
 * 2. values assigned to a credential-named key (`password = "…"`, `api_key: …`, `DB_PASS=…`) and
 *    the password in a connection string (`postgres://user:pw@host`);
 * 3. high-entropy strings (mixed letters and digits, ≥ 24 chars). Hex digests and UUIDs are not
 *    secrets, and a high-entropy string inside a code block needs a credential word nearby, so
 *    hashes in logs and code do not raise false alarms.
 */
import { cueSet, entropy, hasCueBefore, inCode, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

/**
 * Each provider pattern with the literals one of which its match must contain: a text without any
 * of them skips the pattern (most texts contain none, and 19 scans of every text add up).
 */
const PROVIDERS: ReadonlyArray<readonly [readonly string[], RegExp]> = [
  [['AKIA', 'ASIA', 'AGPA', 'AIDA', 'AROA', 'ANPA', 'ANVA', 'AIPA'], /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])/g],
  [['gh'], /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}/g],
  [['github_pat_'], /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}/g],
  [['glpat-'], /(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}/g],
  [['xox'], /(?<![A-Za-z0-9_])xox[abposr]-[A-Za-z0-9-]{10,}/g],
  [['hooks.slack.com'], /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9\/]+/g],
  [['_live_', '_test_'], /(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}/g],
  [['sk-'], /(?<![A-Za-z0-9_-])sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g],
  [['AIza'], /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/g],
  [['ya29.'], /(?<![A-Za-z0-9_-])ya29\.[0-9A-Za-z_-]{20,}/g],
  [['SG.'], /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/g],
  [['npm_'], /(?<![A-Za-z0-9_-])npm_[A-Za-z0-9]{36}/g],
  [['hf_'], /(?<![A-Za-z0-9_-])hf_[A-Za-z0-9]{30,}/g],
  [['dop_v1_'], /(?<![A-Za-z0-9_-])dop_v1_[a-f0-9]{64}/g],
  [['shp'], /(?<![A-Za-z0-9_-])shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}/g],
  [['key-'], /(?<![A-Za-z0-9_-])key-[0-9a-f]{32}(?![0-9a-f])/g],
  [['SK'], /(?<![A-Za-z0-9_-])SK[0-9a-f]{32}(?![0-9a-f])/g],
  [[':AA'], /(?<![\d])\d{8,10}:AA[A-Za-z0-9_-]{33}/g],
  [['eyJ'], /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g],
];
const PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\n\s*\n|$)/g;
/** Credential-named key, an assignment operator, then the value (quoted or bare). */
const ASSIGNMENT =
  /(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_.-])*(?:password|passwd|passphrase|pwd|pass|secret|secret[_-]?key|api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer|token|client[_-]?secret|private[_-]?key|credentials?|passwort|kennwort|mot de passe|contraseña|senha|hasło|wachtwoord))(?:["'])?\s*(?:[:=]|:=|=>|\bis\b|\bwas\b)\s*(?:["'`]([^"'`\n]{3,200})["'`]|([^\s"'`,;)}\]]{3,200}))/giu;
const CONN = /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:\/@]{1,64}:([^\s@\/]{1,128})@/gi;
const TOKENISH = /(?<![A-Za-z0-9+\/=_.-])[A-Za-z0-9+\/_=-]{24,512}(?![A-Za-z0-9+\/=_-])/g;
const PLACEHOLDER = /^(?:null|none|nil|true|false|undefined|empty|required|optional|string|number|secret|password|token|redacted|hidden|x+|\*+|\.+|<[^>]*>|\{\{.*|\$\{.*|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Z_]+%|process\.env.*|os\.environ.*|env\(.*|getenv.*)$/i;
const SECRET_CUES = cueSet('key keys token tokens secret secrets password passwd pwd credential credentials bearer authorization auth apikey api_key access_key private signature sig');

/** The keywords ASSIGNMENT is built on, to find where it can match without running it over the whole text. */
const KEYWORD = /mot de passe|pass|pwd|secret|key|token|bearer|credential|kennwort|contrase|senha|hasło|wachtwoord/g;
const ASSIGNMENT_AT = new RegExp(ASSIGNMENT.source, 'iuy');
const IDENT = /[A-Za-z0-9_.-]/;

/**
 * The matches of ASSIGNMENT, found from its keywords: for each keyword in the lower-case text, the
 * sticky pattern is tried at the start of the identifier holding it ("db.password") and after each
 * `_ . -` inside it — the same starts the global pattern would accept, without trying every position.
 */
function* assignments(scan: ScanText): Generator<RegExpExecArray> {
  const { text } = scan;
  if (!scan.lowerSafe) {
    yield* matches(ASSIGNMENT, text);
    return;
  }
  let after = 0;
  KEYWORD.lastIndex = 0;
  let k: RegExpExecArray | null;
  while ((k = KEYWORD.exec(scan.lower)) !== null) {
    let start = k.index;
    while (start > 0 && IDENT.test(text[start - 1]!)) start--;
    if (start < after) continue;
    for (let p = start; p <= k.index; p++) {
      if (p > start && !'_.-'.includes(text[p - 1]!)) continue;
      ASSIGNMENT_AT.lastIndex = p;
      const m = ASSIGNMENT_AT.exec(text);
      if (m) {
        after = p + m[0].length;
        KEYWORD.lastIndex = Math.max(KEYWORD.lastIndex, after);
        yield m;
        break;
      }
    }
  }
}

export const secretDetector: Detector = {
  name: 'secret',
  types: ['SECRET'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    for (const [hints, re] of PROVIDERS) {
      if (!hints.some((h) => text.includes(h))) continue;
      for (const m of matches(re, text)) out.push({ type: 'SECRET', start: m.index, end: m.index + m[0].length, score: 0.98 });
    }
    if (text.includes('-----BEGIN')) {
      for (const m of matches(PEM, text)) out.push({ type: 'SECRET', start: m.index, end: m.index + m[0].trimEnd().length, score: 1 });
    }
    for (const m of assignments(scan)) {
      const value = m[2] ?? m[3]!;
      if (PLACEHOLDER.test(value.trim())) continue;
      const quoted = m[2] !== undefined;
      const start = m.index + m[0].length - value.length - (quoted ? 1 : 0);
      // A bare prose word after "password is" ("password is wrong") is not a password: needs a digit/symbol or quotes.
      if (!quoted && /\bis\b|\bwas\b/i.test(m[0].slice(m[1]!.length)) && /^[\p{L}]+$/u.test(value)) continue;
      out.push({ type: 'SECRET', start, end: start + value.length, score: 0.9 });
    }
    if (text.includes('://')) {
      for (const m of matches(CONN, text)) {
        const pw = m[1]!;
        const start = m.index + m[0].length - 1 - pw.length;
        out.push({ type: 'SECRET', start, end: start + pw.length, score: 0.98 });
      }
    }
    for (const m of matches(TOKENISH, text)) {
      const s = m[0];
      if (/^[0-9a-fA-F-]+$/.test(s)) continue; // hex digests, UUIDs
      if (!/\d/.test(s) || !/[A-Za-z]/.test(s)) continue;
      if (s.includes('/') && /^[\w.\/-]+$/.test(s) && s.split('/').length > 2) continue; // paths
      if (/^[A-Za-z]+[_-]?\d{1,6}$/.test(s) || /^[a-z]+(?:[_-][a-z0-9]+)+$/.test(s)) continue; // identifiers
      const upper = /[A-Z]/.test(s);
      const lower = /[a-z]/.test(s);
      const h = entropy(s);
      if (h < (upper && lower ? 3.7 : 3.3)) continue;
      const cue = hasCueBefore(scan, m.index, SECRET_CUES, 40);
      if (inCode(scan, m.index) && !cue) continue;
      out.push({ type: 'SECRET', start: m.index, end: m.index + s.length, score: cue ? 0.85 : upper && lower ? 0.6 : 0.5 });
    }
  },
};
