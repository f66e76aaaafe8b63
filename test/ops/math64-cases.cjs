// float64 exp, expm1, tanh, sigmoid, silu, elu, log, log1p, softplus, sin,
// cos, x³, exact gelu and its gradient (the kernels' own,
// kernels/math_f64.inc) against references
// computed here in double-double
// arithmetic (about 104 bits), over the whole double range where they
// change: special values, denormals, powers of two, random bit patterns,
// dense sweeps, and every few doubles around the points where the argument
// reduction switches from n to n + 1. Reports the largest error in ulps of
// each result, any special-value mismatch, and a digest of every output bit
// (with the gradients of silu and tanh-gelu) but the results the C library
// computes (sin and cos of |x| >= 2^20 or within 2^-30 of a multiple of
// π/2, x³ for |x| outside (2^-300, 2^300): their last bits may differ
// between platforms), which are held to 2 ulps of JavaScript's instead.
// Run as a child with TAPEGRAD_ISA / TAPEGRAD_ELEMENTWISE set (math.test.ts
// does), it prints one JSON line.
'use strict';
const crypto = require('node:crypto');
const { caseMain } = require('../case-main.cjs');

// ---- double-double arithmetic: a value is [hi, lo], |lo| <= ulp(hi)/2 ----

function twoSum(a, b) {
  const s = a + b, bb = s - a;
  return [s, (a - (s - bb)) + (b - bb)];
}
function quickTwoSum(a, b) {
  const s = a + b;
  return [s, b - (s - a)];
}
function split(a) {
  const c = 134217729 * a;  // 2^27 + 1
  const hi = c - (c - a);
  return [hi, a - hi];
}
function twoProd(a, b) {
  const p = a * b;
  const [ah, al] = split(a), [bh, bl] = split(b);
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}
function add(x, y) {
  const [s, e] = twoSum(x[0], y[0]);
  return quickTwoSum(s, e + x[1] + y[1]);
}
function neg(x) {
  return [-x[0], -x[1]];
}
function mul(x, y) {
  const [p, e] = twoProd(x[0], y[0]);
  return quickTwoSum(p, e + x[0] * y[1] + x[1] * y[0]);
}
function div(x, y) {
  const q1 = x[0] / y[0];
  const r1 = add(x, neg(mul([q1, 0], y)));
  const q2 = r1[0] / y[0];
  const r2 = add(r1, neg(mul([q2, 0], y)));
  const q3 = r2[0] / y[0];
  return add(quickTwoSum(q1, q2), [q3, 0]);
}
const ONE = [1, 0];
const LN2 = [0.6931471805599453, 2.3190468138462996e-17];

