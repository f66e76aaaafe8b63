// Elementwise ops over many layouts (same shape, a single value on either
// side, row and column broadcasts, size 0/1, odd tails, parallel-sized runs,
// offset, transposed, strided and expanded views) and special values (NaN,
// ±Infinity, ±0, denormals, huge magnitudes), compared exactly with a
// reference computed here in float64 (rounded to float32 where the op is
// float32; +, -, ×, ÷ and sqrt round the same either way).
//
// Run as a child with TAPEGRAD_ISA / TAPEGRAD_ELEMENTWISE /
// TAPEGRAD_STREAM_STORES set, it prints one JSON line; elementwise.test.ts
// runs it for every ISA path, with outputs written by streaming stores, and
// for the generic loops.
'use strict';
const { caseMain } = require('../case-main.cjs');

const SPECIALS = {
  float64: [NaN, Infinity, -Infinity, 0, -0, 5e-324, -2.2e-308, 1e300, -1e300, 1, -1, 0.5],
  float32: [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-40, 3e38, -3e38, 1, -1, 0.5],
};

function values(n, seed, dtype) {
  const out = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const sp = SPECIALS[dtype];
  for (let i = 0; i < n; i++) {
    const r = next();
    // Specials, small halves (ties for eq and maximum), and wide-range numbers.
    if (r < 0.15) out[i] = sp[Math.floor(next() * sp.length)];
    else if (r < 0.5) out[i] = Math.round(next() * 8 - 4) / 2;
    else out[i] = (next() - 0.5) * Math.pow(10, Math.floor(next() * 12 - 6));
  }
  if (dtype === 'float32') for (let i = 0; i < n; i++) out[i] = Math.fround(out[i]);
  return out;
}

const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// Operand makers: [label, make(shape, seed, dtype, tg) -> tensor of `shape`].
const VIEWS = [
  ['contiguous', (shape, seed, dtype, tg) => tg.tensor(values(numel(shape), seed, dtype), { shape, dtype })],
  // The same values behind a storage offset.
  ['offset', (shape, seed, dtype, tg) => {
    const big = [numel(shape) + 3];
    return tg.tensor(values(big[0], seed, dtype), { shape: big, dtype }).narrow(0, 3, numel(shape)).reshape(shape);
  }],
  // Transposed: not contiguous (when 2-d with both dims > 1).
  ['transposed', (shape, seed, dtype, tg) => {
    if (shape.length !== 2) return null;
    const t = [shape[1], shape[0]];
    return tg.tensor(values(numel(t), seed, dtype), { shape: t, dtype }).transpose(0, 1);
  }],
  // Every other element of the last dim.
  ['strided', (shape, seed, dtype, tg) => {
    if (shape.length === 0) return null;
    const s = [...shape];
    s[s.length - 1] *= 2;
    return tg.tensor(values(numel(s), seed, dtype), { shape: s, dtype }).slice(s.length - 1, 0, null, 2);
  }],
];

const BINARY_SHAPES = [
  [[0], [0]], [[1], [1]], [[7], [7]], [[33], [33]], [[70001], [70001]], [[5, 7], []], [[], [5, 7]],
  [[70001], [1]], [[1], [70001]], [[4, 33], [33]], [[33], [4, 33]], [[3, 1, 17], [17]], [[2, 3, 17], [3, 17]],
  [[4, 33], [4, 1]], [[4, 1], [4, 33]], [[1, 5], [4, 1]], [[300, 257], [257]], [[3000, 1], [3000, 40]],
  [[0, 3], [3]], [[2, 0], [2, 1]], [[], []], [[6, 9], [6, 9]], [[2, 3, 4], [2, 1, 4]],
  // A value per row repeating over leading dims (a conv bias [C, 1, 1] on
  // [N, C, H, W]), on either side, over one or two dims, and a leading
  // size-1 dim.
  [[5, 3, 6, 7], [3, 1, 1]], [[3, 1, 1], [5, 3, 6, 7]], [[4, 3, 5, 33], [1, 3, 5, 1]], [[64, 16, 28], [16, 1]],
  [[2, 3, 4, 1], [1, 3, 1, 1]],
];

