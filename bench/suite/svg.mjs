// Renders the results as an SVG bar chart: one group per workload, one bar
// per engine, bar length the engine's time relative to tapegrad's on a log
// axis (so GFLOP/s cells and ms/step cells share one scale), each bar
// labelled with the measured figure. Plain string building, no libraries.
const COLORS = { tapegrad: '#1f77b4', 'tfjs-cpu': '#ff7f0e', 'tfjs-wasm': '#2ca02c', 'js-pytorch': '#d62728', plainjs: '#9467bd', pytorch: '#8c564b' };
const LABELS = { tapegrad: 'tapegrad', 'tfjs-cpu': 'TF.js cpu', 'tfjs-wasm': 'TF.js wasm', 'js-pytorch': 'js-pytorch', plainjs: 'plain JS', pytorch: 'PyTorch' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));

export function renderSvg(results) {
  const engines = Object.keys(results.engines).filter((e) => results.engines[e].available);
  const cells = results.cells;
  const ratios = [];
  for (const c of cells) for (const e of engines) if (c.results[e]?.timeRatio) ratios.push(c.results[e].timeRatio);
  const lo = Math.floor(Math.log10(Math.min(1, ...ratios)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(1, ...ratios))));
  const bar = 14, gap = 10, labelW = 190, plotW = 560, left = labelW + 10, top = 70, valueW = 190;
  const groupH = engines.length * bar + gap;
  const height = top + cells.length * groupH + 40 + 20 * Math.ceil(engines.length / 3);
  const width = left + plotW + valueW;
  const x = (r) => left + ((Math.log10(r) - lo) / (hi - lo)) * plotW;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">Time relative to tapegrad (log scale; shorter is faster)</text>`);
  const m = results.machine;
  out.push(`<text x="10" y="36" fill="#444">${esc(`${m.cpu}, ${m.cores} cores, Node ${m.node}, ${results.date.slice(0, 10)}`)}</text>`);
  out.push(`<text x="10" y="52" fill="#444">Labels: the measured median (GFLOP/s for matmul, ms per step, µs per op). Missing bar: n/a, failed or rejected by the correctness check.</text>`);
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + cells.length * groupH}" stroke="${d === 0 ? '#333' : '#ccc'}"/>`);
    out.push(`<text x="${gx}" y="${top - 9}" text-anchor="middle" fill="#444">${d >= 0 ? 10 ** d : (10 ** d).toFixed(-d)}×</text>`);
  }
  cells.forEach((c, i) => {
    const y0 = top + i * groupH;
    out.push(`<text x="${labelW}" y="${y0 + (engines.length * bar) / 2 + 4}" text-anchor="end">${esc(c.id)}</text>`);
    engines.forEach((e, j) => {
      const r = c.results[e];
      const y = y0 + j * bar;
      if (r?.status === 'ok' && r.timeRatio) {
        const x0 = x(10 ** lo), x1 = x(r.timeRatio);
        out.push(`<rect x="${x0}" y="${y + 1}" width="${Math.max(1, x1 - x0)}" height="${bar - 2}" fill="${COLORS[e]}"><title>${esc(`${LABELS[e]}: ${fmt(r.value)} ${c.unit}, ${fmt(r.timeRatio)}× tapegrad's time`)}</title></rect>`);
        out.push(`<text x="${x1 + 4}" y="${y + bar - 3}" fill="#222">${esc(`${fmt(r.value)} ${c.unit}`)}</text>`);
      } else if (r) {
        out.push(`<text x="${x(10 ** lo) + 4}" y="${y + bar - 3}" fill="#999">${esc(`${LABELS[e]}: ${r.status}`)}</text>`);
      }
    });
  });
  const ly = top + cells.length * groupH + 20;
  engines.forEach((e, j) => {
    const lx = 10 + (j % 3) * 200, yy = ly + Math.floor(j / 3) * 20;
    out.push(`<rect x="${lx}" y="${yy - 10}" width="12" height="12" fill="${COLORS[e]}"/><text x="${lx + 18}" y="${yy}">${esc(`${LABELS[e]} ${results.engines[e].version ?? ''}`)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
