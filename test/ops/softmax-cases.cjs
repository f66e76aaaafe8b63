// softmax and logSoftmax along the last dim (the kernel table's
// softmax_rows, with the active ISA's vectorised exp) and along dim 0 of a
// transpose (the same values, moved last by a transposing copy and back;
// with TAPEGRAD_ELEMENTWISE=generic both take softmax_blocks and the C
// library's exp), forward against a float64 reference and the first-order
// backward of the two against each other, float32 and float64. Rows of
// ordinary values, large offsets, -Infinity (masked) entries, and rows that
// give NaN. float32 may differ by the exps' rounding (each within 1 ulp) and
// the product with 1/Σ, float64 by the sums' orders (within the sequential
// sum's bound). Prints a digest of the last-dim bits so that runs on other
// ISA paths can be compared exactly.
'use strict';
const crypto = require('node:crypto');
const { caseMain, rng } = require('../case-main.cjs');

// At least two rows each: the transpose of one row has inner size 1 and
// would take the fast path too.
// Rows of up to 64 are loaded whole (softmax.inc's short rows); 300 of 10
// and 40 of 64 take several rows a load and several blocks of rows.
const SHAPES = [[3, 1], [4, 5], [7, 16], [5, 17], [3, 33], [300, 10], [40, 64], [64, 100], [2, 1000], [2, 3, 19]];

// Row values: ordinary, offset by 1e4 (the shift by the maximum matters),
// or with some entries -Infinity; the last two rows of the larger shapes are
// all -Infinity and have one NaN (both give NaN rows).
function values(shape, seed) {
  const size = shape[shape.length - 1], rows = shape.reduce((a, c) => a * c, 1) / size;
  const r = rng(seed), v = new Float64Array(rows * size);
  for (let i = 0; i < rows; i++) {
    const kind = rows >= 4 && i === rows - 1 ? 'nan' : rows >= 4 && i === rows - 2 ? 'inf' : ['plain', 'offset', 'masked'][i % 3];
    for (let j = 0; j < size; j++) {
      let x = (r() - 0.5) * 30;
      if (kind === 'offset') x += 1e4;
      if (kind === 'masked' && j > 0 && r() < 0.4) x = -Infinity;
      if (kind === 'inf') x = -Infinity;
      if (kind === 'nan' && j === size >> 1) x = NaN;
      v[i * size + j] = x;
    }
  }
  return v;
}

// The last dim moved to the front, softmax along dim 0, moved back.
function viaDim0(tg, fn, x) {
  const n = x.shape.length;
  const front = [n - 1, ...Array.from({ length: n - 1 }, (_, i) => i)];
  const back = [...Array.from({ length: n - 1 }, (_, i) => i + 1), 0];
  return tg.nn.functional[fn](x.permute(front), 0).permute(back);
}

