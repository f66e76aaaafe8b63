'use strict';
// Batched matmul where the batch elements share an operand: one broadcast
// over every batch dim (a weight times a stack of inputs, or a stack times a
// weight) or over some of them (W[h, m, k] times X[b, h, k, n], A[b, 1, ...]
// times B[b, h, ...], multi-query attention). The elements are grouped by
// the shared matrix and each group runs on the kernel's batched GEMM (the
// shared matrix packed once per group) wherever the products take the
// packed path. Every element of the result must be bitwise identical to the
// plain 2-D matmul of that element's operands (the same views, so the same
// strides and kernel path), on 1, 2 and 3 threads; a few entries per case
// are also checked against a float64 reference. Shapes sit around the
// blocking parameters of every ISA (MR, NR, KC, NC, MC, the direct-path
// limits). Run by test/ops/linalg.test.ts once per ISA path (TAPEGRAD_ISA)
// and GEMM path (TAPEGRAD_GEMM_PATH); run directly:
//   TAPEGRAD_ISA=avx2 TAPEGRAD_GEMM_PATH=packed node test/ops/matmul-batch-cases.cjs
const { caseMain, rng, sameBits } = require('../case-main.cjs');

// A [...batch, rows, cols] operand in one of these layouts (values outside
// the view are NaN, so reading one poisons the result):
//   n: contiguous; t: each matrix stored transposed; p: the batch dims
//   stored after the rows ([rows, ...batch, cols] permuted), so rows and
//   batch do not merge; g: every other column of a wider row, plus an offset;
//   e: one matrix expanded over the batch dims (stride 0).
function operand(tg, dtype, batch, rows, cols, layout, seed) {
  const rand = rng(seed);
  const nb = batch.length;
  const count = batch.reduce((x, y) => x * y, 1);
  const fill = (n, view) => {
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const data = new Arr(n);
    for (let i = 0; i < n; i++) data[i] = view(i) ? rand() * 2 - 1 : NaN;
    return data;
  };
  switch (layout) {
    case 'n':
      return tg.tensor(fill(count * rows * cols, () => true), { shape: [...batch, rows, cols], dtype });
    case 't':
      return tg.tensor(fill(count * rows * cols, () => true), { shape: [...batch, cols, rows], dtype })
        .transpose(nb, nb + 1);
    case 'p': {
      const stored = tg.tensor(fill(count * rows * cols, () => true), { shape: [rows, ...batch, cols], dtype });
      return stored.permute([...batch.map((_, i) => i + 1), 0, nb + 1]);
    }
    case 'g': {
      const w = 2 * cols + 3;
      const stored = tg.tensor(fill(count * rows * w, (i) => i % w % 2 === 1 && i % w < 2 * cols + 1),
        { shape: [...batch, rows, w], dtype });
      return stored.slice(nb + 1, 1, 2 * cols + 1, 2);
    }
    case 'e':
      return tg.tensor(fill(rows * cols, () => true), { shape: [...batch.map(() => 1), rows, cols], dtype })
        .expand([...batch, rows, cols]);
    default:
      throw new Error(`unknown layout ${layout}`);
  }
}

