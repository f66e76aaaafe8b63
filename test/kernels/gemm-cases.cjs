'use strict';
// GEMM kernel checks shared by test/kernels/gemm.test.ts and the child
// processes it starts with TAPEGRAD_ISA set (the ISA is read when the addon
// loads, so each path needs its own process). Run directly:
//   TAPEGRAD_ISA=avx2 TAPEGRAD_GEMM_PATH=packed node test/kernels/gemm-cases.cjs
// prints one JSON line: { isa, detectedIsa, path, cases, checked, failures, threadMismatches, gemvDigest }.
// TAPEGRAD_GEMM_PATH=packed|direct forces the kernel's path for every size
// (direct only where the layout allows it), so small shapes reach both.
const crypto = require('node:crypto');
const { caseMain, rng, sameBits } = require('../case-main.cjs');

// Operand layouts of a rows×cols view; elements outside the view are NaN, so
// reading one poisons the result, and they must be unchanged afterwards.
//   n: row-major; t: stored transposed (column-major); sn: row-major with
//   row stride > cols and an offset; st: column-major with padding; g: both
//   strides non-unit; neg: row-major with a negative row stride.
const LAYOUTS = ['n', 't', 'sn', 'st', 'g', 'neg'];

function makeView(Arr, rows, cols, layout, rand, fillView) {
  let rs, cs, offset, size;
  switch (layout) {
    case 'n': rs = cols; cs = 1; offset = 0; size = rows * cols; break;
    case 't': rs = 1; cs = rows; offset = 0; size = rows * cols; break;
    case 'sn': rs = cols + 3; cs = 1; offset = 5; size = offset + rows * rs; break;
    case 'st': rs = 1; cs = rows + 2; offset = 2; size = offset + cols * cs; break;
    case 'g': rs = 2 * cols + 1; cs = 2; offset = 1; size = offset + rows * rs; break;
    case 'neg': rs = -cols; cs = 1; offset = Math.max(0, rows - 1) * cols; size = rows * cols; break;
    default: throw new Error(`unknown layout ${layout}`);
  }
  const data = new Arr(Math.max(size, 1)).fill(NaN);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[offset + i * rs + j * cs] = fillView(rand);
  return { data, offset, rs, cs, rows, cols };
}

const at = (v, i, j) => v.data[v.offset + i * v.rs + j * v.cs];

