// sum, mean and var over inputs reduced over one block of dims (the blocked
// fast path, any layout; sum's and mean's over two blocks too) and over
// other dims, and over views that broadcast along a reduced or a kept dim,
// against compensated float64 references (prod: in-order products; var over
// leading or middle dims held to the generic loops' bound), and max and min
// exactly (with NaNs and signed-zero ties: extremaEdges); prints a digest of
// every result bit so that runs on other ISA paths and thread counts can be
// compared exactly.
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
  cases += extremaEdges(tg, hash, failures);
  return { cases, failures, digest: hash.digest('hex') };
}

// A sequence of n values for max/min with special values placed where the
// kernels' lanes, vector loops and tails would each meet them: 0 random,
// 1 a NaN last, 2 a NaN in the middle, 3 zeros of both signs tying for the
// max (-0 first), 4 the same for the min, 5 all -Infinity.
function edgeValues(n, variant, seed) {
  const v = Array.from(values(n, seed), (x) => Math.fround(x));
  if (variant === 1) v[n - 1] = NaN;
  if (variant === 2) v[n >> 1] = NaN;
  if (variant === 3 || variant === 4)
    for (let i = 0; i < n; i++) v[i] = i % 3 === 1 ? -0 : i % 3 === 2 ? 0 : (variant === 3 ? -1 : 1) * Math.abs(v[i]);
  if (variant === 5) v.fill(-Infinity);
  return v;
}

// The generic loop's result: a later element replaces the current one only
// where it is further out, or NaN while the current one is not.
function refExtremum(xs, max) {
  let a = xs[0];
  for (const v of xs) if (Number.isNaN(v) ? !Number.isNaN(a) : max ? v > a : v < a) a = v;
  return a;
}

// max and min along rows (the rows kernel's chains, vector loop and
// tail) and along columns (the column kernel, strips of the output, narrow
// and split ones), NaN and signed-zero ties exactly as the generic loop.
function extremaEdges(tg, hash, failures) {
  let cases = 0;
  const lengths = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 127, 128, 129, 200, 1000];
  const layouts = [];
  for (const n of lengths) layouts.push(['rows', [3, n], 1], ['columns', [n, 37], 0], ['narrow columns', [2, n, 5], 1]);
  // Many short rows: several rows a kernel call, split over the pool's threads.
  layouts.push(['one long row', [70001], 0], ['split columns', [9, 1100], 0], ['many rows', [1500, 40], 1]);
  for (const dtype of ['float32', 'float64'])
    for (const [kind, shape, dim] of layouts)
      for (let variant = 0; variant < 6; variant++) {
        const n = shape[dim], count = shape.reduce((a, b) => a * b, 1) / n;
        const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
        // Each output's sequence, then laid out so that it runs along dim.
        const seqs = Array.from({ length: count }, (_, k) => edgeValues(n, variant, 7 * k + n + variant));
        const flat = new Float64Array(count * n);
        for (let k = 0; k < count; k++) {
          const o = Math.floor(k / inner), j = k % inner;
          for (let g = 0; g < n; g++) flat[(o * n + g) * inner + j] = seqs[k][g];
        }
        const x = tg.tensor(flat, { shape, dtype });
        for (const op of ['max', 'min']) {
          const got = x[op](dim).data();
          hash.update(Buffer.from(got.map((v) => (Number.isNaN(v) ? 0 : v)).buffer));
          for (let k = 0; k < count; k++) {
            const want = refExtremum(seqs[k], op === 'max');
            if (!(Number.isNaN(want) ? Number.isNaN(got[k]) : Object.is(got[k], want))) {
              failures.push({ label: `${dtype} ${op} ${kind} [${shape}] dim ${dim} variant ${variant}`, index: k, got: got[k], want });
              break;
            }
          }
          cases++;
        }
        x.dispose();
      }
  return cases;
}

module.exports = { runAll };

caseMain(module, runAll, (tg) => ({ threads: tg.getNumThreads() }));
