'use strict';
// Batched GEMM kernel checks (kernel table entries gemm_batch_f32/f64,
// through native._testGemmBatch) shared by test/kernels/gemm.test.ts and the
// child processes it starts with TAPEGRAD_ISA set. Each case runs the batch
// on 1, 2 and 3 threads; where the kernel takes the products, every C_e must
// be bitwise what native._testGemm (the plain GEMM) gives for that element
// alone, and where it declines, C must be untouched. Whether it takes them
// is checked too: never with column-major C or not exactly one shared
// operand; always with the packed path forced; never where each product
// takes the direct path (forced, or by size). Run directly:
//   TAPEGRAD_ISA=avx2 TAPEGRAD_GEMM_PATH=packed node test/kernels/gemm-batch-cases.cjs
// prints one JSON line: { isa, path, cases, checked, ran, declined, failures }.
const { caseMain, rng, sameBits } = require('../case-main.cjs');
const { kernelRoute } = require('./gemm-cases.cjs');

// `count` matrices of rows×cols in one typed array, all with the same
// strides, at offsets[e]; fill(value) sets their elements. Elements outside
// the views are NaN, so reading one poisons the result.
//   n: row-major, end to end; t: column-major, end to end; sn: row-major
//   with padded rows, gaps between matrices and an offset; st: column-major
//   with padding (a column-major C: the kernel declines it); g: both strides
//   non-unit; neg: negative row stride; p: the matrices' rows interleaved
//   ([rows, count, cols] storage); rep: two matrices, used alternately (read
//   only operands).
function batchViews(Arr, count, rows, cols, layout, rand) {
  let rs, cs, size;
  let at = (e) => e * rows * cols;
  switch (layout) {
    case 'n': rs = cols; cs = 1; size = count * rows * cols; break;
    case 't': rs = 1; cs = rows; size = count * rows * cols; break;
    case 'sn': rs = cols + 3; cs = 1; at = (e) => 5 + e * (rows * rs + 7); size = at(count); break;
    case 'st': rs = 1; cs = rows + 2; at = (e) => 2 + e * cols * cs; size = at(count); break;
    case 'g': rs = 2 * cols + 1; cs = 2; at = (e) => 1 + e * rows * rs; size = at(count); break;
    case 'neg':
      rs = -cols; cs = 1; at = (e) => e * rows * cols + Math.max(0, rows - 1) * cols; size = count * rows * cols;
      break;
    case 'p': rs = count * cols; cs = 1; at = (e) => e * cols; size = count * rows * cols; break;
    case 'rep': rs = cols; cs = 1; at = (e) => (e % 2) * rows * cols; size = 2 * rows * cols; break;
    default: throw new Error(`unknown layout ${layout}`);
  }
  const data = new Arr(Math.max(size, 1)).fill(NaN);
  const offsets = [];
  for (let e = 0; e < count; e++) offsets.push(at(e));
  const fill = (value) => {
    for (const off of offsets)
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[off + i * rs + j * cs] = value(rand);
    return view;
  };
  const view = { data, offsets, rs, cs, rows, cols, fill };
  return view;
}

const OWN_LAYOUTS = ['n', 't', 'sn', 'g', 'neg', 'p', 'rep'];
const SHARED_LAYOUTS = ['n', 't', 'sn', 'st', 'g', 'neg'];
const C_LAYOUTS = ['n', 'sn', 'g', 'p'];

