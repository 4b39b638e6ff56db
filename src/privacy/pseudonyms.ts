/**
 * Replacement values: mask placeholders, keyed hashes and realistic pseudonyms. Pseudonyms are
 * derived from a keyed hash of the value, so the same person gets the same fake in every request
 * of a conversation (and across conversations, while the key stays the same), without any state
 * to store. Fakes are chosen to be obviously reserved where a reserved range exists (example.com,
 * 192.0.2.0/24, 2001:db8::/32, SSN area 9xx, test card prefixes) so they can never be someone's.
 */
import { createHmac } from 'node:crypto';
import type { EntityType } from './types.js';

const GIVEN = 'Alex Robin Sam Jordan Casey Morgan Taylor Jamie Avery Riley Quinn Rowan Sage Emery Harper Reese Dana Kim Noor Ari Lena Mila Nico Iris Theo Ivo Ada Leo Nina Otto Eli Zoe Mara Luca Tess Owen Vera Hugo Lina Axel Elsa Rafa Juno Cleo Arlo Remy Nell Ezra Ines Kai Lior Maya Ravi Yara Tomas Hana Milo'.split(' ');
const FAMILY = 'Ashdown Birchley Calloway Dunmore Elston Fairbank Glenwood Hartwell Ingleby Jessop Kettering Lindqvist Marlowe Northcott Oakhurst Pemberton Quarry Redfern Stanway Thornbury Underhill Vantongeren Whitlock Yardley Ashcombe Brightwater Coldwell Dempsey Eastlake Fennimore Greywell Holloway Ivers Kingsley Langford Merriweather Newbold Ormsby Prescott Radley Sherwood Tillman Upton Verity Wetherby Aldwin Brookner Castellan Dorrance Everly Falkner Gresham Hadley Ivory Juniper Kestrel Larkin Morrow'.split(' ');
const TOWNS = 'Eastbrook Millford Ashby Harrowgate Kelmarsh Wrenfield Oakvale Stonebridge Marlow Fernhill Brackenridge Elmstead Glenrock Hollins Larchmont Northwick Pinecrest Ravensworth Silverdale Thornfield Westmere Applecross Briarwood Copperfield Dunwich Everton Foxhollow Greenhithe'.split(' ');
const STREETS = 'Maple Cedar Willow Linden Chestnut Juniper Hawthorn Rowan Aspen Birch Elm Laurel Poplar Sycamore Alder'.split(' ');
const STREET_KINDS = 'Street Road Lane Avenue Way Close Drive'.split(' ');
const ORG_KINDS = 'Group Ltd Partners Holdings Industries Labs Consulting'.split(' ');

export type Mode = 'mask' | 'pseudonymise' | 'hash' | 'block' | 'allow';