// The cases: shapes around every blocking parameter of every ISA (MR, NR,
// KC, NC, MC and the direct-path limits), primes and 1, all layouts,
// alpha/beta combinations.
function cases() {
  const out = [];
  const scalars = [
    [1, 0], [1, 1], [-0.5, 2], [2.5, 0], [1, -1.5], [0.75, 0.25],
  ];
  let idx = 0;
  const add = (m, n, k, extra = {}) => {
    const [alpha, beta] = extra.ab ?? scalars[idx % scalars.length];
    const aL = extra.aL ?? LAYOUTS[idx % LAYOUTS.length];
    const bL = extra.bL ?? LAYOUTS[Math.floor(idx / LAYOUTS.length) % LAYOUTS.length];
    const cL = extra.cL ?? ['n', 'n', 't', 'sn', 'g'][idx % 5];
    out.push({ m, n, k, alpha, beta, aL, bL, cL, seed: 1000 + idx, nanA: extra.nanA ?? false });
    idx++;
  };
  // Every layout pair and C layout, on a packed and a direct product.
  for (const [m, n, k] of [[37, 53, 401], [7, 9, 5]])
    for (const aL of LAYOUTS) for (const bL of LAYOUTS) for (const cL of ['n', 't', 'sn'])
      add(m, n, k, { aL, bL, cL });
  // Micro-tile edges (MR = 4/6/8/12, NR = 4/6/8/12/16/32), direct and packed.
  for (const m of [1, 2, 5, 6, 7, 11, 12, 13, 25])
    for (const n of [1, 3, 4, 5, 8, 9, 15, 16, 17, 31, 32, 33, 47])
      for (const k of [3, 29, 389]) add(m, n, k);
  // Depth blocks (KC = 256 / 384 / 512, the direct path's 512).
  for (const k of [255, 256, 257, 383, 384, 385, 511, 512, 513, 767, 768, 769, 1025]) add(13, 35, k);
  // The direct path by A's size (A under 512 KiB, B rows under 4 KiB apart), deep and wide.
  add(60, 70, 1500, { aL: 'n', bL: 'n' });
  add(300, 33, 140, { aL: 't', bL: 'n' });
  // Packed B blocks (NC = 64 / 126 / 128 / 240 / 252 / 256 / 480).
  for (const n of [63, 64, 65, 125, 126, 127, 128, 129, 239, 240, 241, 251, 252, 253, 255, 256, 257, 479, 480, 481])
    add(19, n, 67);
  // Row-major A with rows 4 KiB apart (packed rather than read in place).
  add(13, 40, 1024, { aL: 'n' });
  add(13, 40, 512, { aL: 'n' });
  add(30, 70, 1024, { aL: 'n', bL: 't' });
  // Products at most one micro-tile wide take the direct path however
  // large (A read in place once; above 128³ multiply-adds they were
  // packed): 4 KiB rows, column-major A, the widest NR.
  add(260, 10, 1024, { aL: 'n', bL: 'n', ab: [1, 1] });
  add(420, 16, 330, { aL: 't', bL: 'n' });
  add(70, 32, 1000, { aL: 'n', bL: 'sn' });
  // Column-major A, narrow and wide (read in place or packed).
  add(9, 40, 300, { aL: 't' });
  add(700, 40, 300, { aL: 't' });
  // Small products with a column-major A or a row-major B whose steps along
  // k are a multiple of 512 bytes apart: packed from 128 columns of B (rows
  // of A) on avx2, direct below.
  add(128, 128, 128, { aL: 't', bL: 'n' });
  add(128, 127, 128, { aL: 't', bL: 'n' });
  add(64, 128, 256, { aL: 't', bL: 'n', cL: 'n' });
  add(256, 128, 32, { aL: 'n', bL: 'n' });
  add(127, 128, 64, { aL: 'n', bL: 'n', cL: 'n' });
  // Packed A blocks (MC = 768 / 1536).
  for (const m of [767, 768, 769, 1535, 1536, 1537]) add(m, 9, 11);
  // Around the direct-path limits (32³ and 48³ multiply-adds).
  for (const [m, n, k] of [[32, 32, 32], [33, 32, 32], [47, 48, 49], [48, 48, 48], [49, 48, 48], [3, 5, 5000]])
    add(m, n, k);
  // Large enough to split across threads, odd shapes, tall and wide.
  for (const [m, n, k] of [[200, 300, 50], [257, 129, 131], [1000, 37, 45], [33, 1000, 41], [40, 40, 2000],
    [128, 256, 97], [611, 7, 401], [5, 613, 397]])
    add(m, n, k);
  // Matrix-vector products (m or n = 1: dot products where both operands
  // run along k with unit stride, sweeps over the rows of a long operand
  // with unit stride otherwise), and narrow ones (dot products too when at
  // least 128 deep; sweeps for up to 12 columns; tiles otherwise): every
  // layout pair, lane tails (k not a multiple of 16), output counts around
  // the 4-vector groups and the 512-output strips, sizes on both sides of
  // the sweeps' limit, large enough to split across threads, depths of
  // several blocks (4096 for the dots, 256 for the sweeps) with a tail.
  for (const [m, n, k] of [[1, 1, 1], [1, 1, 37], [1, 5, 1], [6, 1, 16], [1, 7, 33], [9, 1, 100], [1, 515, 21],
    [1030, 1, 19], [1, 3000, 700], [2500, 1, 900], [1, 40, 5001], [3, 1, 4096], [7, 15, 31], [130, 10, 257],
    [600, 2, 300], [5, 16, 40], [1030, 3, 60], [513, 4, 700], [40, 13, 90], [300, 12, 77], [3, 700, 1000],
    [2, 1030, 7], [600, 3, 1027]])
    for (const aL of LAYOUTS) for (const bL of LAYOUTS) add(m, n, k, { aL, bL });
  // Narrow with B's columns not along k (copied for the dots): C rows of
  // whole 32 bytes (tiles: 8 float32 columns, 4 and 8 float64), and B just
  // under and over 1 MiB (float32 and float64 sides of the limit).
  for (const [m, n, k] of [[37, 8, 300], [21, 4, 129], [3, 13, 20164], [2, 15, 17476], [4, 15, 17477]])
    for (const bL of ['n', 'sn', 'g', 'neg']) add(m, n, k, { aL: 'n', bL });
  // k = 0 and alpha = 0 (A and B not read, NaN in A ignored), empty C.
  add(5, 7, 0, { ab: [1, 0] });
  add(5, 7, 0, { ab: [1, 2] });
  add(6, 9, 17, { ab: [0, 0], nanA: true });
  add(64, 65, 66, { ab: [0, -2], nanA: true });
  add(0, 7, 5);
  add(7, 0, 5);
  return out;
}

