// Graphs for the backward-scaling bench and the multithreaded backward
// tests. Each builder takes the package (`tg`), a dtype and a seed and
// returns { params, forward() -> scalar loss }: params are leaves that
// require grad; forward records a new graph each call.
'use strict';

// Deterministic values in [-scale, scale] without the global RNG, so workers
// and repeated runs build identical graphs.
function values(tg, shape, dtype, seed, scale) {
  let n = 1;
  for (const s of shape) n *= s;
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * Math.sin(seed * 12.9898 + i * 78.233 + 0.5);
  return tg.tensor(a, { shape, dtype });
}

function param(tg, shape, dtype, seed, scale = 0.05) {
  return values(tg, shape, dtype, seed, scale).setRequiresGrad(true);
}

function linearParams(tg, inF, outF, dtype, seed) {
  return [param(tg, [outF, inF], dtype, seed, 1 / Math.sqrt(inF)), param(tg, [outF], dtype, seed + 0.5, 0.01)];
}

// MNIST-sized MLP step: 784 -> 256 -> 256 -> 10, batch 128, cross-entropy.
function mlp(tg, { dtype = 'float32', seed = 1, batch = 128 } = {}) {
  const F = tg.nn.functional;
  const x = values(tg, [batch, 784], dtype, seed, 1);
  const target = tg.tensor(Array.from({ length: batch }, (_, i) => (i * 7 + seed) % 10), { dtype: 'int32' });
  const l1 = linearParams(tg, 784, 256, dtype, seed + 1);
  const l2 = linearParams(tg, 256, 256, dtype, seed + 2);
  const l3 = linearParams(tg, 256, 10, dtype, seed + 3);
  return {
    params: [...l1, ...l2, ...l3],
    forward() {
      const h1 = F.linear(x, l1[0], l1[1]).relu();
      const h2 = F.linear(h1, l2[0], l2[1]).relu();
      return F.crossEntropy(F.linear(h2, l3[0], l3[1]), target);
    },
  };
}

// Four independent branches over one input, summed (a multi-branch block).
function branches(tg, { dtype = 'float32', seed = 1, batch = 128, width = 512, count = 4 } = {}) {
  const F = tg.nn.functional;
  const x = param(tg, [batch, width], dtype, seed, 1);
  const layers = Array.from({ length: count }, (_, b) => [
    linearParams(tg, width, width, dtype, seed + 10 * b + 1),
    linearParams(tg, width, width, dtype, seed + 10 * b + 2),
  ]);
  return {
    params: [x, ...layers.flat(2)],
    forward() {
      let total = null;
      for (const [a, b] of layers) {
        const y = F.linear(F.linear(x, a[0], a[1]).tanh(), b[0], b[1]);
        total = total === null ? y : total.add(y);
      }
      return total.square().mean();
    },
  };
}

// A stack of residual blocks h = h + W2·relu(W1·h).
function residual(tg, { dtype = 'float32', seed = 1, batch = 128, width = 256, blocks = 4 } = {}) {
  const F = tg.nn.functional;
  const x = values(tg, [batch, width], dtype, seed, 1);
  const layers = Array.from({ length: blocks }, (_, b) => [
    linearParams(tg, width, width, dtype, seed + 10 * b + 1),
    linearParams(tg, width, width, dtype, seed + 10 * b + 2),
  ]);
  return {
    params: layers.flat(2),
    forward() {
      let h = x;
      for (const [a, b] of layers) h = h.add(F.linear(F.linear(h, a[0], a[1]).relu(), b[0], b[1]));
      return h.square().mean();
    },
  };
}

// A transformer encoder block from existing ops: multi-head self-attention
// (q, k, v projections, per-head softmax(q·kᵀ/√d)·v), residual, layer norm,
// a GELU MLP, residual, layer norm.
function transformer(tg, { dtype = 'float32', seed = 1, batch = 4, seq = 64, dim = 256, heads = 4 } = {}) {
  const F = tg.nn.functional;
  const dh = dim / heads;
  const x = values(tg, [batch, seq, dim], dtype, seed, 1);
  const [wq, bq] = linearParams(tg, dim, dim, dtype, seed + 1);
  const [wk, bk] = linearParams(tg, dim, dim, dtype, seed + 2);
  const [wv, bv] = linearParams(tg, dim, dim, dtype, seed + 3);
  const [wo, bo] = linearParams(tg, dim, dim, dtype, seed + 4);
  const [w1, b1] = linearParams(tg, dim, 4 * dim, dtype, seed + 5);
  const [w2, b2] = linearParams(tg, 4 * dim, dim, dtype, seed + 6);
  const g1 = param(tg, [dim], dtype, seed + 7, 1), n1 = param(tg, [dim], dtype, seed + 8, 0.1);
  const g2 = param(tg, [dim], dtype, seed + 9, 1), n2 = param(tg, [dim], dtype, seed + 10, 0.1);
  const split = (t) => t.reshape(batch, seq, heads, dh).permute(0, 2, 1, 3);
  return {
    params: [wq, bq, wk, bk, wv, bv, wo, bo, w1, b1, w2, b2, g1, n1, g2, n2],
    forward() {
      const q = split(F.linear(x, wq, bq)), k = split(F.linear(x, wk, bk)), v = split(F.linear(x, wv, bv));
      const scores = tg.matmul(q, k.transpose(-1, -2)).mul(1 / Math.sqrt(dh));
      const ctx = tg.matmul(F.softmax(scores, -1), v).permute(0, 2, 1, 3).reshape(batch, seq, dim);
      const h = F.layerNorm(x.add(F.linear(ctx, wo, bo)), [dim], g1, n1);
      const m = F.linear(F.linear(h, w1, b1).gelu(), w2, b2);
      return F.layerNorm(h.add(m), [dim], g2, n2).square().mean();
    },
  };
}

// Multi-head self-attention written head by head (separate projections per
// head, as in per-head implementations): many small independent branches whose
// GEMMs are each below the kernels' parallel threshold.
function heads(tg, { dtype = 'float32', seed = 1, seq = 64, dim = 256, count = 8 } = {}) {
  const F = tg.nn.functional;
  const dh = dim / count;
  const x = values(tg, [seq, dim], dtype, seed, 1);
  const projections = Array.from({ length: count }, (_, h) =>
    [1, 2, 3].map((j) => linearParams(tg, dim, dh, dtype, seed + 10 * h + j)));
  const [wo, bo] = linearParams(tg, dim, dim, dtype, seed + 10 * count + 1);
  return {
    params: [...projections.flat(2), wo, bo],
    forward() {
      const ctx = projections.map(([pq, pk, pv]) => {
        const q = F.linear(x, pq[0], pq[1]), k = F.linear(x, pk[0], pk[1]), v = F.linear(x, pv[0], pv[1]);
        return tg.matmul(F.softmax(tg.matmul(q, k.transpose(0, 1)).mul(1 / Math.sqrt(dh)), -1), v);
      });
      return F.linear(tg.cat(ctx, 1), wo, bo).square().mean();
    },
  };
}

module.exports = { mlp, branches, residual, transformer, heads };