const f32 = Math.fround;
const isNaN_ = Number.isNaN;
const BINARY = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  maximum: (x, y) => (isNaN_(x) ? x : isNaN_(y) ? y : x > y ? x : y),
  minimum: (x, y) => (isNaN_(x) ? x : isNaN_(y) ? y : x < y ? x : y),
  eq: (x, y) => +(x === y),
  ne: (x, y) => +(x !== y),
  lt: (x, y) => +(x < y),
  le: (x, y) => +(x <= y),
  gt: (x, y) => +(x > y),
  ge: (x, y) => +(x >= y),
  // JavaScript's % is C's fmod, exact; remainder moves it into y's sign.
  fmod: (x, y) => x % y,
  remainder: (x, y) => {
    const r = x % y;
    return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
  },
};

const clampRef = (lo, hi) => (x) => {
  if (isNaN_(x)) return x;
  const t = x < lo ? lo : x;
  return hi < t ? hi : t;
};
// nearbyint's rounding: to nearest, ties to even, -0 kept for (-0.5, -0].
const roundHalfEven = (x) => {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x), d = x - f;
  const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
};
const UNARY = [
  ['neg', (t) => t.neg(), (x) => -x],
  ['abs', (t) => t.abs(), Math.abs],
  ['square', (t) => t.square(), (x) => x * x],
  ['sqrt', (t) => t.sqrt(), Math.sqrt],
  ['reciprocal', (t) => t.reciprocal(), (x) => 1 / x],
  ['relu', (t) => t.relu(), (x) => (x > 0 || isNaN_(x) ? x : 0)],
  ['clamp(-1, 2)', (t) => t.clamp(-1, 2), clampRef(-1, 2)],
  ['clamp(0.5, null)', (t) => t.clamp(0.5, null), clampRef(0.5, Infinity)],
  ['clamp(null, -0.5)', (t) => t.clamp(null, -0.5), clampRef(-Infinity, -0.5)],
  ['clamp(3, 1)', (t) => t.clamp(3, 1), clampRef(3, 1)],
  ['clamp(0.1, 1e39)', (t) => t.clamp(0.1, 1e39), null],  // 0.1 is inexact in float32: reference per dtype below
  ['floor', (t) => t.floor(), Math.floor],
  ['ceil', (t) => t.ceil(), Math.ceil],
  ['trunc', (t) => t.trunc(), Math.trunc],
  ['round', (t) => t.round(), roundHalfEven],
  ['sign', (t) => t.sign(), (x) => (x > 0 ? 1 : x < 0 ? -1 : x)],
];
const UNARY_SHAPES = [[0], [1], [7], [33], [70001], [], [5, 9], [3, 0], [4, 33]];

// Broadcast reference: out[i] = f(a[ia], b[ib]) over row-major logical values.
function broadcastRef(av, as, bv, bs, f, round) {
  const nd = Math.max(as.length, bs.length);
  const pad = (s) => [...Array(nd - s.length).fill(1), ...s];
  const pa = pad(as), pb = pad(bs);
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  if (pa.some((d, i) => d === 0 || pb[i] === 0)) shape.forEach((_, i) => (shape[i] = pa[i] === 0 || pb[i] === 0 ? 0 : shape[i]));
  const strides = (s) => {
    const st = new Array(nd).fill(0);
    let acc = 1;
    for (let d = nd - 1; d >= 0; d--) {
      st[d] = s[d] === 1 ? 0 : acc;
      acc *= s[d];
    }
    return st;
  };
  const sa = strides(pa), sb = strides(pb);
  const n = numel(shape);
  const out = new Float64Array(n);
  const idx = new Array(nd).fill(0);
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let d = 0; d < nd; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    out[i] = round(f(av[ia], bv[ib]));
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape, out };
}

function sameValue(x, y) {
  return Object.is(x, y) || (isNaN_(x) && isNaN_(y));
}