// Builds the operands of a case and the float64 reference with an error
// bound per element: (k + 4)·eps·(|alpha|·Σ|a·b| + |beta·c|).
function prepare(dtype, cs) {
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const eps = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
  const rand = rng(cs.seed);
  const val = (r) => r() * 2 - 1;
  const a = makeView(Arr, cs.m, cs.k, cs.aL, rand, cs.nanA ? () => NaN : val);
  const b = makeView(Arr, cs.k, cs.n, cs.bL, rand, val);
  // With beta = 0 the old C must be ignored, NaN included.
  const c = makeView(Arr, cs.m, cs.n, cs.cL, rand, cs.beta === 0 ? () => NaN : val);
  const expected = new Float64Array(cs.m * cs.n);
  const bound = new Float64Array(cs.m * cs.n);
  for (let i = 0; i < cs.m; i++) {
    for (let j = 0; j < cs.n; j++) {
      let s = 0, abs = 0;
      if (cs.alpha !== 0) {
        for (let p = 0; p < cs.k; p++) {
          const x = at(a, i, p) * at(b, p, j);
          s += x;
          abs += Math.abs(x);
        }
      }
      const c0 = cs.beta === 0 ? 0 : cs.beta * at(c, i, j);
      expected[i * cs.n + j] = cs.alpha * s + c0;
      bound[i * cs.n + j] = (cs.k + 4) * eps * (Math.abs(cs.alpha) * abs + Math.abs(c0)) + 1e-300;
    }
  }
  return { a, b, c, expected, bound };
}

function runGemm(native, dtype, cs, ops) {
  const c = { ...ops.c, data: ops.c.data.slice() };
  native._testGemm(dtype, cs.m, cs.n, cs.k, cs.alpha, ops.a.data, ops.a.offset, ops.a.rs, ops.a.cs,
    ops.b.data, ops.b.offset, ops.b.rs, ops.b.cs, cs.beta, c.data, c.offset, c.rs, c.cs);
  return c;
}

// Checks one result; returns a description of the first wrong element or null.
function check(dtype, cs, ops, out) {
  const inView = new Uint8Array(out.data.length);
  for (let i = 0; i < cs.m; i++) {
    for (let j = 0; j < cs.n; j++) {
      const idx = out.offset + i * out.rs + j * out.cs;
      inView[idx] = 1;
      const got = out.data[idx];
      const want = expected(ops, cs, i, j);
      const tol = ops.bound[i * cs.n + j];
      if (!(Math.abs(got - want) <= tol))
        return `C[${i},${j}] = ${got}, expected ${want} (tolerance ${tol.toExponential(2)})`;
    }
  }
  for (let x = 0; x < out.data.length; x++)
    if (!inView[x] && !Object.is(out.data[x], ops.c.data[x])) return `element ${x} outside C's view was written`;
  return null;
}
const expected = (ops, cs, i, j) => ops.expected[i * cs.n + j];

