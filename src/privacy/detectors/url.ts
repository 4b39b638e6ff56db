/**
 * URL (scheme:// or www.) and DOMAIN_NAME (a bare host with a known top-level domain). Code is
 * full of dotted names that end in a real TLD (`console.info`, `user.email`, `setup.py`): bare
 * domains inside code spans, followed by "(", led by a common identifier, or ending in a TLD that
 * is also a common file extension are not reported.
 */
import { inCode, matches, trimTrailingPunctuation } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

// ASCII-only lookarounds: unicode property classes would make V8 scan every position slowly.
const URL_RE = /(?<![A-Za-z0-9])(?:(?:https?|ftp|wss?):\/\/|www\.)[^\s<>"'`{}|\\^]+/gi;
const HOST = /(?<![A-Za-z0-9@._\/-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,6}([a-z]{2,24})(?![A-Za-z0-9_-]|\.[A-Za-z0-9])/gi;

const GENERIC_TLDS = new Set(
  `com net org edu gov mil int info biz io ai co app dev cloud tech online site xyz me tv us uk eu asia pro name mobi
   shop store blog news media agency digital email systems solutions services company global world today live life
   network group center club team design studio health law finance bank insurance travel academy school museum
   berlin london paris nyc tokyo amsterdam wien koeln hamburg bayern swiss cymru wales scot eus gal cat frl bzh nrw ruhr
   quebec barcelona madrid istanbul moscow africa lat page website space fun top icu club vip work link click art
   photo photos family social chat email mail care clinic dental law legal capital money fund tax taxi auto car cars`.split(/\s+/),
);
// Every ISO 3166 two-letter code is a ccTLD (plus the few below); ambiguous ones are filtered later.
const CC_TLDS = new Set(
  `ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw by bz ca cc cd cf cg ch ci
   ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp
   gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li
   lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om
   pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st sv sx sy sz tc td
   tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw`.split(/\s+/),
);
/** TLDs that are also file extensions or code members: reported only with a www/scheme or 3+ labels. */
const AMBIGUOUS_TLDS = new Set('py md sh rs pl so ps cs pm rb ts js go ml in is it id as at do no to me am pe sc st tk tv ax ai mk gs mm cc name info email zip mov app dev sg ng ge ne se'.split(' '));
/** First labels that mark a dotted name as code (`os.path`, `self.name`, `user.email`). */
const CODE_HEADS = new Set(
  `this self cls super os sys np pd tf torch math json window document process module exports require console logger log
   user users obj object item items data config cfg settings options opts props state ctx context req request res response
   err error event e el node app api client server db model models result results value values key keys file files path fs
   http https url str string list dict map set array arr args kwargs params param env target source src dest dst foo bar baz
   test tests spec mock it describe expect assert import from`.split(/\s+/),
);

export const urlDetector: Detector = {
  name: 'url',
  types: ['URL', 'DOMAIN_NAME'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    if (!text.includes('.')) return;
    let urlEnds: Array<[number, number]> | null = null;
    if (text.includes('://') || /www\./i.test(text)) {
      urlEnds = [];
      for (const m of matches(URL_RE, text)) {
        const end = trimTrailingPunctuation(text, m.index, m.index + m[0].length);
        if (end - m.index < 8) continue;
        out.push({ type: 'URL', start: m.index, end, score: 0.9 });
        urlEnds.push([m.index, end]);
      }
    }
    for (const m of matches(HOST, text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (urlEnds && urlEnds.some(([s, e]) => start >= s && start < e)) continue;
      const tld = m[1]!.toLowerCase();
      if (!GENERIC_TLDS.has(tld) && !CC_TLDS.has(tld)) continue;
      const host = m[0];
      const labels = host.split('.');
      const head = labels[0]!.toLowerCase();
      if (/^\d+$/.test(labels.slice(0, -1).join(''))) continue; // 1.5.de? numbers, not a host
      if (inCode(scan, start)) continue;
      const after = text[end];
      if (after === '(' || after === '[' || (after === '.' && /[A-Za-z_]/.test(text[end + 1] ?? ''))) continue;
      if (CODE_HEADS.has(head)) continue;
      // camelCase or snake_case labels are identifiers
      if (labels.some((l) => /[a-z][A-Z]/.test(l) || l.includes('_'))) continue;
      const ambiguous = AMBIGUOUS_TLDS.has(tld);
      // "infatuated-oil.name" is a site, "user.name" is code: hyphens and site words decide
      const siteLike = labels.slice(0, -1).some((l) => l.includes('-')) || /(?:website|site|domain|visit|url|link|go to|at)\s*:?\s*$/i.test(text.slice(Math.max(0, start - 16), start));
      if (ambiguous && labels.length < 3 && !siteLike) continue;
      // "e.g", "i.e", "U.S": single-letter labels are abbreviations
      if (labels.some((l) => l.length === 1)) continue;
      out.push({ type: 'DOMAIN_NAME', start, end, score: ambiguous ? 0.6 : 0.8 });
    }
  },
};
