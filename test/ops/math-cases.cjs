// float32 exp, log, tanh, sigmoid and gelu against float64 references over
// the whole float range: special values, denormals, every power of two,
// random bit patterns and dense sweeps of the interesting intervals. Reports
// the largest error in ulps of the float32 result, and any special-value
// mismatch. Run as a child with TAPEGRAD_ISA set (math.test.ts does), it
// prints one JSON line.
'use strict';
const path = require('node:path');

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
  // Dense sweeps where the functions change.
  for (let i = 0; i <= 200000; i++) v.push(-110 + (200 * i) / 200000);
  for (let i = 0; i <= 20000; i++) v.push(-0.1 + (0.2 * i) / 20000, 0.5 + (1.5 * i) / 20000);
  return Float32Array.from(v);
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
  const sig = (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
  const ops = {
    exp: [(a) => a.exp(), null, Math.exp],
    log: [(a) => a.log(), null, Math.log],
    tanh: [(a) => a.tanh(), null, Math.tanh],
    sigmoid: [(a) => a.sigmoid(), null, sig],
    // No erf in JS: the float64 op (the C library's erfc) is the reference.
    gelu: [(a) => a.gelu(), (a) => a.gelu(), null],
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
  return { count: x.length, result };
}

module.exports = { runAll };

if (require.main === module) {
  const root = path.resolve(__dirname, '..', '..');
  const tg = require(path.join(root, 'dist', 'index.js'));
  const r = runAll(tg);
  process.stdout.write(JSON.stringify({ isa: tg.backendInfo().isa, ...r }) + '\n');
}
