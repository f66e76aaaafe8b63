// sum, mean and var over inputs reduced over one block of dims (the blocked
// fast path, any layout; var's over trailing dims; sum's and mean's over two
// blocks too) and over other dims, and
// over views that broadcast along a reduced or a kept dim,
// against compensated float64 references (prod: in-order products), and max
// and min exactly; prints a digest of every result bit so that runs on
// other ISA paths and thread counts can be compared exactly.
'use strict';
const crypto = require('node:crypto');
const { caseMain } = require('../case-main.cjs');

function values(n, seed) {
  const out = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Mixed signs and magnitudes, so cancellation matters.
    out[i] = ((s / 4294967296) - 0.45) * (i % 7 === 0 ? 1e4 : 1);
  }
  return out;
}

// Neumaier's compensated sum.
function refSum(xs) {
  let s = 0, c = 0;
  for (const x of xs) {
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? (s - t) + x : (x - t) + s;
    s = t;
  }
  return s + c;
}

// The corrected two-pass variance (divisor n - 1) from compensated sums.
function refVar(xs) {
  const n = xs.length, mean = refSum(xs) / n;
  const d = xs.map((x) => x - mean);
  const dev = refSum(d);
  return (refSum(d.map((v) => v * v)) - (dev * dev) / n) / Math.max(0, n - 1);
}

const CASES = [
  [[0], [0]], [[1], [0]], [[17], [0]], [[100003], [0]], [[1 << 19], [0]], [[33, 1001], [1]], [[33, 1001], [0]],
  [[4, 5, 6], [1, 2]], [[4, 5, 6], [0, 1]], [[3, 0], [1]], [[0, 3], [0]], [[12, 40000], [1]], [[40000, 12], [0]],
  [[2, 3, 4], [0, 2]], [[5, 1], [0]], [[128, 256], [0]],
  // Middle dims (column sums per slice, split over columns or over row
  // blocks), dims of size 1 around the reduced block, and a split block.
  [[3, 700, 5], [1]], [[2, 1100, 7], [1]], [[4, 3, 1, 50], [1, 2]], [[6, 1, 9], [0, 2]], [[5, 4, 300], [0, 2]],
  [[8, 2, 3000], [1]],
  // Many short rows (at most 64 elements: summed many rows a call), with and
  // without a partial last 16, and the first length past them.
  [[300, 49], [1]], [[1000, 4], [1]], [[65, 16], [1]], [[9, 64], [1]], [[5, 3, 7], [2]], [[7, 65], [1]],
  // Two blocks with kept dims between (the inner block summed first, then
  // the outer: a batch norm's [N, C, H, W] over N, H, W), and three blocks
  // (the generic loops).
  [[16, 6, 7, 7], [0, 2, 3]], [[3, 5, 2, 9, 6], [1, 3]], [[4, 300, 3, 50], [0, 1, 3]], [[2, 3, 4, 5, 6], [0, 2, 4]],
  // An inner block under 8 elements: its double sums would outweigh a
  // float32 input's quarter, so the generic loops.
  [[4, 6, 3, 2], [0, 3]],
];