// The cases. shared: 'A' (one A, a B per element), 'B', or 'both' / 'none'
// (not what the kernel is built for: it must decline); own / mine: layouts of
// the per-element and the shared operand; cL: C's layout.
function cases() {
  const out = [];
  const scalars = [[1, 0], [1, 1], [-0.5, 2], [2.5, 0], [1, -1.5], [0.75, 0.25]];
  let idx = 0;
  const add = (shared, count, m, n, k, extra = {}) => {
    const [alpha, beta] = extra.ab ?? scalars[idx % scalars.length];
    out.push({
      shared, count, m, n, k, alpha, beta,
      own: extra.own ?? OWN_LAYOUTS[idx % OWN_LAYOUTS.length],
      mine: extra.mine ?? SHARED_LAYOUTS[Math.floor(idx / 3) % SHARED_LAYOUTS.length],
      cL: extra.cL ?? C_LAYOUTS[idx % C_LAYOUTS.length],
      seed: 5000 + idx, nanA: extra.nanA ?? false,
    });
    idx++;
  };
  const both = (count, m, n, k, extra) => {
    add('A', count, m, n, k, extra);
    add('B', count, m, n, k, extra);
  };
  // Every pair of layouts of the two operands.
  for (const own of OWN_LAYOUTS) for (const mine of SHARED_LAYOUTS) both(3, 37, 53, 401, { own, mine });
  // Every C layout (t and st column-major: declined), on a product that
  // packs and on one small enough for the direct path.
  for (const cL of [...C_LAYOUTS, 't', 'st'])
    for (const [m, n, k] of [[37, 53, 401], [7, 9, 5]]) both(3, m, n, k, { cL });
  // Counts 1 to several; the shared operand's blocks reused across elements.
  for (const count of [1, 2, 3, 5, 8]) both(count, 40, 33, 70);
  // Micro-tile edges (MR = 4/6/8/12, NR = 4/6/8/12/16/32): partial tiles of
  // one element beside full tiles of the next.
  for (const m of [1, 5, 11, 12, 13, 25]) for (const n of [1, 15, 16, 17, 31, 32, 33, 47]) both(3, m, n, 29);
  // Depth blocks (KC = 256 / 384 / 512).
  for (const k of [255, 256, 257, 383, 384, 385, 511, 512, 513, 769]) both(2, 13, 35, k);
  // B blocks (NC = 64 / 126 / 128 / 240 / 252 / 256 / 480) over the
  // B_e laid end to end (A shared), some straddling two elements.
  for (const n of [63, 64, 65, 127, 128, 129, 239, 240, 241, 255, 256, 257, 479, 480, 481]) add('A', 3, 19, n, 67);
  add('A', 8, 19, 33, 67);
  add('A', 7, 19, 100, 67);
  // A blocks (MC = 768 / 1536 rows) over the A_e laid end to end (B shared).
  add('B', 16, 100, 20, 30);
  for (const m of [127, 128, 129]) add('B', 13, m, 21, 19);
  for (const m of [767, 768, 769, 1535, 1536, 1537]) add('B', 2, m, 9, 11);
  // Several B column blocks: row blocks of one element's rows (tall A)
  // on some ISAs and dtypes, of several elements on others.
  add('B', 4, 300, 260, 30, { own: 'n', mine: 't' });
  add('B', 3, 500, 700, 20, { own: 'g', mine: 'n', cL: 'n' });
  add('B', 5, 61, 1000, 33);
  // Large enough to split across threads; A over 512 KiB and B rows 4 KiB
  // apart (the packed path by size on every ISA).
  add('A', 4, 300, 40, 450, { own: 'n', mine: 'n', cL: 'n' });
  add('A', 3, 200, 70, 300, { own: 'g', mine: 't' });
  add('B', 6, 70, 260, 200, { own: 't', mine: 'g' });
  add('B', 3, 40, 1030, 120, { own: 'p', mine: 'n', cL: 'n' });
  // A shared, column-major, 128 rows (steps along k 512 bytes apart or a
  // multiple): each element packed from 128 columns on avx2, direct below.
  add('A', 3, 128, 128, 100, { own: 'n', mine: 't' });
  add('A', 2, 128, 127, 64, { own: 'n', mine: 't', cL: 'n' });
  // Matrix-vector products (one row or column per element) swept four
  // elements at a time over the shared long operand: vector counts around
  // 4, outputs past one 512-wide strip, lane and row-block tails, threads.
  for (const count of [1, 3, 4, 5, 9]) {
    add('B', count, 1, 1100, 37, { own: 'n', mine: 'n' });
    add('A', count, 600, 1, 23, { own: 'n', mine: 't' });
  }
  add('B', 13, 1, 700, 1500, { own: 'n', mine: 'n', cL: 'n' });
  add('A', 6, 1200, 1, 900, { own: 't', mine: 't' });
  // Up to 12 columns of B per element against a shared transposed A: the
  // elements' columns swept together, four vectors a pass, groups spanning
  // two elements.
  for (const n of [3, 5, 12]) add('A', 3, 600, n, 23, { own: 'n', mine: 't' });
  add('A', 2, 1100, 7, 300, { own: 't', mine: 't' });
  // k = 0 (A and B not read; C scaled by beta, NaN ignored with beta = 0),
  // alpha = 0 (NaN in A ignored), empty C.
  both(3, 5, 7, 0, { ab: [1, 0] });
  both(3, 5, 7, 0, { ab: [1, 2] });
  both(3, 64, 65, 66, { ab: [0, 0], nanA: true });
  both(2, 6, 9, 17, { ab: [0, -2], nanA: true });
  both(3, 0, 7, 5);
  both(3, 7, 0, 5);
  // Not exactly one shared operand.
  for (const shared of ['both', 'none']) add(shared, 3, 37, 53, 401);
  return out;
}