// How the kernel's automatic path computes an m×n×k product of operands
// with these strides and `bytes` per element (gemm.inc's takes_dots and
// takes_sweeps, after its orientation choice): 'dots' (A along k with unit
// stride and: one row or column of B along k with unit stride, or under 16
// columns at least 128 deep, B along k with unit stride or else copied so:
// at most 1 MiB of it, a row of C not a whole number of 32 bytes),
// 'sweeps' (the long operand's rows contiguous: one row of A, or up to 12
// columns of B) or 'tiles'. Products with nothing to add up (m, n or k = 0,
// alpha = 0) count as tiles.
function kernelRoute(m, n, k, alpha, a, b, c, bytes) {
  let [ars, acs, brs, bcs] = [a.rs, a.cs, b.rs, b.cs];
  if (m <= 0 || n <= 0 || k <= 0 || alpha === 0) return 'tiles';
  if (c.cs !== 1 && (c.rs === 1 || (n > 1 && m > 1 && Math.abs(c.rs) < Math.abs(c.cs))))
    [m, n, ars, acs, brs, bcs] = [n, m, bcs, brs, acs, ars];
  const narrow = n < 16 && k >= 128;
  if (acs === 1 && brs === 1 && (m === 1 || n === 1 || narrow)) return 'dots';
  if (acs === 1 && narrow && (n * bytes) % 32 !== 0 && n * k * bytes <= 2 ** 20) return 'dots';
  if ((m === 1 && bcs === 1) || (ars === 1 && n <= 12)) return 'sweeps';
  return 'tiles';
}

// Runs every case in float32 and float64 on 1 thread (checked against the
// reference), then on 2 and 5 threads (checked bit for bit against 1 thread).
// On the automatic path the report adds gemvDigest, a digest of the bits of
// every result computed as dots or sweeps: the same on every ISA path.
function runAll(tg, native) {
  const before = tg.getNumThreads();
  const failures = [];
  const auto = (process.env.TAPEGRAD_GEMM_PATH ?? 'auto') === 'auto';
  const gemv = crypto.createHash('sha1');
  let checked = 0, threadMismatches = 0, n = 0;
  try {
    for (const dtype of ['float32', 'float64']) {
      for (const cs of cases()) {
        n++;
        const ops = prepare(dtype, cs);
        tg.setNumThreads(1);
        const one = runGemm(native, dtype, cs, ops);
        if (auto && kernelRoute(cs.m, cs.n, cs.k, cs.alpha, ops.a, ops.b, ops.c, dtype === 'float32' ? 4 : 8) !== 'tiles')
          gemv.update(Buffer.from(one.data.buffer));
        const err = check(dtype, cs, ops, one);
        checked++;
        if (err && failures.length < 20) failures.push({ dtype, ...cs, seed: undefined, err });
        for (const threads of [2, 5]) {
          tg.setNumThreads(threads);
          const many = runGemm(native, dtype, cs, ops);
          if (!sameBits(many.data, one.data)) {
            threadMismatches++;
            if (failures.length < 20) failures.push({ dtype, ...cs, threads, err: 'differs from the 1-thread result' });
          }
        }
      }
    }
  } finally {
    tg.setNumThreads(before);
  }
  return { cases: n, checked, failures, threadMismatches, ...(auto ? { gemvDigest: gemv.digest('hex') } : {}) };
}

module.exports = { rng, cases, prepare, runGemm, check, runAll, LAYOUTS, makeView, kernelRoute };

caseMain(module, runAll, (tg) => ({
  detectedIsa: tg.backendInfo().detectedIsa,
  path: process.env.TAPEGRAD_GEMM_PATH ?? 'auto',
}));
