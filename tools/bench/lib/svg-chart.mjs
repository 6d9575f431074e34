// A self-contained SVG chart for docs/benchmarks/latest.svg, written by hand so that the bench needs
// no charting dependency and the file renders anywhere (GitHub, a browser, an editor) without a CDN.
//
// Input (everything else is derived):
//   {
//     title: string, subtitle?: string,                                          // a long subtitle wraps onto a second line
//     legend?: string[],                                                         // series labels in legend order (default: first seen)
//     panels: Array<
//       | { kind: 'lines', title, xLabel, yLabel, categories: string[],        // x positions, e.g. ['p50','p90','p99','p99.9']
//           series: { label: string, values: (number|undefined)[] }[] }     // one value per category; y on a log scale
//       | { kind: 'bars', title, xLabel,                                         // horizontal bars, one per series, linear scale
//           series: { label: string, values: [number|undefined] }[] }       // undefined: drawn as "not run"
//     >
//   }
// A series keeps its colour, dash and marker in every panel (keyed by label, in legend order), so
// one legend serves the whole chart and a column keeps its colour when another did not run. Colours
// are the Okabe-Ito palette (safe for the common colour vision deficiencies); dashes and marker
// shapes tell the lines apart in greyscale too.

const PALETTE = ['#000000', '#E69F00', '#0072B2', '#D55E00', '#56B4E9', '#009E73', '#CC79A7'];
const DASHES = ['', '2 3', '', '7 3', '9 3 2 3', '4 2', '1 2'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'down', 'circle', 'square'];

const WIDTH = 960;
const PANEL_W = 450;
const PANEL_H = 290;
const GAP = 20;
const PAD = { top: 34, right: 16, bottom: 46, left: 64 };
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** XML-escapes text and attribute values. */
export function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

const ok = (v) => typeof v === 'number' && Number.isFinite(v);