// The operands of a case; the A and B offsets the hook takes (one number for
// a shared matrix, an array for per-element ones).
function prepare(dtype, cs) {
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const rand = rng(cs.seed);
  const val = (r) => r() * 2 - 1;
  const aShared = cs.shared === 'A' || cs.shared === 'both';
  const bShared = cs.shared === 'B' || cs.shared === 'both';
  const a = batchViews(Arr, aShared ? 1 : cs.count, cs.m, cs.k, aShared ? cs.mine : cs.own, rand)
    .fill(cs.nanA ? () => NaN : val);
  const b = batchViews(Arr, bShared ? 1 : cs.count, cs.k, cs.n, bShared ? cs.mine : cs.own, rand).fill(val);
  const c = batchViews(Arr, cs.count, cs.m, cs.n, cs.cL, rand).fill(cs.beta === 0 ? () => NaN : val);
  const aArg = aShared ? a.offsets[0] : a.offsets;
  const bArg = bShared ? b.offsets[0] : b.offsets;
  // Element e's offsets, for the plain GEMM.
  const aOf = (e) => (aShared ? a.offsets[0] : a.offsets[e]);
  const bOf = (e) => (bShared ? b.offsets[0] : b.offsets[e]);
  return { a, b, c, aArg, bArg, aOf, bOf };
}

// C after the batched GEMM on a copy of the case's C, and whether it ran.
function runBatch(native, dtype, cs, ops) {
  const c = ops.c.data.slice();
  const ran = native._testGemmBatch(dtype, cs.count, cs.m, cs.n, cs.k, cs.alpha, ops.a.data, ops.aArg, ops.a.rs,
    ops.a.cs, ops.b.data, ops.bArg, ops.b.rs, ops.b.cs, cs.beta, c, ops.c.offsets, ops.c.rs, ops.c.cs);
  return { c, ran };
}

// C after the plain GEMM on each element in turn.
function runEach(native, dtype, cs, ops) {
  const c = ops.c.data.slice();
  for (let e = 0; e < cs.count; e++) {
    native._testGemm(dtype, cs.m, cs.n, cs.k, cs.alpha, ops.a.data, ops.aOf(e), ops.a.rs, ops.a.cs, ops.b.data,
      ops.bOf(e), ops.b.rs, ops.b.cs, cs.beta, c, ops.c.offsets[e], ops.c.rs, ops.c.cs);
  }
  return c;
}

