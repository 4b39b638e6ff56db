/** Agreement between a clustering and known groups: the adjusted Rand index (Hubert & Arabie 1985). */

function choose2(x: number): number {
  return (x * (x - 1)) / 2;
}

/** 1 = identical partitions, ~0 = chance agreement, negative = worse than chance. */
export function adjustedRandIndex(truth: ArrayLike<string | number>, predicted: ArrayLike<string | number>): number {
  const n = truth.length;
  if (n !== predicted.length) throw new RangeError('partitions differ in length');
  const table = new Map<string, number>();
  const rows = new Map<string | number, number>();
  const cols = new Map<string | number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${truth[i]}\u0000${predicted[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(truth[i]!, (rows.get(truth[i]!) ?? 0) + 1);
    cols.set(predicted[i]!, (cols.get(predicted[i]!) ?? 0) + 1);
  }
  let index = 0;
  for (const v of table.values()) index += choose2(v);
  let a = 0;
  for (const v of rows.values()) a += choose2(v);
  let b = 0;
  for (const v of cols.values()) b += choose2(v);
  const expected = (a * b) / choose2(n);
  const max = (a + b) / 2;
  if (max === expected) return 1; // both partitions trivial and equal
  return (index - expected) / (max - expected);
}
