// The workloads of `npm run bench`: their shapes, and the seeded data every
// engine receives. The data is generated once here, written to files by the
// runner, and each engine process reads those same bytes, so every engine
// starts from identical inputs and weights.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Deterministic uniform floats in [lo, hi) (mulberry32). */
export function uniform(n, seed, lo = -1, hi = 1) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * r;
  }
  return out;
}

function intsBelow(n, seed, limit) {
  const u = uniform(n, seed, 0, 1);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(limit - 1, Math.floor(u[i] * limit));
  return out;
}

/** PyTorch's default Linear init range, so activations stay in range; weights stored [in, out]. */
const linearWeight = (fanIn, fanOut, seed) => uniform(fanIn * fanOut, seed, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
const linearBias = (fanIn, fanOut, seed) => uniform(fanOut, seed, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));

/**
 * The benchmark cells. `size` 'full' is the published configuration; 'tiny'
 * keeps the same structure on small shapes for the smoke test.
 */
export function cells(size = 'full') {
  const tiny = size === 'tiny';
  const list = [];
  for (const n of tiny ? [8, 16] : [128, 256, 512, 1024])
    list.push({ id: `matmul ${n}`, workload: 'matmul', params: { m: n, k: n, n, layout: 'nn' } });
  const [m, k, n] = tiny ? [4, 12, 6] : [128, 784, 256];
  // A layer's step: Y = X·W (nn), dW = Xᵀ·dY (tn), dX = dY·Wᵀ (nt).
  list.push({ id: `matmul ${m}x${k}x${n} A·B`, workload: 'matmul', params: { m, k, n, layout: 'nn' } });
  list.push({ id: `matmul ${k}x${m}x${n} Aᵀ·B`, workload: 'matmul', params: { m: k, k: m, n, layout: 'tn' } });
  list.push({ id: `matmul ${m}x${n}x${k} A·Bᵀ`, workload: 'matmul', params: { m, k: n, n: k, layout: 'nt' } });
  list.push({
    id: 'mlp step',
    workload: 'mlp',
    params: tiny ? { batch: 8, sizes: [12, 8, 8, 4], lr: 0.01 } : { batch: 128, sizes: [784, 256, 256, 10], lr: 0.01 },
  });
  list.push({ id: 'elementwise op', workload: 'elementwise', params: { length: 16, ops: tiny ? 100 : 1000 } });
  list.push({
    id: 'transformer step',
    workload: 'transformer',
    params: tiny
      ? { batch: 2, seq: 4, width: 8, heads: 2, hidden: 16, lr: 0.01 }
      : { batch: 16, seq: 64, width: 128, heads: 4, hidden: 512, lr: 0.01 },
  });
  // An MNIST-sized CNN: conv 3×3 (padding 1) → ReLU → max-pool 2, twice, then a linear head.
  list.push({
    id: 'conv step',
    workload: 'conv',
    params: tiny
      ? { batch: 2, size: 8, channels: [1, 2, 4], classes: 3, lr: 0.01 }
      : { batch: 32, size: 28, channels: [1, 8, 16], classes: 10, lr: 0.01 },
  });
  return list;
}