// e^r - 1 for |r| <= 0.36 by its Taylor series (terms below 2^-110 of it).
function expm1Small(r) {
  let term = r, sum = r;
  for (let k = 2; k <= 30; k++) {
    term = div(mul(term, r), [k, 0]);
    sum = add(sum, term);
    if (Math.abs(term[0]) < 1e-34 * Math.abs(sum[0])) break;
  }
  return sum;
}
// v·2^k, in steps so that 2^k itself need not be a double.
function timesPow2(v, k) {
  for (; k > 1000; k -= 1000) v *= 2 ** 1000;
  for (; k < -1000; k += 1000) v *= 2 ** -1000;
  return v * 2 ** k;
}
// A reference is {v: [hi, lo], n}: the value v·2^n, so that results in the
// denormal range are not rounded before they are compared.
// e^(x + xLo) = e^r·2^n, x + xLo = n·ln2 + r.
function expRef(x, xLo = 0) {
  if (x > 2000) return { v: [Infinity, 0], n: 0 };
  if (x < -800) return { v: [0, 0], n: 0 };
  const n = Math.round(x / LN2[0]);
  const r = add([x, xLo], neg(mul([n, 0], LN2)));
  return { v: add(ONE, expm1Small(r)), n };
}
// A reference's value at the scale 2^n (scaled: its value).
function atScale(ref, n) {
  return [timesPow2(ref.v[0], ref.n - n), timesPow2(ref.v[1], ref.n - n)];
}
function scaled(ref) {
  return atScale(ref, 0);
}
function expm1Dd(x) {
  if (Math.abs(x) <= 0.36) return expm1Small([x, 0]);
  if (x < -60) return [-1, 0];
  const e = scaled(expRef(x));
  return Number.isFinite(e[0]) ? add(e, [-1, 0]) : e;
}
function expm1Ref(x) {
  return { v: expm1Dd(x), n: 0 };
}
function tanhRef(x) {
  const a = Math.abs(x);
  if (a > 30) return { v: [Math.sign(x), 0], n: 0 };
  const t = expm1Dd(2 * a);
  const q = div(t, add(t, [2, 0]));
  return { v: x < 0 ? neg(q) : q, n: 0 };
}
// σ(x) = 1/(1 + e^-|x|) or e^-|x|/(1 + e^-|x|), the latter as 2^n·(e^r/(1 + e^-|x|)).
function sigmoidRef(x) {
  const e = expRef(-Math.abs(x));
  const denominator = add(ONE, scaled(e));
  return x < 0 ? { v: div(e.v, denominator), n: e.n } : { v: div(ONE, denominator), n: 0 };
}
// log w for a double-double w > 0 (w's hi in the double range): one
// Newton step y + (w·e^-y - 1) from the library's y = Math.log(w), the
// product taken at the scale of e^-y's parts so that nothing overflows.
function logDd(w, y) {
  const e = expRef(-y);
  const t = mul([timesPow2(w[0], e.n), timesPow2(w[1], e.n)], e.v);
  return add([y, 0], add(t, [-1, 0]));
}
// log(1 + w) for a double-double w > -1: below 1/64 in magnitude by its
// series (the Newton step's w·e^-y - 1 would be below the double-double
// precision of 1 there), else by logDd with 1 + w exact in double-double.
function log1pDd(w) {
  if (Math.abs(w[0]) < 1 / 64) {
    let power = w, sum = w;
    for (let k = 2; k <= 40; k++) {
      power = mul(power, neg(w));
      sum = add(sum, div(power, [k, 0]));
      if (Math.abs(power[0]) < 1e-36 * Math.abs(sum[0])) break;
    }
    return sum;
  }
  const [hi, lo] = twoSum(1, w[0]);
  return logDd(add([hi, lo], [w[1], 0]), Math.log1p(w[0]));
}
function logRef(x) {
  // Near 1 as log(1 + (x - 1)), x - 1 exact in double-double.
  return { v: Math.abs(x - 1) < 1 / 64 ? log1pDd(twoSum(x, -1)) : logDd([x, 0], Math.log(x)), n: 0 };
}
function log1pRef(x) {
  return { v: log1pDd([x, 0]), n: 0 };
}
// β = 1, threshold 20: x beyond it; else max(x, 0) + log(1 + e^-|x|), which
// below -40 is e^x·(1 - e^x/2) to 2^-120 (kept at e^x's scale).
function softplusRef(x) {
  if (x > 20) return { v: [x, 0], n: 0 };
  const e = expRef(-Math.abs(x));
  if (x < -40) return { v: mul(e.v, [1 - timesPow2(e.v[0], e.n) / 2, 0]), n: e.n };
  return { v: add([x > 0 ? x : 0, 0], log1pDd(scaled(e))), n: 0 };
}
// sin and cos for |x| < 2^22: x = n·π/2 + r with π/2 as three doubles
// (to 2^-160), r in double-double (to about 2^-106·|x|), then the Taylor
// series of sin r or cos r, picked and signed by n mod 4.
const PIO2 = [1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33];
function trigRef(x, cosine) {
  const n = Math.round(x / PIO2[0]);
  let r = [x, 0];
  for (const p of PIO2) r = add(r, neg(twoProd(n, p)));
  const r2 = mul(r, r);
  const series = (start, first) => {
    let term = start, sum = start;
    for (let k = first; k < 60; k += 2) {
      term = neg(div(mul(term, r2), [k * (k + 1), 0]));
      sum = add(sum, term);
      if (Math.abs(term[0]) < 1e-36 * Math.abs(sum[0])) break;
    }
    return sum;
  };
  const q = (((n + (cosine ? 1 : 0)) % 4) + 4) % 4;
  const v = q % 2 === 1 ? series(ONE, 1) : series(r, 2);
  return { v: q >= 2 ? neg(v) : v, n: 0 };
}
// Whether the C library computes sin or cos of x in the kernels: beyond
// the reduction, or close to a nonzero multiple of π/2 (2^-20 here: the
// kernels' 2^-30, with room for this double-precision estimate).
function trigByLibrary(x) {
  const a = Math.abs(x);
  const n = Math.round(a / PIO2[0]);
  return !(a < 2 ** 20) || (n !== 0 && Math.abs(a - n * PIO2[0] - n * PIO2[1]) < 2 ** -20);
}
// x³ exactly in double-double (below 1e-90 at the scale 2^1200, so that
// denormal results are not rounded first).
function cubeRef(x) {
  const k = Math.abs(x) < 1e-90 ? 400 : 0;
  const v = timesPow2(x, k);
  return { v: mul(mul([v, 0], [v, 0]), [v, 0]), n: -3 * k };
}
// Whether the kernels leave x³ to the C library's pow: |x| outside
// (2^-300, 2^300).
function cubeByLibrary(x) {
  const a = Math.abs(x);
  return !(a > 2 ** -300 && a < 2 ** 300);
}
function siluRef(x) {
  if (Math.abs(x) > 1e300) return { v: [x > 0 ? x : 0, 0], n: 0 };  // beyond split's range
  const s = sigmoidRef(x);
  return { v: mul([x, 0], s.v), n: s.n };
}

