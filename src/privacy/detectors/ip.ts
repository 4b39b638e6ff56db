/**
 * IP_ADDRESS, v4 and v6. The well-known loopback and unspecified addresses (127.0.0.1, ::1, 0.0.0.0) are not
 * personal data and are skipped; a four-part version number after "v"/"version" is not an address.
 */
import { isIPv6 } from 'node:net';
import { cueSet, hasCueBefore, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = new RegExp(`(?<![\\d.])${OCTET}(?:\\.${OCTET}){3}(?![\\d]|\\.\\d)`, 'g');
const V6 = /(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:])/g;
const VERSION_CUES = cueSet('v version versions ver release build firmware');

export const ipDetector: Detector = {
  name: 'ip',
  types: ['IP_ADDRESS'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    if (text.includes('.')) {
      for (const m of matches(V4, text)) {
        const ip = m[0];
        if (ip === '0.0.0.0' || ip === '127.0.0.1' || ip === '255.255.255.255') continue;
        if (text[m.index - 1] === 'v' || hasCueBefore(scan, m.index, VERSION_CUES, 12)) continue;
        out.push({ type: 'IP_ADDRESS', start: m.index, end: m.index + ip.length, score: 0.9 });
      }
    }
    if (text.includes('::') || /[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:/.test(text)) {
      for (const m of matches(V6, text)) {
        const raw = m[0];
        const bare = raw.replace(/%.*$/, '');
        if (bare === '::' || bare === '::1' || !isIPv6(bare)) continue;
        // Need some hex content beyond colons: "a::b" is a C++ scope, not an address.
        const groups = bare.split(':').filter(Boolean).length;
        if (groups < 3 && !bare.startsWith('fe80') && !/^(?:2001|fd|fc)/i.test(bare)) continue;
        out.push({ type: 'IP_ADDRESS', start: m.index, end: m.index + raw.length, score: 0.9 });
      }
    }
  },
};