/** Deterministic byte stream from a keyed hash of (type, value, attempt). */
class Stream {
  private bytes: Buffer;
  private i = 0;
  constructor(
    private readonly key: Buffer,
    private readonly seed: string,
  ) {
    this.bytes = createHmac('sha256', key).update(seed).digest();
  }
  next(): number {
    if (this.i >= this.bytes.length) {
      this.bytes = createHmac('sha256', this.key).update(this.bytes).digest();
      this.i = 0;
    }
    return this.bytes[this.i++]!;
  }
  int(n: number): number {
    return ((this.next() << 8) | this.next()) % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  digit(): string {
    return String(this.int(10));
  }
}

export function keyedHash(key: Buffer, type: EntityType, value: string, length = 10): string {
  return createHmac('sha256', key).update(`${type}\u0000${value}`).digest('hex').slice(0, length);
}

/** Same shape, new characters: digits stay digits, letters keep their case, punctuation stays. */
function reshape(value: string, r: Stream, keepPrefix = 0): string {
  let out = value.slice(0, keepPrefix);
  for (let i = keepPrefix; i < value.length; i++) {
    const c = value[i]!;
    if (c >= '0' && c <= '9') out += r.digit();
    else if (c >= 'a' && c <= 'z') out += String.fromCharCode(97 + r.int(26));
    else if (c >= 'A' && c <= 'Z') out += String.fromCharCode(65 + r.int(26));
    else out += c;
  }
  return out;
}

function luhnCheckDigit(payload: string): string {
  let sum = 0;
  let double = true;
  for (let i = payload.length - 1; i >= 0; i--) {
    let d = payload.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return String((10 - (sum % 10)) % 10);
}

function ibanCheck(country: string, bban: string): string {
  const s = `${bban}${country}00`.toUpperCase();
  let rest = 0;
  for (const ch of s) {
    const v = /\d/.test(ch) ? Number(ch) : ch.charCodeAt(0) - 55;
    rest = v >= 10 ? (rest * 100 + v) % 97 : (rest * 10 + v) % 97;
  }
  return String(98 - rest).padStart(2, '0');
}

const SECRET_PREFIX = /^(?:sk-(?:proj-|ant-|svcacct-|admin-)?|sk_(?:live|test)_|rk_(?:live|test)_|pk_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA|ASIA|AIza|ya29\.|hf_|npm_|SG\.|dop_v1_|eyJ)/;

/** A realistic stand-in for `value`; `attempt` > 0 when an earlier fake collided. */
export function pseudonym(key: Buffer, type: EntityType, value: string, attempt = 0): string | null {
  const r = new Stream(key, `${type}\u0000${value}\u0000${attempt}`);
  switch (type) {
    case 'PERSON': {
      const parts = value.trim().split(/\s+/);
      if (parts.length === 1) return r.pick(/^\p{Lu}/u.test(value) && r.int(2) ? GIVEN : FAMILY);
      return `${r.pick(GIVEN)} ${r.pick(FAMILY)}`;
    }
    case 'EMAIL_ADDRESS':
      return `${r.pick(GIVEN).toLowerCase()}.${r.pick(FAMILY).toLowerCase()}${r.int(100)}@example.com`;
    case 'PHONE_NUMBER': {
      const keep = value.startsWith('+') ? Math.min(3, value.length) : value.startsWith('00') ? 4 : 0;
      return reshape(value, r, keep);
    }
    case 'CREDIT_CARD': {
      const digits = value.replace(/\D/g, '');
      let fake = digits[0]!;
      for (let i = 1; i < digits.length - 1; i++) fake += r.digit();
      fake += luhnCheckDigit(fake);
      let k = 0;
      return value.replace(/\d/g, () => fake[k++]!);
    }
    case 'IBAN_CODE': {
      const compact = value.replace(/\s/g, '');
      const country = compact.slice(0, 2).toUpperCase();
      const bban = reshape(compact.slice(4), r);
      const fake = `${country}${ibanCheck(country, bban)}${bban}`;
      let k = 0;
      return value.replace(/[^\s]/g, () => fake[k++]!);
    }
    case 'US_SSN':
      return reshape(value, r).replace(/^\d/, '9');
    case 'IP_ADDRESS':
      if (value.includes(':')) return `2001:db8::${(r.int(0xffff) + 1).toString(16)}`;
      return `${r.pick(['192.0.2', '198.51.100', '203.0.113'])}.${r.int(254) + 1}`;
    case 'URL':
      return `https://example.com/${r.pick(STREETS).toLowerCase()}-${r.int(10_000)}`;
    case 'DOMAIN_NAME':
      return `${r.pick(TOWNS).toLowerCase()}${r.int(100)}.example.com`;
    case 'LOCATION':
      return /\d/.test(value) ? `${r.int(200) + 1} ${r.pick(STREETS)} ${r.pick(STREET_KINDS)}, ${r.pick(TOWNS)}` : r.pick(TOWNS);
    case 'ORGANIZATION':
      return `${r.pick(FAMILY)} ${r.pick(ORG_KINDS)}`;
    case 'SECRET': {
      const prefix = SECRET_PREFIX.exec(value)?.[0].length ?? 0;
      return reshape(value, r, prefix);
    }
    case 'CRYPTO':
      return reshape(value, r, value.startsWith('0x') ? 2 : value.startsWith('bc1') ? 3 : 1);
    case 'US_DRIVER_LICENSE':
    case 'US_BANK_NUMBER':
    case 'MEDICAL_LICENSE':
      return reshape(value, r);
    case 'DATE_TIME':
      // A fake date changes what a model reasons about (deadlines, ages): a placeholder is safer.
      return null;
  }
}