function compare(failures, label, got, want) {
  if (got.length !== want.length) {
    failures.push({ label, error: `length ${got.length} vs ${want.length}` });
    return;
  }
  for (let i = 0; i < want.length; i++)
    if (!sameValue(got[i], want[i])) {
      failures.push({ label, index: i, got: String(got[i]), want: String(want[i]) });
      return;
    }
}

function runAll(tg) {
  const failures = [];
  let cases = 0;
  for (const dtype of ['float32', 'float64']) {
    const round = dtype === 'float32' ? f32 : (x) => x;
    let seed = 1;
    for (const [as, bs] of BINARY_SHAPES)
      for (const [va, makeA] of VIEWS)
        for (const [vb, makeB] of VIEWS) {
          if (va !== 'contiguous' && vb !== 'contiguous') continue;
          const a = makeA(as, seed++, dtype, tg), b = makeB(bs, seed++, dtype, tg);
          if (!a || !b) continue;
          const av = a.data(), bv = b.data();
          for (const [name, f] of Object.entries(BINARY)) {
            const label = `${dtype} ${name} [${as}] ${va} with [${bs}] ${vb}`;
            const out = a[name](b);
            const ref = broadcastRef(av, as, bv, bs, f, round);
            if (JSON.stringify(out.shape) !== JSON.stringify(ref.shape))
              failures.push({ label, error: `shape ${out.shape} vs ${ref.shape}` });
            else compare(failures, label, out.data(), ref.out);
            cases++;
            out.dispose();
          }
          // In place, where b broadcasts to a's shape: a op= b.
          const outShape = broadcastRef(av, as, bv, bs, (x) => x, round).shape;
          if (JSON.stringify(outShape) === JSON.stringify(as))
            for (const [method, name] of [['addInPlace', 'add'], ['subInPlace', 'sub'], ['mulInPlace', 'mul']]) {
              const target = makeA(as, seed - 2, dtype, tg);
              tg.noGrad(() => target[method](b));
              compare(failures, `${dtype} ${method} [${as}] ${va} with [${bs}] ${vb}`, target.data(),
                broadcastRef(av, as, bv, bs, BINARY[name], round).out);
              cases++;
              target.dispose();
            }
          a.dispose();
          b.dispose();
        }
      // In place with itself as the operand.
      for (const [method, f] of [['addInPlace', (x) => x + x], ['mulInPlace', (x) => x * x]]) {
        const a = tg.tensor(values(1001, seed++, dtype), { shape: [1001], dtype });
        const want = Array.from(a.data(), (x) => round(f(x)));
        tg.noGrad(() => a[method](a));
        compare(failures, `${dtype} ${method} with itself`, a.data(), want);
        cases++;
      }
    for (const shape of UNARY_SHAPES)
      for (const [view, make] of VIEWS) {
        const x = make(shape, seed++, dtype, tg);
        if (!x) continue;
        const xv = x.data();
        for (const [name, op, ref0] of UNARY) {
          const lo = dtype === 'float32' ? f32(0.1) : 0.1;
          const ref = ref0 ?? ((v) => (isNaN_(v) ? v : v < 0.1 ? lo : v > 1e39 ? 1e39 : v));
          const out = op(x);
          const want = Array.from(xv, (v) => round(ref(v)));
          compare(failures, `${dtype} ${name} [${shape}] ${view}`, out.data(), want);
          cases++;
          out.dispose();
        }
        // relu's gradient: g where relu(x) > 0, else 0 (NaN blocks it).
        const leaf = x.detach().setRequiresGrad(true);
        const g = tg.tensor(values(numel(shape), seed++, dtype), { shape, dtype });
        leaf.relu().backward(g);
        const gv = g.data();
        compare(failures, `${dtype} relu backward [${shape}] ${view}`, leaf.grad.data(),
          Array.from(xv, (v, i) => (v > 0 ? gv[i] : 0)));
        cases++;
        x.dispose();
      }
  }
  cases += runCopies(tg, failures);
  cases += runModuloEdges(tg, failures);
  cases += runNanPayloads(tg, failures);
  return { cases, failures };
}

