// float32 exp, log, tanh, sigmoid, gelu, silu, elu, softplus, pow, sin, cos, log1p and expm1 against float64 references over
// the whole float range: special values, denormals, every power of two,
// random bit patterns and dense sweeps of the interesting intervals. Reports
// the largest error in ulps of the float32 result, and any special-value
// mismatch. Run as a child with TAPEGRAD_ISA set (math.test.ts does), it
// prints one JSON line.
'use strict';
const { caseMain } = require('../case-main.cjs');

const FLT_MAX = 3.4028234663852886e38;

function inputs() {
  const v = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754942e-38, -1.1754942e-38, FLT_MAX, -FLT_MAX];
  for (let k = -149; k <= 127; k++)
    for (const m of [1, 1.25, 1.5, 1.9999999]) v.push(m * 2 ** k, -m * 2 ** k);
  // Random bit patterns: every exponent equally often.
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  let s = 12345;
  for (let i = 0; i < 200000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[0] = s;
    v.push(f[0]);
  }
  // Every 8191st float from 0 to where exp overflows (88.7) or silu
  // underflows (-112), about 275 000 of them, each low-bit pattern reached:
  // exp, and on the FMA paths sigmoid, silu and tanh, run in float
  // arithmetic, where a weak spot would be narrow.
  for (const sign of [0, 0x80000000])
    for (let b = 0; b <= (sign ? 0x42e00000 : 0x42b20000); b += 8191) {
      bits[0] = (sign | b) >>> 0;
      v.push(f[0]);
    }
  // Dense sweeps where the functions change.
  for (let i = 0; i <= 200000; i++) v.push(-110 + (200 * i) / 200000);
  for (let i = 0; i <= 20000; i++) v.push(-0.1 + (0.2 * i) / 20000, 0.5 + (1.5 * i) / 20000);
  // Every float around the zeros of the gelu, gelu-tanh and silu
  // derivatives (x ≈ -0.7518, -0.7525, -1.2785) and where the float
  // sigmoid and tanh switch from e^-|x| = 1 + r + … to a scaled form
  // (|x| = ln2/2 and ln2/4).
  for (const root of [-0.7517915, -0.7524614, -1.2784645, 0.34657359, -0.34657359, 0.1732868, -0.1732868]) {
    const c = new Float32Array([root]);
    const cb = new Uint32Array(c.buffer);
    for (let d = -20000; d <= 20000; d++) {
      bits[0] = cb[0] + d;
      v.push(f[0]);
    }
  }
  // Every float near multiples of π/2 (where sin or cos is near 0 and the
  // reduction cancels), up to the kernels' reduction limit 2^20 and past it.
  for (const n of [1, 2, 3, 4, 5, 7, 10, 31, 100, 355, 1000, 20000, 103993, 411557, 667544, 667545, 700000]) {
    const c = new Float32Array([(n * Math.PI) / 2]);
    const cb = new Uint32Array(c.buffer);
    for (let d = -3000; d <= 3000; d++) {
      bits[0] = cb[0] + d;
      v.push(f[0], -f[0]);
    }
  }
  // The 30 floats below 2^20 closest to a multiple of π/2 (found by a
  // search over every float in long double): sin or cos there is about
  // 4e-9, so a reduction that errs by 2^-52 absolute there is an ulp off.
  const closest = [252.89820861816406, 505.7964172363281, 4.71238899230957, 52516.43359375, 1011.5928344726562,
    9.42477798461914, 105032.8671875, 2023.1856689453125, 267058.9375, 14.137166976928711, 1.5707963705062866,
    18.84955596923828, 2238.384765625, 23.56194496154785, 210065.734375, 4046.371337890625, 534117.875,
    28.274333953857422, 1.570796251296997, 3.1415927410125732, 215.1990966796875, 37.69911193847656, 56993.203125,
    290.5973205566406, 801176.8125, 796.3937377929688, 4476.76953125, 47.1238899230957, 1807.986572265625,
    420131.46875];
  for (const c of closest) v.push(c, -c);
  for (let d = -3000; d <= 3000; d++) {
    bits[0] = 0x49800000 + d;  // 2^20
    v.push(f[0], -f[0]);
  }
  return Float32Array.from(v);
}

