// batchNorm in training, forward and first-order backward (with and without
// weight and bias, runs per channel and sample around the 16 at which the
// kernels switch from columns to lanes, inputs large enough to be split
// across threads) against a float64 reference computed here; prints a
// digest of every result bit so that runs on other ISA paths and thread
// counts can be compared exactly.
'use strict';
const { caseMain, firstMismatch, resultDigest, spreadValues: values } = require('../case-main.cjs');


// out, dx, dweight, dbias in float64 from the (already rounded) inputs, x as [N, C, S].
function reference(x, g, w, b, n, c, s, eps) {
  const out = new Float64Array(n * c * s), dx = new Float64Array(n * c * s);
  const dw = new Float64Array(c), db = new Float64Array(c);
  const count = n * s;
  for (let k = 0; k < c; k++) {
    const at = (i, j) => (i * c + k) * s + j;
    let m = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) m += x[at(i, j)];
    m /= count;
    let v = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) v += (x[at(i, j)] - m) ** 2;
    const rstd = 1 / Math.sqrt(v / count + eps), wk = w ? w[k] : 1;
    let sumG = 0, sumGx = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < s; j++) {
        const xh = (x[at(i, j)] - m) * rstd;
        out[at(i, j)] = xh * wk + (b ? b[k] : 0);
        sumG += g[at(i, j)];
        sumGx += g[at(i, j)] * xh;
      }
    dw[k] = sumGx;
    db[k] = sumG;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < s; j++) {
        const xh = (x[at(i, j)] - m) * rstd;
        dx[at(i, j)] = wk * rstd * (g[at(i, j)] - sumG / count - xh * sumGx / count);
      }
  }
  return { out, dx, dw, db };
}

const CASES = [
  { shape: [5, 3], affine: true }, { shape: [4, 2, 15], affine: false }, { shape: [3, 2, 4, 4], affine: true },
  { shape: [3, 3, 17], affine: true }, { shape: [2, 4, 7, 7], affine: false }, { shape: [16384, 4], affine: true },
  { shape: [64, 4, 512], affine: true },
];

function runAll(tg) {
  const F = tg.nn.functional;
  const failures = [];
  const { bits, digest } = resultDigest();
  let cases = 0;
  for (const dtype of ['float32', 'float64'])
    for (const { shape, affine } of CASES) {
      cases++;
      const [n, c] = shape, size = shape.reduce((a, v) => a * v, 1), s = size / (n * c);
      // An offset of 3 makes the mean large against the spread, where a one-pass variance would cancel.
      const x = tg.tensor(values(size, cases, 3), { shape, dtype, requiresGrad: true });
      const g = tg.tensor(values(size, cases + 100), { shape, dtype });
      const w = affine ? tg.tensor(values(c, cases + 200), { dtype, requiresGrad: true }) : null;
      const b = affine ? tg.tensor(values(c, cases + 300), { dtype, requiresGrad: true }) : null;
      const eps = 1e-5;
      const runningMean = tg.zeros([c], { dtype }), runningVar = tg.ones([c], { dtype });
      const y = F.batchNorm(x, runningMean, runningVar, { training: true, weight: w, bias: b, eps });
      y.backward(g);
      bits(runningMean);
      bits(runningVar);
      const ref = reference(x.data(), g.data(), w && w.data(), b && b.data(), n, c, s, eps);
      const tol = dtype === 'float32' ? 5e-5 : 1e-11;
      const check = (name, actual, expected) => {
        const i = firstMismatch(actual, expected, tol);
        if (i >= 0) failures.push({ dtype, shape, name, i, actual: actual[i], expected: expected[i] });
      };
      check('out', bits(y), ref.out);
      check('dx', bits(x.grad), ref.dx);
      if (affine) {
        check('dweight', bits(w.grad), ref.dw);
        check('dbias', bits(b.grad), ref.db);
      }
    }
  return { cases, failures, digest: digest() };
}

module.exports = { runAll };

caseMain(module, runAll, (tg) => ({ threads: tg.getNumThreads() }));
