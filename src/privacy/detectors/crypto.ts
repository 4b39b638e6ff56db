/**
 * CRYPTO wallet addresses: Bitcoin/Litecoin base58 (checksum verified when possible), bech32
 * (bc1…/ltc1…), and Ethereum-style 0x + 40 hex. A base58 string whose checksum fails still counts
 * when its shape is unmistakable (mixed case and digits, 26–35 chars) or a wallet word is near.
 */
import { createHash } from 'node:crypto';
import { cueSet, hasCueBefore, matches } from '../text.js';
import type { Detector, Finding, ScanText } from '../types.js';

const BASE58 = /(?<![A-Za-z0-9])[13LMmn2][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])/g;
const BECH32 = /(?<![A-Za-z0-9])(?:bc|ltc|tb)1[ac-hj-np-z02-9]{8,87}(?![A-Za-z0-9])/g;
const ETH = /(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![0-9a-zA-Z])/g;
const CUES = cueSet('btc bitcoin ltc litecoin eth ether ethereum wallet crypto address addr send deposit withdraw coin coins usdt usdc token');
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58CheckValid(s: string): boolean {
  let n = 0n;
  for (const ch of s) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return false;
    n = n * 58n + BigInt(v);
  }
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  let zeros = 0;
  while (s[zeros] === '1') zeros++;
  bytes = Buffer.concat([Buffer.alloc(zeros), bytes]);
  if (bytes.length !== 25) return false;
  const body = bytes.subarray(0, 21);
  const check = createHash('sha256').update(createHash('sha256').update(body).digest()).digest();
  return check.subarray(0, 4).equals(bytes.subarray(21));
}

export const cryptoDetector: Detector = {
  name: 'crypto',
  types: ['CRYPTO'],
  detect(scan: ScanText, out: Finding[]): void {
    const { text } = scan;
    for (const m of matches(BASE58, text)) {
      const s = m[0];
      const mixed = /[A-Z]/.test(s) && /[a-z]/.test(s) && /\d/.test(s);
      const cue = hasCueBefore(scan, m.index, CUES, 40);
      if (!mixed && !cue) continue;
      const score = base58CheckValid(s) ? 0.95 : cue ? 0.85 : 0.6;
      out.push({ type: 'CRYPTO', start: m.index, end: m.index + s.length, score });
    }
    for (const m of matches(BECH32, text)) {
      const len = m[0].length;
      if (len < 14) continue;
      out.push({ type: 'CRYPTO', start: m.index, end: m.index + len, score: len >= 42 ? 0.9 : 0.7 });
    }
    if (text.includes('0x')) {
      for (const m of matches(ETH, text)) {
        const cue = hasCueBefore(scan, m.index, CUES, 40);
        out.push({ type: 'CRYPTO', start: m.index, end: m.index + 42, score: cue ? 0.95 : 0.8 });
      }
    }
  },
};
