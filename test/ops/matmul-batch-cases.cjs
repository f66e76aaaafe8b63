'use strict';
// Batched matmul with one operand shared by every batch element (a weight
// times a stack of inputs, or a stack times a weight), which runs on the
// kernel's batched GEMM (the shared operand packed once for all elements)
// wherever the products take the packed path. Every element of the result
// must be bitwise identical to the plain 2-D matmul of that element's
// operands (the same views, so the same strides and kernel path), on 1, 2
// and 3 threads; a few entries per case are also checked against a float64
// reference. Shapes sit around the blocking parameters of every ISA (MR,
// NR, KC, NC, MC, the direct-path limits). Run by test/ops/linalg.test.ts
// once per ISA path (TAPEGRAD_ISA) and GEMM path (TAPEGRAD_GEMM_PATH); run
// directly:
//   TAPEGRAD_ISA=avx2 TAPEGRAD_GEMM_PATH=packed node test/ops/matmul-batch-cases.cjs
const { caseMain, rng, sameBits } = require('../case-main.cjs');

// A [...batch, rows, cols] operand in one of these layouts (values outside
// the view are NaN, so reading one poisons the result):
//   n: contiguous; t: each matrix stored transposed; p: the batch dims
//   stored after the rows ([rows, ...batch, cols] permuted), so rows and
//   batch do not merge; g: every other column of a wider row, plus an offset.
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
    default:
      throw new Error(`unknown layout ${layout}`);
  }
}

// The cases: `shared` is the operand every element shares ('A': W·X, 'B':
// X·W); `batch` the other operand's batch dims; `lead` the shared operand's
// leading size-1 dims (0: 2-D); m×k times k×n per element.
function cases() {
  const out = [];
  const add = (shared, batch, m, n, k, own = 'n', mine = 'n', lead = 0) =>
    out.push({ shared, batch, m, n, k, own, mine, lead });
  // Shared A (W·X): depth blocks, NR edges, B blocks across elements (NC), layouts.
  add('A', [3], 37, 53, 401);
  add('A', [4], 13, 35, 1025, 'g', 't');
  for (const n of [1, 17, 31, 33, 47]) add('A', [5], 25, n, 29);
  add('A', [7], 19, 100, 67);
  add('A', [3], 19, 481, 67, 't');
  add('A', [2, 3], 11, 97, 257, 'p', 'n', 1);
  add('A', [4], 300, 40, 450);  // A over 512 KiB: the packed path on every ISA
  add('A', [3], 13, 40, 1024, 'n', 'n');  // A rows 4 KiB apart (f32): packed A
  add('A', [3], 50, 40, 300, 'n', 't');  // column-major A, read in place where allowed
  add('A', [2, 3], 200, 70, 300, 't', 'g', 2);  // large enough to split across threads
  add('A', [5], 1, 33, 40);  // a one-row A
  // Shared B (X·W): MR edges, A blocks across elements (MC), layouts.
  for (const m of [1, 5, 7, 11, 12, 13, 25]) add('B', [5], m, 33, 29, 't');
  add('B', [20], 100, 20, 30, 'p');  // 2000 rows laid end to end: more than MC
  add('B', [3], 20, 50, 400, 't', 't');
  add('B', [2, 2], 64, 130, 385, 'g', 'n', 1);
  add('B', [4], 64, 300, 500, 'n', 'n', 1);  // contiguous X, but W 3-D: one GEMM per element before
  add('B', [8], 70, 260, 200, 't', 'g');  // large enough to split across threads
  add('B', [3], 40, 520, 120, 't', 'g');  // W rows 4 KiB or more apart: the packed path on every ISA
  add('B', [2], 30, 1030, 70, 'p');
  add('B', [3], 9, 1, 50, 'p');  // a one-column B
  return out;
}

function pick(t, index) {
  let v = t;
  for (let d = 0; d < index.length; d++) v = v.narrow(0, v.shape[0] === 1 ? 0 : index[d], 1).squeeze(0);
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
        const own = cs.shared === 'A'
          ? operand(tg, dtype, cs.batch, cs.k, cs.n, cs.own, seed)
          : operand(tg, dtype, cs.batch, cs.m, cs.k, cs.own, seed);
        const lead = Array(cs.lead).fill(1);
        const shared = cs.shared === 'A'
          ? operand(tg, dtype, lead, cs.m, cs.k, cs.mine, seed + 50)
          : operand(tg, dtype, lead, cs.k, cs.n, cs.mine, seed + 50);
        const [a, b] = cs.shared === 'A' ? [shared, own] : [own, shared];
        // The reference: one 2-D product per element, on one thread.
        tg.setNumThreads(1);
        const count = cs.batch.reduce((x, y) => x * y, 1);
        const per = [];
        for (let e = 0; e < count; e++) {
          const index = [];
          for (let d = cs.batch.length - 1, r = e; d >= 0; d--) {
            index.unshift(r % cs.batch[d]);
            r = Math.floor(r / cs.batch[d]);
          }
          const ai = cs.shared === 'A' ? pick(a, lead.map(() => 0)) : pick(a, index);
          const bi = cs.shared === 'B' ? pick(b, lead.map(() => 0)) : pick(b, index);
          per.push({ index, a: ai, b: bi, c: ai.matmul(bi).data() });
        }
        for (const threads of [1, 2, 3]) {
          tg.setNumThreads(threads);
          const out = a.matmul(b);
          const data = out.data();
          const size = cs.m * cs.n;
          if (out.shape.join() !== [...cs.batch, cs.m, cs.n].join()) {
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