function runAll(tg) {
  const failures = [];
  const hash = crypto.createHash('sha1');
  let cases = 0;
  for (const dtype of ['float32', 'float64'])
    for (const [shape, dims] of CASES)
      for (const layout of ['contiguous', 'transposed', 'repeated', 'broadcast']) {
        const n = shape.reduce((a, b) => a * b, 1);
        // repeated: expanded along its first reduced dim of size > 1 (each
        // value counts that many times); broadcast: along its first kept one.
        const expandedDim = layout === 'repeated' ? shape.findIndex((s, d) => s > 1 && dims.includes(d))
          : layout === 'broadcast' ? shape.findIndex((s, d) => s > 1 && !dims.includes(d)) : -1;
        const baseShape = shape.map((s, d) => (d === expandedDim ? 1 : s));
        let x;
        if (layout === 'transposed') {
          if (shape.length < 2) continue;
          x = tg.tensor(values(n, cases + 1), { shape, dtype });
          x = x.transpose(0, 1).contiguous().transpose(0, 1);  // same values, not contiguous
        } else if (layout === 'contiguous') {
          x = tg.tensor(values(n, cases + 1), { shape, dtype });
        } else {
          if (expandedDim < 0) continue;
          x = tg.tensor(values(n / shape[expandedDim], cases + 1), { shape: baseShape, dtype }).expand(shape);
        }
        const xv = x.data();
        // Reference per output over the logical values.
        const nd = shape.length, strides = [];
        let acc = 1;
        for (let d = nd - 1; d >= 0; d--) { strides[d] = acc; acc *= shape[d]; }
        const keptStrides = [];
        let kacc = 1;
        for (let d = nd - 1; d >= 0; d--) { keptStrides[d] = dims.includes(d) ? 0 : kacc; kacc *= dims.includes(d) ? 1 : shape[d]; }
        // prod takes values near 1 (1 + x/10^6, same layout), so that long products stay finite.
        const near1 = x.mul(1e-6).add(1), near1Values = near1.data();
        const groups = Array.from({ length: kacc }, () => []), near1Groups = Array.from({ length: kacc }, () => []);
        for (let i = 0; i < n; i++) {
          let pos = 0;
          for (let d = 0; d < nd; d++) pos += Math.floor(i / strides[d]) % shape[d] * keptStrides[d];
          groups[pos].push(xv[i]);
          near1Groups[pos].push(near1Values[i]);
        }
        for (const op of ['sum', 'mean', 'var', 'max', 'min', 'prod']) {
          // One value repeated 2^19 times: its product underflows, where the
          // in-order reference stalls among the subnormals.
          if (op === 'prod' && layout === 'repeated') continue;
          const extremum = op === 'max' || op === 'min';
          if (extremum && groups.some((g) => g.length === 0)) continue;  // a RangeError, as PyTorch
          const out = op === 'prod' ? near1.prod(dims) : x[op](dims);
          const got = out.data();
          // NaNs hashed as 0: their sign differs between x86-64 and arm64.
          const bits = got.map((v) => (Number.isNaN(v) ? 0 : v));
          hash.update(Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength));
          const label = `${dtype} ${op} [${shape}] dims [${dims}] ${layout}`;
          if (got.length !== groups.length) {
            failures.push({ label, error: `${got.length} outputs, expected ${groups.length}` });
            continue;
          }
          for (let j = 0; j < groups.length; j++) {
            const g = op === 'prod' ? near1Groups[j] : groups[j];
            const exact = op === 'prod'
              ? g.reduce((a, v) => a * v, 1)
              : extremum
              ? g.reduce((a, v) => (op === 'max' ? (v > a ? v : a) : v < a ? v : a))
              : op === 'var' ? refVar(g) : refSum(g) / (op === 'mean' ? g.length : 1);
            const scale = op === 'var' || op === 'prod' ? Math.abs(exact) * (op === 'prod' ? 1 + g.length : 1) : g.reduce((a, v) => a + Math.abs(v), 0) / (op === 'mean' ? g.length : 1);
            const want = dtype === 'float32' ? Math.fround(exact) : exact;
            // The blocked fast path (the reduced dims of size > 1 one block, any
            // layout: a strided one is copied; for var trailing dims) is held
            // to a tighter bound than the generic running sums. sum and mean
            // leave a repeated dim out; other views that broadcast take the
            // generic loops.
            const sumsOnce = layout === 'repeated' && (op === 'sum' || op === 'mean');
            const pattern = (sumsOnce ? baseShape : shape).map((s, d) => (s === 1 ? '' : dims.includes(d) ? 'r' : 'k')).join('');
            const generic = process.env.TAPEGRAD_ELEMENTWISE === 'generic' || (expandedDim >= 0 && !sumsOnce);
            const sizes = (sumsOnce ? baseShape : shape).filter((s) => s !== 1);
            const innerBlock = sizes.slice(pattern.lastIndexOf('k', pattern.lastIndexOf('r')) + 1, pattern.lastIndexOf('r') + 1).reduce((a, b) => a * b, 1);
            const twoBlocks = /^k*r+k+r+k*$/.test(pattern) && innerBlock >= 8;
            const fast = !generic && (op === 'var' ? /^k*r+$/.test(pattern) : /^k*r+k*$/.test(pattern) || twoBlocks);
            const tol = dtype === 'float32' ? 6e-8 * Math.abs(exact) + 1e-12 * scale : (fast ? 2e-14 : 1e-12) * scale;
            const ok = Number.isNaN(exact) ? Number.isNaN(got[j]) : got[j] === want || (!extremum && Math.abs(got[j] - want) <= tol);
            if (!ok) {
              failures.push({ label, index: j, got: got[j], want });
              break;
            }
          }
          cases++;
        }
      }
  return { cases, failures, digest: hash.digest('hex') };
}

module.exports = { runAll };

caseMain(module, runAll, (tg) => ({ threads: tg.getNumThreads() }));