/** A compact number for ticks and value labels: 0.05, 1.2, 350, 12,000, 1.2M. */
export function shortNumber(v) {
  if (!ok(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
  if (a === 0) return '0';
  return String(+v.toPrecision(2));
}

/** Style per series label: the legend's order, then first-seen order across all panels. */
function styles(legendOrder, panels) {
  const map = new Map();
  for (const label of [...legendOrder, ...panels.flatMap((p) => p.series.map((s) => s.label))]) {
    if (map.has(label)) continue;
    const i = map.size;
    map.set(label, { colour: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length], marker: MARKERS[i % MARKERS.length] });
  }
  return map;
}

function marker(shape, x, y, colour) {
  const r = 4;
  const f = (n) => n.toFixed(1);
  switch (shape) {
    case 'square':
      return `<rect x="${f(x - r)}" y="${f(y - r)}" width="${2 * r}" height="${2 * r}" fill="${colour}"/>`;
    case 'triangle':
      return `<path d="M${f(x)} ${f(y - r - 1)} L${f(x + r + 1)} ${f(y + r)} L${f(x - r - 1)} ${f(y + r)} Z" fill="${colour}"/>`;
    case 'down':
      return `<path d="M${f(x)} ${f(y + r + 1)} L${f(x + r + 1)} ${f(y - r)} L${f(x - r - 1)} ${f(y - r)} Z" fill="${colour}"/>`;
    case 'diamond':
      return `<path d="M${f(x)} ${f(y - r - 1)} L${f(x + r + 1)} ${f(y)} L${f(x)} ${f(y + r + 1)} L${f(x - r - 1)} ${f(y)} Z" fill="${colour}"/>`;
    default:
      return `<circle cx="${f(x)}" cy="${f(y)}" r="${r}" fill="${colour}"/>`;
  }
}

/** Decade ticks (plus 2× and 5× when the range spans few decades) between lo and hi. */
function logTicks(lo, hi) {
  const ticks = [];
  const decades = Math.log10(hi / lo);
  for (let e = Math.floor(Math.log10(lo)); 10 ** e <= hi * 1.0001; e++) {
    for (const m of decades <= 2 ? [1, 2, 5] : [1]) {
      const t = m * 10 ** e;
      if (t >= lo * 0.9999 && t <= hi * 1.0001) ticks.push(+t.toPrecision(3));
    }
  }
  return ticks;
}

/** Rounded-up axis maximum and 4-6 ticks from 0. */
function linearTicks(max) {
  if (!(max > 0)) return { top: 1, ticks: [0, 1] };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const top = Math.ceil((max * 1.0001) / step) * step;
  const ticks = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(+t.toPrecision(6));
  return { top, ticks };
}

function panelFrame(p, x0, y0) {
  return [
    `<g transform="translate(${x0},${y0})" class="panel" data-kind="${p.kind}">`,
    `<rect x="0" y="0" width="${PANEL_W}" height="${PANEL_H}" fill="#ffffff" stroke="#d0d0d0"/>`,
    `<text x="${PANEL_W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600" fill="#222">${esc(p.title)}</text>`,
  ];
}

function linesPanel(p, x0, y0, style) {
  const out = panelFrame(p, x0, y0);
  const plotW = PANEL_W - PAD.left - PAD.right;
  const plotH = PANEL_H - PAD.top - PAD.bottom;
  const all = p.series.flatMap((s) => s.values.filter((v) => ok(v) && v > 0));
  if (all.length === 0) {
    out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle" font-size="13" fill="#666">not run</text>`, '</g>');
    return out.join('\n');
  }
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)) + 1e-9);
  const hiAdj = hi === lo ? lo * 10 : hi;
  const y = (v) => PAD.top + plotH - (Math.log10(v / lo) / Math.log10(hiAdj / lo)) * plotH;
  const n = p.categories.length;
  const x = (i) => PAD.left + (n === 1 ? plotW / 2 : (i / (n - 1)) * (plotW - 20) + 10);
  for (const t of logTicks(lo, hiAdj)) {
    out.push(`<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#444">${esc(shortNumber(t))}</text>`);
  }
  p.categories.forEach((c, i) => {
    out.push(`<text x="${x(i).toFixed(1)}" y="${PAD.top + plotH + 16}" text-anchor="middle" font-size="11" fill="#444">${esc(c)}</text>`);
  });
  out.push(`<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#888"/>`);
  out.push(`<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" stroke="#888"/>`);
  out.push(`<text x="${PAD.left + plotW / 2}" y="${PANEL_H - 8}" text-anchor="middle" font-size="12" fill="#222">${esc(p.xLabel)}</text>`);
  out.push(
    `<text transform="translate(16,${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#222">${esc(p.yLabel)}</text>`,
  );
  for (const s of p.series) {
    const st = style.get(s.label);
    const pts = s.values.map((v, i) => (ok(v) && v > 0 ? [x(i), y(v), v, p.categories[i]] : undefined));
    out.push(`<g class="series" data-series="${esc(s.label)}">`);
    // A gap (a missing value) splits the line rather than bridging it.
    let d = '';
    let pen = false;
    for (const pt of pts) {
      if (!pt) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${pt[0].toFixed(1)} ${pt[1].toFixed(1)} `;
      pen = true;
    }
    if (d) out.push(`<path d="${d.trim()}" fill="none" stroke="${st.colour}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`);
    for (const pt of pts.filter(Boolean)) {
      out.push(`<g>${marker(st.marker, pt[0], pt[1], st.colour)}<title>${esc(`${s.label}, ${pt[3]}: ${shortNumber(pt[2])}`)}</title></g>`);
    }
    out.push('</g>');
  }
  out.push('</g>');
  return out.join('\n');
}

