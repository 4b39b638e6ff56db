/**
 * PERSON in scripts without capital letters (Chinese, Japanese, Korean, Arabic, Hebrew, Devanagari,
 * Thai), where the names detector's capitalisation has nothing to hold on to. Only context finds them
 * here: honorifics written after the name (田中さん, 王先生, 김민준 씨, राहुल जी) or before it
 * (السيد أحمد, מר כהן, श्री राहुल शर्मा, คุณสมชาย) and self-introductions (我叫…, اسمي…, मेरा नाम … है).
 *
 * Deliberately generous at the edges: scripts without spaces between words (Chinese, Japanese, Thai)
 * give no word boundary, so a few characters next to the name may be masked with it — the guard
 * prefers sending slightly less text to leaking a name. A text with none of these scripts costs one
 * character-class test.
 */
import { matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const CASELESS = /[\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]/;

/** Common one-character Chinese surnames: where, in a run of Han characters, a name most likely starts. */
const HAN_SURNAMES = new Set(
  '王李张張刘劉陈陳杨楊黄黃赵趙吴吳周徐孙孫马馬朱胡郭何高林罗羅郑鄭梁谢謝宋唐许許韩韓冯馮邓鄧曹彭曾肖田董袁潘于蒋蔣蔡余杜叶葉程苏蘇魏吕呂丁任沈姚卢盧姜崔钟鍾谭譚陆陸汪范金石廖贾賈夏韦韋方白邹鄒孟熊秦邱江尹薛闫段雷侯龙龍史陶黎贺賀顾顧毛郝龚龔邵万萬钱錢严嚴武戴莫孔向汤湯'.split(''),
);

// (`d`: the regexes report where their group 1, the name, starts and ends)
// A name written before a suffix honorific: Han or Katakana (Japanese, Chinese), Hangul (Korean).
const CJK_SUFFIX = /([\p{sc=Han}\p{sc=Katakana}ー・]{1,8})(さん|様|さま|先生|君|くん|ちゃん|氏|殿|女士|小姐|老师|老師|教授)/dgu;
const CJK_INTRO = /(?:我叫|我的名字是|我的名字叫|名叫|私の名前は)([\p{sc=Han}\p{sc=Katakana}ー・]{2,8})/dgu;
const HANGUL_SUFFIX = /(?<![\uac00-\ud7af])([\uac00-\ud7af]{2,4})\s?(씨|님)(?![\uac00-\ud7af])/dgu;
/** Korean words that take 님/씨 but are titles or roles, not names ("고객님": dear customer). */
const HANGUL_ROLES = new Set(['고객', '회원', '사장', '부장', '과장', '팀장', '선생', '교수', '의사', '기사', '손님', '여러분', '관리자', '담당자']);
// Honorifics and introductions before the name, then one to three words of the same script (Arabic:
// letters and vowel marks, not its comma or digits).
const ARABIC = /(?<![\u0620-\u065f\u066e-\u06d3])(?:السيد|السيدة|الدكتور|الدكتورة|الأستاذ|الأستاذة|الآنسة|اسمي|أنا)\s+([\u0620-\u065f\u066e-\u06d3]{2,}(?:\s+[\u0620-\u065f\u066e-\u06d3]{2,}){0,2})/dgu;
const HEBREW = /(?<![\u05d0-\u05ea])(?:מר|מרת|גברת|הגב'|ד"ר|ד״ר|פרופ'|שמי|קוראים לי)\s+([\u05d0-\u05ea'׳]{2,}(?:\s+[\u05d0-\u05ea'׳]{2,})?)/dgu;
const DEVANAGARI_BEFORE = /(?<![\u0900-\u097f])(?:श्रीमती|श्रीमान|सुश्री|श्री|डॉक्टर|डॉ\.?)\s*([\u0900-\u097f]{2,}(?:\s+[\u0900-\u097f]{2,})?)/dgu;
const DEVANAGARI_INTRO = /मेरा नाम\s+([\u0900-\u097f]{2,}(?:\s+[\u0900-\u097f]{2,})?)\s+है/dgu;
const DEVANAGARI_JI = /(?<![\u0900-\u097f])([\u0900-\u097f]{2,})\s?जी(?![\u0900-\u097f])/dgu;
// Thai writes the title against the name and no spaces between words: the name runs to the next space.
const THAI = /(?:คุณ|นางสาว|นาง|นาย|ด\.ช\.|ด\.ญ\.|ดร\.)([\u0e00-\u0e7f]{2,24})/dgu;

function push(out: Finding[], start: number, end: number, score = 0.85): void {
  if (end > start) out.push({ type: 'PERSON', start, end, score });
}

/** Start of the name in a run of Han characters before a suffix: a common surname, else at most three characters back. */
function hanNameStart(run: string): number {
  const from = Math.max(0, run.length - 4);
  for (let k = from; k < run.length; k++) if (HAN_SURNAMES.has(run[k]!)) return k;
  return Math.max(0, run.length - 3);
}

export const caselessNamesDetector: Detector = {
  name: 'caseless-names',
  types: ['PERSON'],
  detect({ text }: ScanText, out: Finding[]): void {
    if (!CASELESS.test(text)) return;
    for (const m of matches(CJK_SUFFIX, text)) {
      const run = m[1]!;
      // Katakana names (マイケル) are whole; Han runs carry no boundary: start at a surname or three characters back
      const katakana = /^[\p{sc=Katakana}ー・]+$/u.test(run);
      const start = katakana ? 0 : hanNameStart(run);
      push(out, m.index + start, m.index + run.length);
    }
    for (const m of matches(HANGUL_SUFFIX, text)) {
      if (HANGUL_ROLES.has(m[1]!)) continue;
      push(out, m.index, m.index + m[1]!.length);
    }
    for (const re of [CJK_INTRO, ARABIC, HEBREW, DEVANAGARI_BEFORE, DEVANAGARI_INTRO, THAI]) {
      for (const m of matches(re, text)) push(out, m.indices![1]![0], m.indices![1]![1]);
    }
    for (const m of matches(DEVANAGARI_JI, text)) push(out, m.index, m.index + m[1]!.length, 0.75);
  },
};