function runAll(tg) {
  const F = tg.nn.functional;
  const failures = [];
  const hash = crypto.createHash('sha1');
  let cases = 0;
  for (const dtype of ['float32', 'float64'])
    for (const shape of SHAPES)
      for (const fn of ['softmax', 'logSoftmax']) {
        cases++;
        const size = shape[shape.length - 1];
        const v = values(shape, cases);
        const gv = Float64Array.from(values(shape, cases + 1000), (x) => (Number.isFinite(x) ? x / 15 : 0.5));
        const g = tg.tensor(gv, { shape, dtype });
        const xa = tg.tensor(v, { shape, dtype, requiresGrad: true });
        const xb = tg.tensor(v, { shape, dtype, requiresGrad: true });
        const ya = F[fn](xa, -1), yb = viaDim0(tg, fn, xb);
        ya.backward(g);
        yb.backward(g);
        const fa = ya.data(), fb = yb.data(), da = xa.grad.data(), db = xb.grad.data(), gd = g.data();
        // NaNs hashed as 0: their sign differs between x86-64 and arm64.
        for (const d of [fa, da]) {
          const bits = d.map((v) => (Number.isNaN(v) ? 0 : v));
          hash.update(Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength));
        }
        // Units in the last place of the dtype; tiny: a floor for values near 0.
        const eps = dtype === 'float32' ? 2 ** -24 : 2 ** -53, tiny = dtype === 'float32' ? 2 ** -140 : 2 ** -1060;
        const same = (a, b, tol) => a === b || (Number.isNaN(a) ? Number.isNaN(b) : Math.abs(a - b) <= tol);
        const fail = (name, i, a, b) => failures.push({ dtype, shape, fn, name, i, fast: a, generic: b });
        const rows = fa.length / size;
        for (let r = 0; r < rows; r++) {
          const o = r * size;
          // Backward bounds from the sums the gradients are made of: softmax
          // y·(g - Σ g·y), logSoftmax g - exp(y)·Σ g.
          let sumGy = 0, sumG = 0;
          for (let j = 0; j < size; j++) {
            sumGy += Math.abs(gd[o + j] * fa[o + j]);
            sumG += Math.abs(gd[o + j]);
          }
          // The reference in float64 from the values as stored.
          const xs = Array.from(xa.data().slice(o, o + size));
          const m = Math.max(...xs), total = xs.reduce((a, x) => a + (x === -Infinity ? 0 : Math.exp(x - m)), 0);
          for (let j = 0; j < size; j++) {
            const i = o + j, y = fa[i];
            const want = fn === 'softmax' ? Math.exp(xs[j] - m) / total : xs[j] - m - Math.log(total);
            // float64 forward: the sum's order (a sequential sum of n positive
            // terms is within (n - 1)·eps of the exact one); float32: the exps'
            // rounding and the product with 1/Σ. NaN rows: NaN, of either sign.
            // Both: x - max rounded in the dtype, an error e^(x - max) carries
            // relatively, |x - max|·eps.
            const rel = (dtype === 'float64' ? size + 2 : 8) * eps + Math.abs(xs[j] - m) * eps;
            const fwdTol = fn === 'softmax' ? rel * Math.abs(y) + tiny : rel * (1 + Math.abs(y));
            const bwdScale = fn === 'softmax' ? Math.abs(y) * (Math.abs(gd[i]) + sumGy) : Math.abs(gd[i]) + Math.exp(y) * sumG;
            const rowIsNaN = xs.some(Number.isNaN) || m === -Infinity;
            if (!rowIsNaN && (!same(y, want, fwdTol) || !same(fb[i], want, fwdTol))) {
              fail('forward', i, y, fb[i]);
              break;
            }
            if (!same(da[i], db[i], 32 * eps * bwdScale + tiny)) {
              fail('backward', i, da[i], db[i]);
              break;
            }
          }
        }
        // The special rows really are NaN on both paths.
        if (rows >= 4 && !(fa.slice(-2 * size).every(Number.isNaN) && fb.slice(-2 * size).every(Number.isNaN)))
          fail('NaN rows', fa.length - 2 * size, fa[fa.length - 1], fb[fb.length - 1]);
      }
  // Rows of up to 64 (32 for float64) are loaded whole; padded with
  // -Infinity past 64 elements the same rows take the loop for long rows,
  // and the padding changes nothing (the maximum stays, e^-Infinity adds 0
  // to the sums, 0·0 to the gradient's): the row's own values and
  // gradients must be the same bits, on this ISA too. NaNs compared as NaN.
  for (const dtype of ['float32', 'float64'])
    for (const size of dtype === 'float32' ? [1, 5, 16, 17, 33, 64] : [1, 5, 16, 17, 32])
      for (const fn of ['softmax', 'logSoftmax']) {
        const rows = 70, v = values([rows, size], size), gv = values([rows, size], size + 500);
        const x = tg.tensor(v, { shape: [rows, size], dtype }), g = tg.tensor(Float64Array.from(gv, (t) => (Number.isFinite(t) ? t / 15 : 0.5)), { shape: [rows, size], dtype });
        const pad = (t, value) => tg.cat([t, tg.full([rows, 80 - size], value, { dtype })], 1);
        const run = (input, gradOut) => {
          const leafIn = input.detach().setRequiresGrad(true);
          const y = F[fn](leafIn, 1);
          const [dx] = tg.grad([y], [leafIn], { gradOutputs: [gradOut] });
          return [y, dx].map((t) => Array.from(t.narrow(1, 0, size).contiguous().data()));
        };
        const short = run(x, g), long = run(pad(x, -Infinity), pad(g, 0));
        const at = short.flatMap((s, k) => s.map((a, i) => [k, i, a, long[k][i]])).find(([, , a, b]) => !(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))));
        if (at) failures.push({ dtype, shape: [rows, size], fn, name: at[0] === 0 ? 'short rows forward' : 'short rows backward', i: at[1], fast: at[2], generic: at[3] });
      }
  return { cases, failures, digest: hash.digest('hex') };
}

module.exports = { runAll };

caseMain(module, runAll);
