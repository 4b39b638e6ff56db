/** 1536 -> "1.5 KB": sizes for people (downloads, cache listings, progress logs). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * Which tenth of a download `received` is in (or which 100 MB when the size is unknown): progress
 * is reported once per step, so logs stay readable.
 */
export function progressStep(received: number, total: number | undefined): number {
  return total ? Math.floor((received / total) * 10) : Math.floor(received / 100e6);
}

/** "30% (120 MB of 400 MB)", or "120 MB" when the size is unknown. */
export function progressText(received: number, total: number | undefined): string {
  return total ? `${progressStep(received, total) * 10}% (${formatBytes(received)} of ${formatBytes(total)})` : formatBytes(received);
}