// floor, ceil, trunc and sign pass a NaN on as it came, a signalling one
// too (as the C library's functions): compared as bits, since a NaN read
// into a JavaScript number may come back quieted.
function runNanPayloads(tg, failures) {
  let cases = 0;
  for (const [dtype, Raw, words] of [
    ['float32', Uint32Array, [0x7f800001, 0xffa00000, 0x7fc00001, 0xffc12345]],
    ['float64', BigUint64Array, [0x7ff0000000000001n, 0xfff4000000000005n, 0x7ff8000000000000n]],
  ]) {
    const raw = new Raw(64);
    for (let i = 0; i < raw.length; i++) raw[i] = words[i % words.length];
    const x = tg.tensor(dtype === 'float32' ? new Float32Array(raw.buffer) : new Float64Array(raw.buffer), { dtype });
    for (const name of ['floor', 'ceil', 'trunc', 'sign']) {
      const out = x[name]().data();
      const got = new Raw(out.buffer, out.byteOffset, out.length);
      const at = got.findIndex((w, i) => w !== raw[i]);
      if (at >= 0) failures.push({ label: `${dtype} ${name} NaN payload`, index: at, got: got[at].toString(16), want: raw[at].toString(16) });
      cases++;
    }
    x.dispose();
  }
  return cases;
}

// fmod and remainder of float32 operands whose quotient sits where the
// vectorised path decides: just below a multiple of y (a quotient that
// rounds up to the integer), around 2^29 (the last quotient it takes), and
// y from subnormal to huge, both signs; against JavaScript's exact %.
function runModuloEdges(tg, failures) {
  const bits = new Float32Array(1), word = new Uint32Array(bits.buffer);
  const below = (v) => {  // the float32 next to v toward 0
    bits[0] = v;
    if (v !== 0) word[0] -= 1;
    return bits[0];
  };
  const xs = [], ys = [];
  const ks = [1, 2, 3, 7, 1000, 2 ** 20 + 1, 2 ** 28, 2 ** 29 - 64, 2 ** 29, 2 ** 29 + 64, 2 ** 30, 3e9];
  for (const ey of [-149, -140, -126, -60, -20, -1, 0, 1, 23, 60, 100]) {
    for (const mant of [1, 1.2345678, 1.999999]) {
      const y = f32(mant * 2 ** ey);
      if (y === 0) continue;
      for (const k of ks) {
        const m = f32(k * y);
        if (!Number.isFinite(m)) continue;
        for (const x of [m, below(m), f32(m * 1.0000001), f32(m + y / 3)])
          for (const [sx, sy] of [[1, 1], [-1, 1], [1, -1], [-1, -1]]) {
            xs.push(sx * x);
            ys.push(sy * y);
          }
      }
    }
  }
  compareModulo(tg, failures, 'float32', xs, ys);
  return 2 + runModuloEdges64(tg, failures);
}

// fmod and remainder of xs by ys in `dtype` against JavaScript's % (exact),
// rounded to float32 where they are float32.
function compareModulo(tg, failures, dtype, xs, ys) {
  const round = dtype === 'float32' ? f32 : (v) => v;
  const a = tg.tensor(xs, { dtype }), b = tg.tensor(ys, { dtype });
  for (const name of ['fmod', 'remainder']) {
    const out = a[name](b);
    compare(failures, `${dtype} ${name} edges`, out.data(), xs.map((x, i) => round(BINARY[name](x, ys[i]))));
    out.dispose();
  }
  a.dispose();
  b.dispose();
}

