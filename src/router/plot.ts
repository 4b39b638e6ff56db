/** Small self-contained SVG charts for `sluice router eval --plot` (no browser, no dependencies). */

export interface Series {
  label: string;
  points: Array<{ x: number; y: number }>;
  color: string;
  dashed?: boolean;
  /** Draw markers only (single models on a cost chart). */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Format of tick labels. */
  xTick?: (v: number) => string;
  yTick?: (v: number) => string;
}

const W = 720, H = 440, L = 70, R = 200, T = 40, B = 50;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function lineChart(o: ChartOptions): string {
  const all = o.series.flatMap((s) => s.points);
  let x0 = Math.min(...all.map((p) => p.x)), x1 = Math.max(...all.map((p) => p.x));
  let y0 = Math.min(...all.map((p) => p.y)), y1 = Math.max(...all.map((p) => p.y));
  if (!(x1 > x0)) { x0 -= 0.5; x1 += 0.5; }
  if (!(y1 > y0)) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const xt = o.xTick ?? ((v: number) => v.toFixed(2));
  const yt = o.yTick ?? ((v: number) => v.toFixed(2));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  for (let t = 0; t <= 5; t++) {
    const xv = x0 + ((x1 - x0) * t) / 5, yv = y0 + ((y1 - y0) * t) / 5;
    parts.push(`<line x1="${px(xv)}" y1="${T}" x2="${px(xv)}" y2="${H - B}" stroke="#eee"/>`);
    parts.push(`<line x1="${L}" y1="${py(yv)}" x2="${W - R}" y2="${py(yv)}" stroke="#eee"/>`);
    parts.push(`<text x="${px(xv)}" y="${H - B + 16}" text-anchor="middle">${esc(xt(xv))}</text>`);
    parts.push(`<text x="${L - 6}" y="${py(yv) + 4}" text-anchor="end">${esc(yt(yv))}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    if (s.markers) {
      for (const p of s.points) parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${s.color}"/>`);
    } else {
      const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    const ly = T + 10 + i * 18;
    parts.push(`<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 36}" y2="${ly}" stroke="${s.color}" stroke-width="${s.markers ? 6 : 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${W - R + 42}" y="${ly + 4}">${esc(s.label.length > 24 ? '…' + s.label.slice(-23) : s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