/** The named arrays of one cell, generated from fixed seeds. */
export function generate(cell) {
  const p = cell.params;
  switch (cell.workload) {
    case 'matmul': {
      // A is m×k, B is k×n; a 't' in the layout means that operand is stored transposed.
      return { a: uniform(p.m * p.k, 11), b: uniform(p.k * p.n, 12) };
    }
    case 'mlp': {
      const [d0, d1, d2, d3] = p.sizes;
      return {
        x: uniform(p.batch * d0, 21, 0, 1),
        y: intsBelow(p.batch, 22, d3),
        w1: linearWeight(d0, d1, 23), b1: linearBias(d0, d1, 24),
        w2: linearWeight(d1, d2, 25), b2: linearBias(d1, d2, 26),
        w3: linearWeight(d2, d3, 27), b3: linearBias(d2, d3, 28),
      };
    }
    case 'elementwise': {
      // y ← y·a then y ← y + b, repeated: factors near 1 keep values bounded over 1000 ops.
      return { x: uniform(p.length, 31), a: uniform(p.length, 32, 0.99, 1.01), b: uniform(p.length, 33, -0.01, 0.01) };
    }
    case 'transformer': {
      const { batch, seq, width: c, hidden } = p;
      const ones = new Float32Array(c).fill(1);
      return {
        x: uniform(batch * seq * c, 41), target: uniform(batch * seq * c, 42),
        ln1w: ones, ln1b: new Float32Array(c), ln2w: ones, ln2b: new Float32Array(c),
        wq: linearWeight(c, c, 43), bq: linearBias(c, c, 44),
        wk: linearWeight(c, c, 45), bk: linearBias(c, c, 46),
        wv: linearWeight(c, c, 47), bv: linearBias(c, c, 48),
        wo: linearWeight(c, c, 49), bo: linearBias(c, c, 50),
        w1: linearWeight(c, hidden, 51), b1: linearBias(c, hidden, 52),
        w2: linearWeight(hidden, c, 53), b2: linearBias(hidden, c, 54),
      };
    }
    case 'conv': {
      const { batch, size, channels: [c0, c1, c2], classes } = p;
      const flat = c2 * (size / 4) * (size / 4);
      // Conv weights [out, in, 3, 3] with PyTorch's default bound 1/sqrt(in·9).
      const conv = (cin, cout, seed) => uniform(cout * cin * 9, seed, -1 / Math.sqrt(cin * 9), 1 / Math.sqrt(cin * 9));
      const convBias = (cin, cout, seed) => uniform(cout, seed, -1 / Math.sqrt(cin * 9), 1 / Math.sqrt(cin * 9));
      return {
        x: uniform(batch * c0 * size * size, 61, 0, 1),
        y: intsBelow(batch, 62, classes),
        k1: conv(c0, c1, 63), kb1: convBias(c0, c1, 64),
        k2: conv(c1, c2, 65), kb2: convBias(c1, c2, 66),
        w: linearWeight(flat, classes, 67), b: linearBias(flat, classes, 68),
      };
    }
    default:
      return {};
  }
}

/** Writes a cell's arrays as raw little-endian files plus a manifest; returns the manifest path. */
export function writeData(dir, index, arrays) {
  const manifest = {};
  for (const [name, arr] of Object.entries(arrays)) {
    const file = path.join(dir, `${index}-${name}.bin`);
    writeFileSync(file, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    manifest[name] = { file, dtype: arr instanceof Int32Array ? 'int32' : 'float32', length: arr.length };
  }
  const file = path.join(dir, `${index}-manifest.json`);
  writeFileSync(file, JSON.stringify(manifest));
  return file;
}

/** Reads the arrays a manifest names. */
export function readData(manifestFile) {
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  const out = {};
  for (const [name, { file, dtype }] of Object.entries(manifest)) {
    const bytes = readFileSync(file);
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    out[name] = dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  }
  return out;
}

/** Indices of the matmul output entries every engine reports for the correctness check. */
export function sampleIndices(m, n, count = 32) {
  const out = [];
  for (let i = 0; i < count; i++) out.push(((i * 7919) % m) * n + ((i * 104729) % n));
  return out;
}

/** Float64 reference for the sampled entries of C = op(A)·op(B). */
export function matmulReference(params, a, b) {
  const { m, k, n, layout } = params;
  return sampleIndices(m, n).map((idx) => {
    const i = Math.floor(idx / n), j = idx % n;
    let s = 0;
    for (let p = 0; p < k; p++) {
      const av = layout === 'tn' ? a[p * m + i] : a[i * k + p];
      const bv = layout === 'nt' ? b[j * k + p] : b[p * n + j];
      s += av * bv;
    }
    return s;
  });
}
