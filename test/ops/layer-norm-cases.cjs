// layerNorm forward and first-order backward (with and without weight and
// bias, row lengths around the kernels' 16 lanes, inputs large enough to be
// split across threads) against a float64 reference computed here; prints a
// digest of every result bit so that runs on other ISA paths and thread
// counts can be compared exactly. With weight and bias, the backward again
// for an input that needs no gradient (no dx computed): the same bits of
// dweight and dbias; and for a weight and bias that need none: the same dx.
'use strict';
const { caseMain, firstMismatch, resultDigest, sameBits, spreadValues: values } = require('../case-main.cjs');


// out, dx, dweight, dbias in float64 from the (already rounded) inputs.
function reference(x, g, w, b, rows, cols, eps) {
  const out = new Float64Array(rows * cols), dx = new Float64Array(rows * cols);
  const dw = new Float64Array(cols), db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = 0;
    for (let j = 0; j < cols; j++) m += x[o + j];
    m /= cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (x[o + j] - m) ** 2;
    const rstd = 1 / Math.sqrt(v / cols + eps);
    let sumGh = 0, sumGhx = 0;
    for (let j = 0; j < cols; j++) {
      const xh = (x[o + j] - m) * rstd, gh = g[o + j] * (w ? w[j] : 1);
      out[o + j] = xh * (w ? w[j] : 1) + (b ? b[j] : 0);
      sumGh += gh;
      sumGhx += gh * xh;
      dw[j] += g[o + j] * xh;
      db[j] += g[o + j];
    }
    for (let j = 0; j < cols; j++) {
      const xh = (x[o + j] - m) * rstd, gh = g[o + j] * (w ? w[j] : 1);
      dx[o + j] = rstd * (gh - sumGh / cols - xh * sumGhx / cols);
    }
  }
  return { out, dx, dw, db };
}

const CASES = [
  { shape: [3, 1], affine: true }, { shape: [5, 17], affine: true }, { shape: [4, 16], affine: false },
  { shape: [2, 3, 33], affine: true }, { shape: [96, 1024], affine: true }, { shape: [700, 100], affine: false },
  { shape: [0, 8], affine: true },
];

function runAll(tg) {
  const F = tg.nn.functional;
  const failures = [];
  const { bits, digest } = resultDigest();
  let cases = 0;
  for (const dtype of ['float32', 'float64'])
    for (const { shape, affine } of CASES) {
      cases++;
      const cols = shape[shape.length - 1], n = shape.reduce((a, c) => a * c, 1), rows = n / cols;
      // An offset of 3 makes the mean large against the spread, where a one-pass variance would cancel.
      const x = tg.tensor(values(n, cases, 3), { shape, dtype, requiresGrad: true });
      const g = tg.tensor(values(n, cases + 100), { shape, dtype });
      const w = affine ? tg.tensor(values(cols, cases + 200), { dtype, requiresGrad: true }) : null;
      const b = affine ? tg.tensor(values(cols, cases + 300), { dtype, requiresGrad: true }) : null;
      const eps = 1e-5;
      const y = F.layerNorm(x, [cols], w, b, eps);
      y.backward(g);
      const ref = reference(x.data(), g.data(), w && w.data(), b && b.data(), rows, cols, eps);
      const tol = dtype === 'float32' ? 2e-5 : 1e-12;
      const check = (name, actual, expected) => {
        const i = firstMismatch(actual, expected, tol);
        if (i >= 0) failures.push({ dtype, shape, name, i, actual: actual[i], expected: expected[i] });
      };
      check('out', bits(y), ref.out);
      if (n > 0) check('dx', bits(x.grad), ref.dx);
      if (affine) {
        check('dweight', bits(w.grad), ref.dw);
        check('dbias', bits(b.grad), ref.db);
        const w2 = tg.tensor(w.data(), { dtype, requiresGrad: true }), b2 = tg.tensor(b.data(), { dtype, requiresGrad: true });
        F.layerNorm(x.detach(), [cols], w2, b2, eps).backward(g);
        if (!sameBits(w2.grad.data(), w.grad.data()) || !sameBits(b2.grad.data(), b.grad.data()))
          failures.push({ dtype, shape, name: 'affine gradients without dx differ' });
        // A weight and bias that need no gradient (the kernel's variant
        // without the affine sums): the same dx bits.
        if (n > 0) {
          const x3 = x.detach().setRequiresGrad(true);
          F.layerNorm(x3, [cols], w.detach(), b.detach(), eps).backward(g);
          if (!sameBits(x3.grad.data(), x.grad.data())) failures.push({ dtype, shape, name: 'dx with a frozen weight differs' });
        }
      }
    }
  return { cases, failures, digest: digest() };
}

module.exports = { runAll };

caseMain(module, runAll, (tg) => ({ threads: tg.getNumThreads() }));