// Exact gelu x·Φ(x) and its gradient Φ(x) + x·φ(x), from the tail
// Φ(-y) = φ(y)·M(y), y = |x| <= 40, φ(y) = e^(-y²/2)/√(2π) with y² exact:
// for y <= 5 as 1/2 - φ(y)·S(y), S(y) = Σ y^(2k+1)/(2k+1)!! (all terms
// positive; the subtraction loses at most 21 of the 106 bits), beyond by
// Laplace's continued fraction M(y) = 1/(y + 1/(y + 2/(y + 3/(y + …))))
// (500/y levels: below 3e-34 relative for y in [5, 40]).
const INV_SQRT_2PI = [0.3989422804014327, -2.49232720227773e-17];
function geluParts(x) {
  const y = Math.abs(x);
  const square = twoProd(y, y);
  const g = expRef(-square[0] / 2, -square[1] / 2);
  const density = { v: mul(g.v, INV_SQRT_2PI), n: g.n };  // φ(y)
  let tail;
  if (y <= 5) {
    let term = [y, 0], sum = [y, 0];
    for (let k = 1; k < 200 && Math.abs(term[0]) > 1e-34 * sum[0]; k++) {
      term = div(mul(term, square), [2 * k + 1, 0]);
      sum = add(sum, term);
    }
    tail = { v: add([0.5, 0], neg(mul(scaled(density), sum))), n: 0 };
  } else {
    let t = [y, 0];
    for (let k = Math.ceil(500 / y); k >= 1; k--) t = add([y, 0], div([k, 0], t));
    tail = { v: div(density.v, t), n: density.n };
  }
  return { tail, density };
}
// Beyond |x| = 40 gelu is x or -0 and its gradient 1 or -0: specials.
function geluRef(x) {
  const { tail } = geluParts(x);
  return x < 0 ? { v: mul([x, 0], tail.v), n: tail.n } : { v: mul([x, 0], add(ONE, neg(scaled(tail)))), n: 0 };
}
function geluGradRef(x) {
  const { tail, density } = geluParts(x);
  if (x < 0) return { v: add(atScale(tail, density.n), mul([x, 0], density.v)), n: density.n };
  return { v: add(add(ONE, neg(scaled(tail))), mul([x, 0], scaled(density))), n: 0 };
}
// The gradient crosses zero at x = -0.7518: where it is below half of
// |x|·φ(x) (x in about (-1.1, -0.5)), its error is in units of the ulp of
// |x|·φ(x), the larger of its terms there; elsewhere in its own ulps.
function geluGradUnit(x) {
  if (!(x < -0.3 && x > -1.5)) return 0;
  const term = -x * Math.exp((-x * x) / 2) * INV_SQRT_2PI[0];
  const g = geluGradRef(x);
  return Math.abs(timesPow2(g.v[0], g.n)) < term / 2 ? ulp(term) : 0;
}