// Incoming gradients for the backward kernels: mostly moderate, some with
// any exponent (products that overflow or reach the denormals), and specials.
function gradients(n) {
  const g = new Float32Array(n);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-45, FLT_MAX];
  let s = 777;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < n; i++) {
    const r = next() / 4294967296;
    if (r < 0.01) g[i] = specials[next() % specials.length];
    else if (r < 0.2) {
      bits[0] = next() & 0xff7fffff;  // finite: exponent field never all ones
      g[i] = f[0];
    } else g[i] = (next() / 4294967296 - 0.5) * 4;
  }
  return g;
}

// Exponents for pow: the special ones, small integers (odd and even, so
// negative bases keep or flip their sign), moderate fractions, and any
// finite float (results that overflow or vanish).
function exponents(n) {
  const e = new Float32Array(n);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  const specials = [0, -0, 1, -1, 2, 3, -3, 0.5, -0.5, 1 / 3, Infinity, -Infinity, NaN, 2 ** 24, 2 ** 24 + 2, 2 ** 24 - 1, 1 - 2 ** 24, 2 ** 23 + 1, 1e10, -1e10, 1e-10];
  let s = 4242;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < n; i++) {
    const r = next() / 4294967296;
    if (r < 0.1) e[i] = specials[next() % specials.length];
    else if (r < 0.4) e[i] = (next() % 41) - 20;
    else if (r < 0.7) e[i] = (next() / 4294967296 - 0.5) * 60;
    else {
      bits[0] = next() & 0xff7fffff;  // finite
      e[i] = f[0];
    }
  }
  return e;
}

