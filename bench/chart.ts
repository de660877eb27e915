/** A dependency-free SVG chart of the fast-path benchmark (pure). */
/** y is what the line joins (a median, say); lo and hi, when given, are drawn as a whisker. */
export interface Point { x: number; y: number; lo?: number; hi?: number }
export interface Series { name: string; color: string; points: Point[] }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * Lines through each series' y; points with lo/hi get a whisker (vertical
 * line with caps). With whiskers, each series is nudged a few pixels along x
 * so that whiskers at the same x stay apart. `note` goes under the legend.
 */
export function lineChart(opts: { title: string; xLabel: string; yLabel: string; series: Series[]; note?: string; width?: number; height?: number }): string {
  const W = opts.width ?? 720, H = opts.height ?? 420, L = 70, R = 180, T = 40, B = 50;
  const xs = opts.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = opts.series.flatMap((s) => s.points.flatMap((p) => [p.y, p.hi ?? p.y]).filter(Number.isFinite));
  const whiskers = opts.series.some((s) => s.points.some((p) => p.lo !== undefined || p.hi !== undefined));
  const xMax = Math.max(1, ...xs), yMax = Math.max(1e-9, ...ys) * 1.1;
  const px = (x: number) => L + (x / xMax) * (W - L - R);
  const py = (y: number) => H - B - (y / yMax) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(opts.yLabel)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax / 5) * i;
    out.push(`<line x1="${L - 4}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${L - 8}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(y < 10 ? 1 : 0)}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) out.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  opts.series.forEach((s, i) => {
    const dx = whiskers ? (i - (opts.series.length - 1) / 2) * 2.5 : 0;
    const sx = (x: number): number => px(x) + dx;
    const pts = [...s.points].filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${sx(p.x)},${py(p.y)}`).join(' ')}"/>`);
    for (const p of pts) {
      if (p.lo !== undefined && p.hi !== undefined && Number.isFinite(p.lo) && Number.isFinite(p.hi)) {
        const x = sx(p.x);
        out.push(`<path d="M${x},${py(p.hi)}V${py(p.lo)}M${x - 3},${py(p.hi)}h6M${x - 3},${py(p.lo)}h6" stroke="${s.color}" stroke-width="1.2" fill="none"/>`);
      }
      out.push(`<circle cx="${sx(p.x)}" cy="${py(p.y)}" r="3" fill="${s.color}"/>`);
    }
    out.push(`<rect x="${W - R + 14}" y="${T + i * 20}" width="12" height="12" fill="${s.color}"/>`, `<text x="${W - R + 32}" y="${T + i * 20 + 10}">${esc(s.name)}</text>`);
  });
  if (opts.note) {
    // Wrapped by words into the legend column.
    const lines: string[] = [];
    for (const w of opts.note.split(' ')) {
      if (lines.length && (lines.at(-1)! + ' ' + w).length <= 26) lines[lines.length - 1] += ` ${w}`;
      else lines.push(w);
    }
    lines.forEach((l, j) => out.push(`<text x="${W - R + 14}" y="${T + opts.series.length * 20 + 14 + j * 15}" font-size="11" fill="#555">${esc(l)}</text>`));
  }
  out.push('</svg>');
  return out.join('\n');
}

export function barChart(opts: { title: string; yLabel: string; bars: { name: string; value: number; color: string }[]; width?: number; height?: number }): string {
  const W = opts.width ?? 720, H = opts.height ?? 320, L = 70, T = 40, B = 50;
  const yMax = Math.max(1e-9, ...opts.bars.map((b) => b.value)) * 1.15;
  const bw = (W - L - 20) / opts.bars.length;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - 20}" y2="${H - B}" stroke="black"/>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(opts.yLabel)}</text>`];
  opts.bars.forEach((b, i) => {
    const h = (b.value / yMax) * (H - T - B);
    const x = L + i * bw + bw * 0.15;
    out.push(`<rect x="${x}" y="${H - B - h}" width="${bw * 0.7}" height="${h}" fill="${b.color}"/>`,
      `<text x="${x + bw * 0.35}" y="${H - B - h - 5}" text-anchor="middle">${b.value.toFixed(2)}</text>`,
      `<text x="${x + bw * 0.35}" y="${H - B + 16}" text-anchor="middle">${esc(b.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
