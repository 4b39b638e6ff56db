/**
 * The hashing primitives of the hashed n-gram features (the learned router's and the student
 * classifiers'): 32-bit FNV-1a steps and murmur3's finaliser. Model files store weights by these
 * hashes: changing a constant here invalidates every trained router and student.
 */

/** FNV-1a's offset basis, as an int32 (what `Math.imul` and `^` produce, so hashes compare equal). */
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/** murmur3's finaliser: spreads FNV's weak low bits before a hash is masked or shifted to a slot. Unsigned. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