// ---- inputs ---------------------------------------------------------------

const DBL_MIN = 2 ** -1022;

function inputs() {
  const v = [NaN, Infinity, -Infinity, 0, -0, 5e-324, -5e-324, DBL_MIN, -DBL_MIN, 1e-300, -1e-300, Number.MAX_VALUE, -Number.MAX_VALUE,
    709.78, 709.79, -708.4, -745.1, -745.2, 20, -20, 19.5, 40, -40, 37.5];
  for (let k = -1074; k <= 10; k++)
    for (const m of [1, 1.25, 1.5, 1.9999999999999998]) v.push(m * 2 ** k, -m * 2 ** k);
  // Random bit patterns with any exponent up to 2^10 (beyond, every result
  // is 0, 1, ±1 or ±Infinity).
  const bits = new Uint32Array(2);
  const f = new Float64Array(bits.buffer);
  let s = 4321;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < 60000; i++) {
    bits[0] = next();
    bits[1] = (next() % 0x40900000) | (next() & 0x80000000);  // exponent field below 1033
    v.push(f[0]);
  }
  // Dense sweeps: the exp range, and where tanh, σ and expm1 change most.
  const sweep = (a, b, n) => {
    for (let i = 0; i <= n; i++) v.push(a + ((b - a) * i) / n + (next() / 4294967296 - 0.5) * ((b - a) / n));
  };
  sweep(-750, 712, 60000);
  sweep(-40, 40, 40000);
  sweep(-2, 2, 40000);
  sweep(-0.05, 0.05, 10000);
  sweep(-38, -5, 20000);  // gelu's tail
  v.push(-24.292181917718164, -25.49147898581572, -26.08296536031776, -25.514326320259077, -1.2687, -5.27);
  // Where the reduction's n changes ((j + 1/2)·ln2), the doubles next to it,
  // for the n of ordinary arguments and a sample up to both ends.
  const near = (c, count) => {
    let lo = c, hi = c;
    for (let d = 0; d < count; d++) {
      lo = nextDown(lo);
      hi = nextUp(hi);
      v.push(lo, hi);
    }
  };
  for (let j = -1076; j <= 1024; j += j > -60 && j < 60 ? 1 : 37) near((j + 0.5) * LN2[0], 30);
  // Each op's own switch points: |x| = 20 (tanh), -40 (expm1), the
  // overflow and underflow thresholds.
  for (const c of [20, -20, -40, 709.782712893384, -745.1332191019411, -708.3964185322641, 354.8913564466919]) near(c, 200);
  // sin and cos: arguments up to past their reduction's limit 2^20, and the
  // doubles next to multiples of π/2 (the closest go to the C library).
  sweep(-(2 ** 21), 2 ** 21, 20000);
  for (const n of [1, 2, 3, 4, 7, 100, 1000, 65536, 355, 103993, 411557, 667544, 667545, 700000]) near(n * PIO2[0], 40);
  for (const c of [2 ** 20, -(2 ** 20), 1e10, 1e300]) near(c, 20);
  return Float64Array.from(v);
}

