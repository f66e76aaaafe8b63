// conv2d's values and gradients on a few layouts, printed whole, so that a
// run with TAPEGRAD_CONV_CHUNK_BYTES (one image per chunk) can be compared
// with one that takes the whole batch at once (conv.test.ts).
'use strict';
const { caseMain } = require('../case-main.cjs');

const CASES = [
  { x: [5, 4, 6, 7], w: [6, 2, 3, 3], opts: { groups: 2, padding: 1, stride: [2, 1] } },
  { x: [3, 3, 5, 5], w: [2, 3, 2, 2], opts: { dilation: 2 } },
  { x: [4, 2, 4, 4], w: [3, 2, 3, 3], opts: { padding: 'same' }, frozenWeight: true },
  { x: [4, 2, 4, 4], w: [3, 2, 3, 3], opts: { padding: 1 }, frozenInput: true },
  // Products long enough (L >= 128) that GEMM's route depends on which
  // side is the product's rows: the weight gradient must take the same
  // products on the split and the batched paths.
  { x: [3, 1, 28, 28], w: [8, 1, 3, 3], opts: { padding: 1 } },
  { x: [4, 3, 16, 16], w: [8, 3, 3, 3], opts: { padding: 1 } },
];

function runAll(tg) {
  const F = tg.nn.functional;
  const results = CASES.map((c, i) => tg.tidy(() => {
    tg.manualSeed(10 + i);
    const x = tg.randn(c.x, { dtype: 'float64' }).setRequiresGrad(!c.frozenInput);
    const w = tg.randn(c.w, { dtype: 'float64' }).setRequiresGrad(!c.frozenWeight);
    const b = tg.randn([c.w[0]], { dtype: 'float64' }).setRequiresGrad(true);
    const y = F.conv2d(x, w, b, c.opts);
    y.mul(tg.randn(y.shape, { dtype: 'float64' })).sum().backward();
    const grad = (t) => (t.grad ? Array.from(t.grad.data()) : null);
    return { y: Array.from(y.data()), dx: grad(x), dw: grad(w), db: grad(b) };
  }));
  return { chunkBytes: process.env.TAPEGRAD_CONV_CHUNK_BYTES ?? null, results, failures: [] };
}

caseMain(module, runAll);
module.exports = { runAll };