function ulp(r) {
  const a = Math.min(Math.abs(r), FLT_MAX);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

function runAll(tg) {
  const x = inputs();
  const t = tg.tensor(x, { dtype: 'float32' });
  const t64 = tg.tensor(Float64Array.from(x), { dtype: 'float64' });
  const e = exponents(x.length);
  const cpow = (b, p) => (b === 1 || p === 0 || (b === -1 && Math.abs(p) === Infinity) ? 1 : Math.pow(b, p));
  const sig = (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
  const ops = {
    exp: [(a) => a.exp(), null, Math.exp],
    log: [(a) => a.log(), null, Math.log],
    tanh: [(a) => a.tanh(), null, Math.tanh],
    sigmoid: [(a) => a.sigmoid(), null, sig],
    // No erf in JS: the float64 op (within 3 double ulps: math64-cases.cjs) is the reference.
    gelu: [(a) => a.gelu(), (a) => a.gelu(), null],
    geluTanh: [(a) => a.gelu({ approximate: 'tanh' }), (a) => a.gelu({ approximate: 'tanh' }), null],
    silu: [(a) => a.silu(), (a) => a.silu(), null],
    elu: [(a) => a.elu(), null, (v) => (v > 0 ? v : Math.expm1(v))],
    // PyTorch's rule: x itself beyond the threshold (20).
    softplus: [(a) => a.softplus(), null, (v) => (v > 20 ? v : v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)))],
    // pow against the C standard's pow (Math.pow but for 1 ** NaN and
    // (-1) ** ±Infinity, which are 1), with number and tensor exponents.
    pow3: [(a) => a.pow(3), null, (v) => cpow(v, 3)],
    powHalf: [(a) => a.pow(0.5), null, (v) => cpow(v, 0.5)],
    powMinus2_5: [(a) => a.pow(-2.5), null, (v) => cpow(v, -2.5)],
    powMinus7: [(a) => a.pow(-7), null, (v) => cpow(v, -7)],
    powTensor: [(a) => a.pow(tg.tensor(e, { dtype: 'float32' })), null, (v, i) => cpow(v, e[i])],
    sin: [(a) => a.sin(), null, Math.sin],
    cos: [(a) => a.cos(), null, Math.cos],
    log1p: [(a) => a.log1p(), null, Math.log1p],
    expm1: [(a) => a.expm1(), null, Math.expm1],
  };
  const result = {};
  for (const [name, [op32, op64, ref]] of Object.entries(ops)) {
    const got = op32(t).data();
    const want = op64 ? op64(t64).data() : Float64Array.from(x, ref);
    let maxUlp = 0, worst = null;
    const mismatches = [];
    for (let i = 0; i < x.length; i++) {
      const g = got[i], r = want[i];
      if (Object.is(g, Math.fround(r))) continue;
      if (Number.isNaN(r) || Number.isNaN(g) || !Number.isFinite(g) || (r === 0 && g !== 0)) {
        if (mismatches.length < 10) mismatches.push({ x: x[i], got: String(g), want: String(r) });
        continue;
      }
      const e = Math.abs(g - r) / ulp(r);
      if (e > maxUlp) {
        maxUlp = e;
        worst = { x: x[i], got: g, want: r };
      }
    }
    result[name] = { maxUlp, worst, mismatches };
  }
  // Backward: g·f'(x) in float32 against the float64 op's gradient for the
  // same g and x. maxUlp is in ulps of the result; near a zero of f' the
  // kernels promise an absolute error of about 1e-16·|g| instead, so
  // maxAbs (in units of |g|·2^-53) is reported for the cases beyond 1 ulp.
  const g = gradients(x.length);
  const g32 = tg.tensor(g, { dtype: 'float32' }), g64 = tg.tensor(Float64Array.from(g), { dtype: 'float64' });
  const grad = (t, gt, f) => {
    const leaf = t.detach().setRequiresGrad(true);
    f(leaf).backward(gt);
    return leaf.grad.data();
  };
  // tanh and sigmoid differentiate from their float32 output y: the
  // reference is the same formula in float64 on that y, rounded once.
  const y = { tanh: t.tanh().data(), sigmoid: t.sigmoid().data() };
  const backward = {
    geluBackward: [(a) => a.gelu(), null],
    geluTanhBackward: [(a) => a.gelu({ approximate: 'tanh' }), null],
    siluBackward: [(a) => a.silu(), null],
    tanhBackward: [(a) => a.tanh(), (i) => g[i] * (1 - y.tanh[i] * y.tanh[i])],
    sigmoidBackward: [(a) => a.sigmoid(), (i) => g[i] * (y.sigmoid[i] * (1 - y.sigmoid[i]))],
  };
  for (const [name, [op, ref]] of Object.entries(backward)) {
    const got = grad(t, g32, op);
    const want = ref ? Float64Array.from(x, (_, i) => ref(i)) : grad(t64, g64, op);
    let maxUlp = 0, maxAbs = 0, worst = null;
    const mismatches = [];
    for (let i = 0; i < x.length; i++) {
      const o = got[i], r = want[i];
      if (Object.is(o, Math.fround(r)) || (o === 0 && Math.fround(r) === 0)) continue;
      if (Number.isNaN(r) || Number.isNaN(o) || !Number.isFinite(o) || !Number.isFinite(r)) {
        if (mismatches.length < 10) mismatches.push({ x: x[i], g: g[i], got: String(o), want: String(r) });
        continue;
      }
      const e = Math.abs(o - r) / ulp(r);
      if (e > 1) maxAbs = Math.max(maxAbs, Math.abs(o - r) / (Math.abs(g[i]) * 2 ** -53));
      if (e > maxUlp) {
        maxUlp = e;
        worst = { x: x[i], g: g[i], got: o, want: r };
      }
    }
    result[name] = { maxUlp, maxAbs, worst, mismatches };
  }
  for (const r of Object.values(result)) r.maxUlp = Math.ceil(r.maxUlp * 1e6) / 1e6;  // up, so the 1-ulp bound stays strict
  // σ rounds to 1 beyond 17.33 (1 - σ below half an ulp of 1): softplus's
  // gradient takes σ(βx) unmasked above a threshold of at least 18. Every
  // float from 17.5 to 18.5, and beyond.
  const steps = Uint32Array.from({ length: 0x80001 }, (_, i) => 0x418c0000 + i);  // 17.5 ... 18.5
  const above = [...new Float32Array(steps.buffer), 20, 88.7, 1e10, FLT_MAX, Infinity];
  const sigmoidAbove = tg.tensor(above, { dtype: 'float32' }).sigmoid().data();
  const sigmoidNotOne = above.filter((_, i) => sigmoidAbove[i] !== 1).slice(0, 10);
  return { count: x.length, result, sigmoidNotOne };
}

module.exports = { runAll };

caseMain(module, runAll, () => ({
  mode: process.env.TAPEGRAD_ELEMENTWISE ?? 'auto',
  streaming: process.env.TAPEGRAD_STREAM_STORES ?? 'auto',
}));