const view = new DataView(new ArrayBuffer(8));
function nextUp(x) {
  if (x === 0) return 5e-324;
  view.setFloat64(0, x);
  view.setBigInt64(0, view.getBigInt64(0) + (x > 0 ? 1n : -1n));
  return view.getFloat64(0);
}
function nextDown(x) {
  return -nextUp(-x);
}
// The spacing of doubles at |r| (denormal spacing below 2^-1022).
function ulp(r) {
  const a = Math.abs(r);
  if (a < DBL_MIN) return 5e-324;
  view.setFloat64(0, a);
  const e = (view.getUint32(0) >>> 20) & 0x7ff;
  return 2 ** (e - 1075);
}

// The error of `got` against the reference, in ulps of the correctly
// rounded result (whose spacing is ulp(w), w the reference rounded; in the
// denormals 2^-1074), or in units of `floor` where that is larger: both
// taken to the scale of ref.v.
function ulpError(got, ref, floor) {
  const w = timesPow2(ref.v[0], ref.n);
  // Beyond the largest double by half its ulp or more, the result is +-Infinity.
  if (!Number.isFinite(w)) return got === w ? 0 : Infinity;
  if (!Number.isFinite(got)) return Infinity;
  const diff = (timesPow2(got, -ref.n) - ref.v[0]) - ref.v[1];
  return Math.abs(diff) / timesPow2(Math.max(ulp(w), floor), -ref.n);
}

// d/dx of f at the elements of t (an incoming gradient of ones).
function gradient(tg, t, f) {
  const leaf = t.detach().setRequiresGrad(true);
  f(leaf).backward(tg.onesLike(leaf));
  return leaf.grad;
}