// The cases: A is [...aBatch, m, k], B is [...bBatch, k, n] (batch dims
// broadcast together; 1 where an operand is shared), with layouts aL and bL.
function cases() {
  const out = [];
  const add = (aBatch, bBatch, m, n, k, aL = 'n', bL = 'n') => out.push({ aBatch, bBatch, m, n, k, aL, bL });
  // One operand shared by every element. sharedA: W·X, `batch` X's batch
  // dims, `lead` W's leading size-1 dims (0: 2-D); sharedB likewise X·W.
  const sharedA = (batch, m, n, k, own = 'n', mine = 'n', lead = 0) =>
    add(Array(lead).fill(1), batch, m, n, k, mine, own);
  const sharedB = (batch, m, n, k, own = 'n', mine = 'n', lead = 0) =>
    add(batch, Array(lead).fill(1), m, n, k, own, mine);
  // Shared A (W·X): depth blocks, NR edges, B blocks across elements (NC), layouts.
  sharedA([3], 37, 53, 401);
  sharedA([4], 13, 35, 1025, 'g', 't');
  for (const n of [1, 17, 31, 33, 47]) sharedA([5], 25, n, 29);
  sharedA([7], 19, 100, 67);
  sharedA([3], 19, 481, 67, 't');
  sharedA([2, 3], 11, 97, 257, 'p', 'n', 1);
  sharedA([4], 300, 40, 450);  // A over 512 KiB: the packed path on every ISA
  sharedA([3], 13, 40, 1024, 'n', 'n');  // A rows 4 KiB apart (f32): packed A
  sharedA([3], 50, 40, 300, 'n', 't');  // column-major A, read in place where allowed
  sharedA([2, 3], 200, 70, 300, 't', 'g', 2);  // large enough to split across threads
  sharedA([5], 1, 33, 40);  // a one-row A
  // Shared B (X·W): MR edges, A blocks across elements (MC), layouts.
  for (const m of [1, 5, 7, 11, 12, 13, 25]) sharedB([5], m, 33, 29, 't');
  sharedB([20], 100, 20, 30, 'p');  // 2000 rows laid end to end: more than MC
  sharedB([3], 20, 50, 400, 't', 't');
  sharedB([2, 2], 64, 130, 385, 'g', 'n', 1);
  sharedB([4], 64, 300, 500, 'n', 'n', 1);  // contiguous X, but W 3-D: one GEMM per element before
  sharedB([8], 70, 260, 200, 't', 'g');  // large enough to split across threads
  sharedB([3], 40, 520, 120, 't', 'g');  // W rows 4 KiB or more apart: the packed path on every ISA
  sharedB([2], 30, 1030, 70, 'p');
  sharedB([3], 9, 1, 50, 'p');  // a one-column B
  // A contiguous stack times a 2-D W, which may run as one product of all
  // the rows: only where the kernel adds up each element as for one element
  // (the direct path for the element, packed for the stack: depth blocks
  // that differ past 256, the same below).
  sharedB([5], 3, 900, 700);
  sharedB([6], 2, 300, 1200);
  sharedB([40], 16, 64, 100);
  sharedB([3], 4, 40, 100);
  // A shared over some batch dims only: W[h, m, k]·X[b, h, k, n] (one group
  // per head), A[b, 1, m, k]·B[b, h, k, n] (one group per b), both layouts.
  add([3], [4, 3], 37, 53, 401);
  add([3], [2, 3], 300, 40, 450, 't', 'p');  // A over 512 KiB; each group splits across threads
  add([4, 1], [4, 3], 19, 481, 67, 'g', 't');
  add([2, 1, 3], [2, 4, 3], 25, 33, 129, 'p', 'g');
  // B shared over some batch dims: X[b, h, m, k]·W[h, k, n], X·W[b, 1, k, n].
  add([2, 3], [3], 64, 130, 385, 't', 'n');
  add([2, 3], [2, 1], 40, 520, 120, 'n', 'g');
  add([3, 2, 4], [3, 1, 4], 100, 20, 30, 'p', 't');
  // Both broadcast: A[b, 1]·B[1, h] (grouped by the operand whose sharing
  // saves the most packing: fewer groups, or the larger matrix on a tie).
  add([4, 1], [1, 3], 40, 33, 300, 'n', 't');
  add([2, 1], [1, 3], 300, 40, 450);
  add([3, 1], [1, 3], 70, 260, 200, 't', 'n');
  add([3, 1], [1, 3], 260, 70, 200, 'n', 'p');
  // Many groups, each too small to split itself: the groups side by side.
  add([24, 1], [24, 2], 48, 48, 48, 'n', 'n');
  add([2, 12], [2, 1], 60, 64, 64, 't', 'g');
  // Multi-query attention: scores Q·Kᵀ with one K per batch, then P·V.
  add([2, 3], [2, 1], 256, 256, 64, 'n', 't');
  add([2, 3], [2, 1], 256, 64, 256, 'n', 'n');
  // Operands expanded (stride 0) rather than broadcast: one shared, or both.
  add([4, 3], [4, 3], 37, 53, 401, 'e', 'n');
  add([4], [4], 40, 33, 300, 'e', 'e');
  // No operand shared (one product per element) and products on the direct
  // path: left to the per-element loop.
  add([4, 3], [4, 3], 37, 53, 401, 'p', 'n');
  add([3], [4, 3], 7, 9, 5);
  add([4, 1], [1, 3], 7, 9, 5, 't', 'n');
  return out;
}