// The same for float64 (its vectorised path takes quotients below 2^52):
// just below and above multiples of y (quotients that round up to the
// integer), around 2^52, x just below y (a quotient just below 1), y from
// subnormal to huge.
function runModuloEdges64(tg, failures) {
  const bits = new Float64Array(1), word = new BigUint64Array(bits.buffer);
  const step = (v, d) => {  // the double next to v, toward 0 (d = -1) or away (d = 1)
    bits[0] = v;
    if (v !== 0) word[0] += BigInt(d);
    return bits[0];
  };
  const xs = [], ys = [];
  const ks = [1, 2, 3, 7, 1000, 2 ** 29 + 1, 2 ** 40 + 3, 2 ** 51, 2 ** 52 - 1, 2 ** 52, 2 ** 52 + 2, 2 ** 53, 1e20];
  for (const ey of [-1074, -1060, -1022, -500, -60, -1, 0, 1, 52, 300, 1000]) {
    for (const mant of [1, 1.2345678901234567, 1.9999999999999998]) {
      const y = mant * 2 ** ey;
      if (y === 0 || !Number.isFinite(y)) continue;
      for (const k of ks) {
        const m = k * y;
        if (!Number.isFinite(m)) continue;
        for (const x of [m, step(m, -1), step(m, 1), step(step(m, -1), -1), m + y / 3, step(y, -1)])
          for (const [sx, sy] of [[1, 1], [-1, 1], [1, -1], [-1, -1]]) {
            xs.push(sx * x);
            ys.push(sy * y);
          }
      }
    }
  }
  compareModulo(tg, failures, 'float64', xs, ys);
  return 2;
}

// Copies (clone, contiguous(), cat) give the source's bits, int32 too,
// for runs starting at any alignment: a flat run, rows of a column slice,
// and the pieces of a cat along either dim.
function runCopies(tg, failures) {
  let cases = 0, seed = 1000;
  for (const dtype of ['float32', 'float64', 'int32']) {
    const make = (n) => {
      const v = values(n, seed++, dtype === 'int32' ? 'float64' : dtype);
      return dtype === 'int32' ? Int32Array.from(v, (x) => (Number.isFinite(x) ? Math.trunc(x * 1000) | 0 : 7)) : v;
    };
    for (const n of [1, 7, 16, 33, 1000, 70001]) {
      const v = make(n + 5);
      const base = tg.tensor(v, { shape: [n + 5], dtype });
      for (const at of [0, 1, 3]) {
        const want = Array.from(v.subarray(at, at + n));
        compare(failures, `${dtype} clone of [${n}] at offset ${at}`, base.narrow(0, at, n).clone().data(), want);
        const k = n >> 1;
        const joined = tg.cat([base.narrow(0, at, k), base.narrow(0, at + k, n - k)], 0);
        compare(failures, `${dtype} cat of [${k}] and [${n - k}] at offset ${at}`, joined.data(), want);
        cases += 2;
      }
      base.dispose();
    }
    for (const [rows, cols] of [[3, 9], [40, 33], [300, 257], [7, 4100]]) {
      const v = make(rows * cols);
      const x = tg.tensor(v, { shape: [rows, cols], dtype });
      // Columns 1 .. cols - 2: each row's run starts one element in.
      const inner = x.slice(1, 1, cols - 1);
      const want = [];
      for (let r = 0; r < rows; r++) for (let c = 1; c < cols - 1; c++) want.push(v[r * cols + c]);
      compare(failures, `${dtype} contiguous() of columns 1..${cols - 2} of [${rows},${cols}]`,
        inner.contiguous().data(), want);
      // A cat along dim 1 writes rows into the middle of each output row.
      const left = x.slice(1, 0, 1), right = x.slice(1, cols - 1, cols);
      const joined = tg.cat([right, inner, left], 1);
      const wantJoined = [];
      for (let r = 0; r < rows; r++) {
        wantJoined.push(v[r * cols + cols - 1]);
        for (let c = 1; c < cols - 1; c++) wantJoined.push(v[r * cols + c]);
        wantJoined.push(v[r * cols]);
      }
      compare(failures, `${dtype} cat along dim 1 of [${rows},${cols}] pieces`, joined.data(), wantJoined);
      cases += 2;
      x.dispose();
    }
  }
  return cases;
}

module.exports = { runAll };

caseMain(module, runAll, () => ({
  mode: process.env.TAPEGRAD_ELEMENTWISE ?? 'auto',
  streaming: process.env.TAPEGRAD_STREAM_STORES ?? 'auto',
}));