function runAll(tg) {
  const x = inputs();
  const t = tg.tensor(x, { dtype: 'float64' });
  const finite = (v) => Number.isFinite(v);
  const ops = {
    exp: [(a) => a.exp(), expRef, (v) => (v === Infinity ? Infinity : v === -Infinity ? 0 : NaN)],
    expm1: [(a) => a.expm1(), expm1Ref, (v) => (v === Infinity ? Infinity : v === -Infinity ? -1 : NaN)],
    tanh: [(a) => a.tanh(), tanhRef, (v) => (v === Infinity ? 1 : v === -Infinity ? -1 : NaN)],
    sigmoid: [(a) => a.sigmoid(), sigmoidRef, (v) => (v === Infinity ? 1 : v === -Infinity ? 0 : NaN)],
    // Below -708.4 σ(x) is a denormal, with fewer bits than x·σ(x): there
    // the unit is |x| times the smallest denormal.
    silu: [(a) => a.silu(), siluRef, (v) => (v === Infinity ? Infinity : v === -Infinity ? 0 : NaN), (v) => Math.abs(v) * 5e-324],
    elu: [(a) => a.elu(), (v) => (v > 0 ? { v: [v, 0], n: 0 } : expm1Ref(v)), (v) => (v === Infinity ? Infinity : v === -Infinity ? -1 : NaN)],
    // Negative inputs give NaN, -1 -Infinity (log1p): checked as specials.
    log: [(a) => a.log(), logRef, (v) => (v === Infinity ? Infinity : NaN), null, (v) => (v < 0 ? NaN : undefined)],
    log1p: [(a) => a.log1p(), log1pRef, (v) => (v === Infinity ? Infinity : NaN), null, (v) => (v < -1 ? NaN : v === -1 ? -Infinity : undefined)],
    softplus: [(a) => a.softplus(), softplusRef, (v) => (v === Infinity ? Infinity : v === -Infinity ? 0 : NaN)],
    // x³ by a constant exponent (the cube kernel) and by a tensor of 3s (the
    // pow kernel); Infinity beyond 1e103.
    pow3: [(a) => a.pow(3), cubeRef, (v) => v, null, undefined, { by: cubeByLibrary, js: (v) => v ** 3 }],
    powTensor3: [(a) => a.pow(tg.fullLike(a, 3)), cubeRef, (v) => v, null, undefined, { by: cubeByLibrary, js: (v) => v ** 3 }],
    sin: [(a) => a.sin(), (v) => trigRef(v, false), () => NaN, null, undefined, { by: trigByLibrary, js: Math.sin }],
    cos: [(a) => a.cos(), (v) => trigRef(v, true), () => NaN, null, undefined, { by: trigByLibrary, js: Math.cos }],
    gelu: [(a) => a.gelu(), geluRef, (v) => (v === Infinity ? Infinity : v === -Infinity ? 0 : NaN), null, (v) => (v < -40 ? -0 : v > 40 ? v : undefined)],
    geluGrad: [(a) => gradient(tg, a, (b) => b.gelu()), geluGradRef, (v) => (v === Infinity ? 1 : v === -Infinity ? 0 : NaN), geluGradUnit,
      (v) => (v < -40 ? -0 : v > 40 ? 1 : v === 0 ? 0.5 : undefined)],
  };
  const result = {};
  const hash = crypto.createHash('sha256');
  for (const [name, [op, ref, special, floor, outside, library]] of Object.entries(ops)) {
    const got = op(t).data();
    const hashed = Float64Array.from(got, (g, i) => (library && library.by(x[i]) ? 0 : g));
    hash.update(new Uint8Array(hashed.buffer));
    let maxUlp = 0, worst = null;
    const mismatches = [];
    for (let i = 0; i < x.length; i++) {
      const v = x[i], g = got[i];
      if (library && Number.isFinite(v) && v !== 0 && library.by(v)) {
        const want = library.js(v);
        if (!(Object.is(g, want) || Math.abs(g - want) <= 2 * ulp(want)) && mismatches.length < 10) mismatches.push({ x: v, got: g, want, library: true });
        continue;
      }
      if (!finite(v) || (outside && outside(v) !== undefined)) {
        const want = !finite(v) ? special(v) : outside(v);
        if (!Object.is(g, want) && mismatches.length < 10) mismatches.push({ x: String(v), got: String(g), want: String(want) });
        continue;
      }
      const want = ref(v);
      // ±0 in: expm1, tanh, silu, elu, log1p, sin and x³ keep the sign; log
      // gives -Infinity.
      if (v === 0 && name === 'log') {
        if (g !== -Infinity && mismatches.length < 10) mismatches.push({ x: String(v), got: String(g), want: '-Infinity' });
        continue;
      }
      if (v === 0 && name !== 'exp' && name !== 'sigmoid' && name !== 'softplus' && name !== 'cos' && name !== 'geluGrad') {
        if (!Object.is(g, v) && mismatches.length < 10) mismatches.push({ x: String(v), got: String(g), want: String(v) });
        continue;
      }
      const e = ulpError(g, want, floor ? floor(v) : 0);
      if (e !== e) {
        if (mismatches.length < 10) mismatches.push({ x: v, got: String(g), want: String(timesPow2(want.v[0], want.n)) });
        continue;
      }
      if (e > maxUlp) {
        maxUlp = e;
        worst = { x: v, got: g, want: timesPow2(want.v[0], want.n) };
      }
    }
    result[name] = { maxUlp: Math.ceil(maxUlp * 1e6) / 1e6, worst };
    if (mismatches.length > 0) result[name].mismatches = mismatches;
  }
  // The fused gradients built on σ (no reference here: the bits must
  // agree across paths, and gradcheck tests their values).
  for (const f of [(a) => a.silu(), (a) => a.gelu({ approximate: 'tanh' })]) {
    const d = gradient(tg, t, f).data();
    hash.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return { count: x.length, result, digest: hash.digest('hex') };
}

module.exports = { runAll };

caseMain(module, runAll, () => ({
  mode: process.env.TAPEGRAD_ELEMENTWISE ?? 'auto',
  streaming: process.env.TAPEGRAD_STREAM_STORES ?? 'auto',
}));