// Element `index` of the broadcast batch: the operand's own batch dims are
// the last ones; a size-1 dim is read at 0.
function pick(t, index) {
  const nb = t.shape.length - 2;
  let v = t;
  for (const i of index.slice(index.length - nb)) v = v.narrow(0, v.shape[0] === 1 ? 0 : i, 1).squeeze(0);
  return v;
}

function runAll(tg) {
  const before = tg.getNumThreads();
  const failures = [];
  let n = 0, checked = 0;
  const fail = (x) => failures.length < 20 && failures.push(x);
  try {
    for (const dtype of ['float32', 'float64']) {
      const eps = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
      cases().forEach((cs, ci) => {
        n++;
        const seed = 100 + ci;
        const a = operand(tg, dtype, cs.aBatch, cs.m, cs.k, cs.aL, seed);
        const b = operand(tg, dtype, cs.bBatch, cs.k, cs.n, cs.bL, seed + 50);
        const nb = Math.max(cs.aBatch.length, cs.bBatch.length);
        const dimOf = (s, d) => (d < nb - s.length ? 1 : s[d - (nb - s.length)]);
        const batch = Array.from({ length: nb }, (_, d) => Math.max(dimOf(cs.aBatch, d), dimOf(cs.bBatch, d)));
        // The reference: one 2-D product per element, on one thread.
        tg.setNumThreads(1);
        const count = batch.reduce((x, y) => x * y, 1);
        const per = [];
        for (let e = 0; e < count; e++) {
          const index = [];
          for (let d = nb - 1, r = e; d >= 0; d--) {
            index.unshift(r % batch[d]);
            r = Math.floor(r / batch[d]);
          }
          const ai = pick(a, index), bi = pick(b, index);
          per.push({ index, a: ai, b: bi, c: ai.matmul(bi).data() });
        }
        for (const threads of [1, 2, 3]) {
          tg.setNumThreads(threads);
          const out = a.matmul(b);
          const data = out.data();
          const size = cs.m * cs.n;
          if (out.shape.join() !== [...batch, cs.m, cs.n].join()) {
            fail({ dtype, ...cs, threads, err: `shape ${out.shape}` });
            continue;
          }
          for (let e = 0; e < count; e++) {
            checked++;
            if (!sameBits(data.subarray(e * size, (e + 1) * size), per[e].c)) {
              fail({ dtype, ...cs, threads, element: e, err: 'differs from the 2-D product of the element' });
              break;
            }
          }
        }
        // A few entries against float64 sums of the operands' values.
        const last = per[count - 1];
        const av = last.a.contiguous().data(), bv = last.b.contiguous().data();
        for (const [i, j] of [[0, 0], [cs.m - 1, cs.n - 1], [cs.m >> 1, cs.n >> 1]]) {
          let s = 0, abs = 0;
          for (let p = 0; p < cs.k; p++) {
            const x = av[i * cs.k + p] * bv[p * cs.n + j];
            s += x;
            abs += Math.abs(x);
          }
          const got = last.c[i * cs.n + j];
          if (!(Math.abs(got - s) <= (cs.k + 4) * eps * abs + 1e-300))
            fail({ dtype, ...cs, err: `C[${i},${j}] of the last element = ${got}, expected ${s}` });
        }
      });
    }
  } finally {
    tg.setNumThreads(before);
  }
  return { cases: n, checked, failures };
}

module.exports = { cases, runAll };

caseMain(module, runAll, () => ({ path: process.env.TAPEGRAD_GEMM_PATH ?? 'auto' }));
