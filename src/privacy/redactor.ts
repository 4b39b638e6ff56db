/**
 * Applies protection modes to findings and remembers every replacement, so the answer can be
 * re-identified. One Redactor lives for one request (all its texts and all its attempts): the same
 * value always gets the same replacement, and different values never share one.
 */
import { keyedHash, pseudonym, type Mode } from './pseudonyms.js';
import type { EntityType, Finding } from './types.js';

export interface Replacement {
  type: EntityType;
  mode: Mode;
  original: string;
  replacement: string;
}

export class Redactor {
  /** `${type}\0${original}` -> replacement */
  private readonly forward = new Map<string, string>();
  /** replacement -> original (what the restorer uses) */
  readonly reverse = new Map<string, string>();
  private readonly counters = new Map<EntityType, number>();
  /** Reverse entries that are only parts of a pseudonymised name (never a whole replacement). */
  private readonly partOnly = new Set<string>();

  /** The values this request replaces: no fake may be one, or hold one as a word ("Zoe Eastlake" for Ann while "Zoe" is a value). */
  private readonly originals = new Set<string>();

  constructor(private readonly key: Buffer) {}

  /**
   * Registers values about to be replaced — call it for every text of a request before `apply`, so
   * that a fake chosen for one value is never another value (or a word of one) met later.
   */
  reserve(text: string, findings: readonly Finding[]): void {
    for (const f of findings) {
      this.originals.add(text.slice(f.start, f.end));
    }
  }

  get size(): number {
    return this.reverse.size;
  }

  /** The replacement for one value under `mode` (mask, pseudonymise or hash). */
  replacementFor(type: EntityType, original: string, mode: Mode): string {
    const id = `${type}\u0000${mode}\u0000${original}`;
    const known = this.forward.get(id);
    if (known !== undefined) return known;
    let replacement: string | null = null;
    if (mode === 'pseudonymise') {
      for (let attempt = 0; attempt < 8 && replacement === null; attempt++) {
        const fake = pseudonym(this.key, type, original, attempt);
        if (fake === null) break;
        // never a fake that is already a replacement, a part of one, or another value of this request
        if (fake !== original && !this.reverse.has(fake) && !this.forward.has(`${type}\u0000pseudonymise\u0000${fake}`) && !fake.split(' ').some((p) => this.reverse.has(p) || this.originals.has(p)) && !this.originals.has(fake)) replacement = fake;
      }
    } else if (mode === 'hash') {
      replacement = `<${type}_${keyedHash(this.key, type, original)}>`;
      if (this.reverse.has(replacement) && this.reverse.get(replacement) !== original) replacement = null;
    }
    if (replacement === null) {
      const n = (this.counters.get(type) ?? 0) + 1;
      this.counters.set(type, n);
      replacement = `<${type}_${n}>`;
    }
    this.forward.set(id, replacement);
    this.reverse.set(replacement, original);
    if (mode === 'pseudonymise' && type === 'PERSON') this.mapNameParts(original, replacement);
    return replacement;
  }

  /**
   * A model answering "Dear Alex," to a message about "Alex Ashdown" (for "Heidi Johnston") uses
   * parts of the pseudonym: map the parts back too, when that is unambiguous.
   */
  private mapNameParts(original: string, fake: string): void {
    const o = original.trim().split(/\s+/);
    const f = fake.split(' ');
    if (o.length < 2 || f.length !== 2) return;
    const pairs: Array<[string, string]> = [
      [f[0]!, o[0]!],
      [f[1]!, o[o.length - 1]!],
    ];
    for (const [fakePart, realPart] of pairs) {
      // only unambiguous parts: a part that already stands for something (a whole single-name fake,
      // another person's part) keeps that meaning, and an ambiguous one maps to itself
      if (this.reverse.has(fakePart)) {
        if (this.partOnly.has(fakePart) && this.reverse.get(fakePart) !== realPart) this.reverse.set(fakePart, fakePart);
        continue;
      }
      this.reverse.set(fakePart, realPart);
      this.partOnly.add(fakePart);
    }
  }

  /**
   * Rewrites `text`, replacing each finding whose mode is not `allow`/`block` (block is decided by
   * the caller before). `findings` are sorted and non-overlapping (the scanner guarantees it).
   */
  apply(text: string, findings: readonly Finding[], modeOf: (type: EntityType) => Mode): string {
    this.reserve(text, findings);
    let out = '';
    let last = 0;
    for (const f of findings) {
      const mode = modeOf(f.type);
      if (mode === 'allow' || mode === 'block') continue;
      out += text.slice(last, f.start) + this.replacementFor(f.type, text.slice(f.start, f.end), mode);
      last = f.end;
    }
    return last === 0 ? text : out + text.slice(last);
  }
}