function barsPanel(p, x0, y0, style) {
  const out = panelFrame(p, x0, y0);
  const left = 110;
  const plotW = PANEL_W - left - PAD.right - 44;
  const plotH = PANEL_H - PAD.top - PAD.bottom;
  const max = Math.max(0, ...p.series.map((s) => s.values[0]).filter(ok));
  const { top, ticks } = linearTicks(max);
  const x = (v) => left + (v / top) * plotW;
  const band = plotH / Math.max(1, p.series.length);
  const barH = Math.min(26, band * 0.7);
  for (const t of ticks) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${PAD.top + plotH + 16}" text-anchor="middle" font-size="11" fill="#444">${esc(shortNumber(t))}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#888"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${PANEL_H - 8}" text-anchor="middle" font-size="12" fill="#222">${esc(p.xLabel)}</text>`);
  p.series.forEach((s, i) => {
    const st = style.get(s.label);
    const v = s.values[0];
    const cy = PAD.top + band * i + band / 2;
    out.push(`<g class="series" data-series="${esc(s.label)}">`);
    out.push(`<text x="${left - 6}" y="${(cy + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#222">${esc(s.label)}</text>`);
    if (ok(v)) {
      const w = Math.max(1, x(v) - left);
      out.push(
        `<rect x="${left}" y="${(cy - barH / 2).toFixed(1)}" width="${w.toFixed(1)}" height="${barH.toFixed(1)}" fill="${st.colour}"><title>${esc(`${s.label}: ${shortNumber(v)}`)}</title></rect>`,
      );
      out.push(`<text x="${(left + w + 4).toFixed(1)}" y="${(cy + 4).toFixed(1)}" font-size="11" fill="#222">${esc(shortNumber(v))}</text>`);
    } else out.push(`<text x="${left + 4}" y="${(cy + 4).toFixed(1)}" font-size="11" font-style="italic" fill="#666">not run</text>`);
    out.push('</g>');
  });
  out.push('</g>');
  return out.join('\n');
}

function legend(style, y) {
  const items = [...style.entries()];
  const out = [`<g class="legend" transform="translate(${GAP},${y})">`];
  let x = 0;
  for (const [label, st] of items) {
    out.push(`<g class="legend-item" data-series="${esc(label)}" transform="translate(${x},0)">`);
    out.push(`<line x1="0" x2="28" y1="0" y2="0" stroke="${st.colour}" stroke-width="3"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`);
    out.push(marker(st.marker, 14, 0, st.colour));
    out.push(`<text x="34" y="4" font-size="12" fill="#222">${esc(label)}</text>`, '</g>');
    // No font metrics in a plain file: an average glyph width is close enough for spacing.
    x += 34 + label.length * 7 + 22;
  }
  out.push('</g>');
  return out.join('\n');
}

/** Splits `text` at spaces into lines of at most `width` characters (a word longer than that stays whole). */
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The SVG document for `spec` (shape in the header comment). */
export function renderChart(spec) {
  const style = styles(spec.legend ?? [], spec.panels);
  const sub = wrap(spec.subtitle ?? '', 140).slice(0, 2);
  const headH = 62 + 16 * sub.length;
  const rows = Math.ceil(spec.panels.length / 2);
  const height = headH + rows * (PANEL_H + GAP) + GAP / 2;
  const body = spec.panels.map((p, i) => {
    const x0 = GAP + (i % 2) * (PANEL_W + GAP);
    const y0 = headH + Math.floor(i / 2) * (PANEL_H + GAP);
    return p.kind === 'bars' ? barsPanel(p, x0, y0, style) : linesPanel(p, x0, y0, style);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="chart-title" ${FONT}>`,
    `<title id="chart-title">${esc(spec.title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#fafafa"/>`,
    `<text x="${GAP}" y="26" font-size="17" font-weight="700" fill="#111">${esc(spec.title)}</text>`,
    ...sub.map((line, i) => `<text x="${GAP}" y="${44 + 16 * i}" font-size="12" fill="#555">${esc(line)}</text>`),
    legend(style, headH - 18),
    ...body,
    '</svg>',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}