// Whether the kernel must run the case (true), decline it (false), or may
// do either (undefined: the path the kernel picks by size, which differs
// between ISAs).
function expectedRun(cs, ops, gemmPath, bytes) {
  if (cs.shared === 'both' || cs.shared === 'none') return false;
  if (cs.m === 0 || cs.n === 0 || cs.k === 0 || cs.alpha === 0) return true;
  const c = ops.c;
  // gemm computes a column-major C transposed; the batched kernel leaves it.
  if (c.cs !== 1 && (c.rs === 1 || (cs.n > 1 && cs.m > 1 && Math.abs(c.rs) < Math.abs(c.cs)))) return false;
  // Automatic path: dot products are left to one call each; sweeps over
  // the rows of a matrix-vector product's long operand are taken.
  if (gemmPath === 'auto') {
    const route = kernelRoute(cs.m, cs.n, cs.k, cs.alpha, ops.a, ops.b, c, bytes);
    if (route !== 'tiles') return route === 'sweeps';
  }
  // The direct path needs B with unit column stride, or A with unit row
  // stride (computed transposed).
  const directLayout = ops.b.cs === 1 || ops.a.rs === 1;
  if (gemmPath === 'packed') return true;
  if (gemmPath === 'direct') return !directLayout;
  // Up to 32³ multiply-adds every ISA takes the direct path.
  if (cs.m * cs.n * cs.k <= 32 ** 3 && directLayout) return false;
  return undefined;
}

function runAll(tg, native) {
  const gemmPath = process.env.TAPEGRAD_GEMM_PATH ?? 'auto';
  const before = tg.getNumThreads();
  const failures = [];
  const fail = (x) => failures.length < 20 && failures.push(x);
  let n = 0, checked = 0, ran = 0, declined = 0;
  try {
    for (const dtype of ['float32', 'float64']) {
      const eps = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
      for (const cs of cases()) {
        n++;
        const ops = prepare(dtype, cs);
        const want = expectedRun(cs, ops, gemmPath, dtype === 'float32' ? 4 : 8);
        tg.setNumThreads(1);
        const each = runEach(native, dtype, cs, ops);
        const desc = { dtype, ...cs, seed: undefined };
        let ranHere;
        for (const threads of [1, 2, 3]) {
          tg.setNumThreads(threads);
          const r = runBatch(native, dtype, cs, ops);
          checked++;
          if (ranHere !== undefined && r.ran !== ranHere)
            fail({ ...desc, threads, err: 'ran on some thread counts only' });
          ranHere = r.ran;
          if (want !== undefined && r.ran !== want)
            fail({ ...desc, threads, err: `returned ${r.ran}, expected ${want}` });
          if (!sameBits(r.c, r.ran ? each : ops.c.data))
            fail({ ...desc, threads, err: r.ran ? 'differs from the plain GEMM per element' : 'declined but wrote C' });
        }
        if (ranHere) ran++;
        else declined++;
        // One entry of the last element against a float64 sum, so that the
        // plain GEMM and the batch cannot agree on a wrong answer.
        if (ranHere && cs.m > 0 && cs.n > 0) {
          const e = cs.count - 1, i = cs.m - 1, j = cs.n >> 1;
          let s = 0, abs = 0;
          for (let p = 0; p < cs.k && cs.alpha !== 0; p++) {
            const x = ops.a.data[ops.aOf(e) + i * ops.a.rs + p * ops.a.cs] *
              ops.b.data[ops.bOf(e) + p * ops.b.rs + j * ops.b.cs];
            s += x;
            abs += Math.abs(x);
          }
          const at = ops.c.offsets[e] + i * ops.c.rs + j * ops.c.cs;
          const c0 = cs.beta === 0 ? 0 : cs.beta * ops.c.data[at];
          const want64 = cs.alpha * s + c0;
          const got = each[at];
          if (!(Math.abs(got - want64) <= (cs.k + 4) * eps * (Math.abs(cs.alpha) * abs + Math.abs(c0)) + 1e-300))
            fail({ ...desc, err: `C_${e}[${i},${j}] = ${got}, expected ${want64}` });
        }
      }
    }
  } finally {
    tg.setNumThreads(before);
  }
  return { cases: n, checked, ran, declined, failures };
}

module.exports = { cases, runAll };

caseMain(module, runAll, () => ({ path: process.env.TAPEGRAD_GEMM_PATH ?? 'auto' }));
