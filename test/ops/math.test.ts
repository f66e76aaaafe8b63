// float32 exp, log, tanh, sigmoid, gelu (both forms), silu, elu, softplus, pow, sin, cos, log1p and expm1, and the fused
// activation gradients (vectorised per ISA), within their documented error
// (1 ulp of the float64 reference) over the whole float range, with exact
// special values, on every ISA path this CPU runs and on the generic loops.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, tg, runnableIsas, runCaseScript } from '../helpers.js';

const casesPath = path.join(__dirname, 'math-cases.cjs');
const cases64Path = path.join(__dirname, 'math64-cases.cjs');
const list = (t: tg.Tensor) => Array.from(t.data());
type Report = { count: number; result: Record<string, { maxUlp: number; mismatches: unknown[] }>; sigmoidNotOne: number[] };

// The gradients g·f'(x) for float32 g and x, from backward().
const POW = ['pow3', 'powHalf', 'powMinus2_5', 'powMinus7', 'powTensor'];
const BACKWARD = ['geluBackward', 'geluTanhBackward', 'siluBackward', 'tanhBackward', 'sigmoidBackward'];

function check(r: Report, ops: string[]) {
  expect(r.count).toBeGreaterThan(400000);
  expect(r.sigmoidNotOne).toEqual([]);
  for (const op of ops) {
    expect(r.result[op]!.mismatches, op).toEqual([]);
    expect(r.result[op]!.maxUlp, op).toBeLessThanOrEqual(1);
  }
}

describe('float32 transcendental kernels', () => {
  for (const isa of runnableIsas())
    it(`${isa}: within 1 ulp of float64 over the float range, special values exact`, () => {
      const r = runCaseScript<Report & { isa: string }>(casesPath, { TAPEGRAD_ISA: isa });
      expect(r.isa).toBe(isa);
      check(r, ['exp', 'log', 'tanh', 'sigmoid', 'gelu', 'geluTanh', 'silu', 'elu', 'softplus', ...POW, 'sin', 'cos', 'log1p', 'expm1', ...BACKWARD]);
    });

  it('outputs written with streaming stores (forced for every size): the same checks', () => {
    const r = runCaseScript<Report & { streaming: string }>(casesPath, { TAPEGRAD_STREAM_STORES: 'always' });
    expect(r.streaming).toBe('always');
    check(r, ['exp', 'log', 'tanh', 'sigmoid', 'gelu', 'geluTanh', 'silu', 'elu', 'softplus', ...POW, 'sin', 'cos', 'log1p', 'expm1', ...BACKWARD]);
  });

  // exp, log, tanh, sigmoid, log1p and expm1 fall back to the C library's float functions
  // there (a few ulps); gelu, silu, pow, sin, cos and the gradients are evaluated in double.
  it('generic loops (TAPEGRAD_ELEMENTWISE=generic): gelu, silu, elu, softplus, pow, sin, cos and the gradients within 1 ulp', () => {
    const r = runCaseScript<Report & { mode: string }>(casesPath, { TAPEGRAD_ELEMENTWISE: 'generic' });
    expect(r.mode).toBe('generic');
    check(r, ['gelu', 'geluTanh', 'silu', 'elu', 'softplus', ...POW, 'sin', 'cos', ...BACKWARD]);
  });

  it('special values by hand', () => {
    const x = tg.tensor([NaN, Infinity, -Infinity, 0, -0, 1e-45, 100, -200]);
    expect(list(x.exp())).toEqual([NaN, Infinity, 0, 1, 1, 1, Infinity, 0]);
    expect(list(x.log())).toEqual([NaN, Infinity, NaN, -Infinity, -Infinity, Math.fround(Math.log(Math.fround(1e-45))), Math.fround(Math.log(100)), NaN]);
    expect(list(x.tanh()).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual([NaN, 1, -1, 0, '-0', Math.fround(1e-45), 1, -1]);
    expect(list(x.sigmoid())).toEqual([NaN, 1, 0, 0.5, 0.5, 0.5, 1, 0]);
    // gelu(1e-45) is x·Φ(x), a hair above half the smallest denormal: 0 or
    // 1e-45 are both within the bound (the evaluation cannot see the hair).
    const gelu = list(x.gelu()).map((v) => (v === 0 ? 0 : v));
    expect([0, Math.fround(1e-45)]).toContain(gelu[5]);
    expect(gelu.filter((_, i) => i !== 5)).toEqual([NaN, Infinity, 0, 0, 0, 100, 0]);
    expect(list(x.gelu({ approximate: 'tanh' })).map((v) => (v === 0 ? 0 : v))).toEqual([NaN, Infinity, 0, 0, 0, 0, 100, 0]);
    expect(list(x.silu()).map((v) => (v === 0 ? 0 : v))).toEqual([NaN, Infinity, 0, 0, 0, 0, 100, 0]);
  });

  it('elu and softplus: special values (and elu\'s gradient), and their parameters taken in float32', () => {
    const x = tg.tensor([NaN, Infinity, -Infinity, 0, -0, -1, 3, 30]);
    expect(list(x.elu()).map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual([NaN, Infinity, -1, 0, '-0', Math.fround(Math.expm1(-1)), 3, 30]);
    expect(list(x.softplus())).toEqual([NaN, Infinity, 0, Math.fround(Math.LN2), Math.fround(Math.LN2), Math.fround(Math.log1p(Math.exp(-1))), Math.fround(3 + Math.log1p(Math.exp(-3))), 30]);
    const a = Math.fround(0.3), b = Math.fround(0.7);
    expect(list(tg.tensor([-1, -0.001, 2]).elu(0.3))).toEqual([Math.fround(a * Math.expm1(-1)), Math.fround(a * Math.expm1(Math.fround(-0.001))), 2]);
    // elu's gradient from its output: g where x > 0, else g·(y + alpha).
    const leafX = x.detach().setRequiresGrad(true);
    leafX.elu().backward(tg.full([8], 3));
    const y1 = Math.fround(Math.expm1(-1));
    expect(list(leafX.grad!)).toEqual([NaN, 3, 0, 3, 3, Math.fround(3 * Math.fround(y1 + 1)), 3, 3]);
    // The gradient takes the forward's branch where βx rounded to float
    // would fall on the other side of the threshold (βx = 4.00000003 in
    // double, 4 in float): 1, not σ(4).
    const edge = tg.tensor([5.714285850524902], { requiresGrad: true });
    expect(list(edge.softplus(0.7, 4))).toEqual([Math.fround(5.714285850524902)]);
    edge.softplus(0.7, 4).backward();
    expect(list(edge.grad!)).toEqual([1]);
    // Thresholds of 18 and more take σ(βx) unmasked (it is 1 above them):
    // above the threshold the gradient is still g itself, below it g·σ(βx)
    // (in float32: σ rounded, then the product).
    const gr = [3.7, -1.25, 3.7, 2.5, 3.7];
    const sig32 = (v: number) => Math.fround(1 / (1 + Math.exp(-v)));
    for (const [beta, threshold] of [[1, 20], [0.5, 18], [1, Infinity]]) {
      const xs = [25, 20.5, 17, -3, Infinity].map((v) => v / beta);
      const leaf = tg.tensor(xs, { requiresGrad: true });
      leaf.softplus(beta, threshold).backward(tg.tensor(gr));
      const want = xs.map((v, i) => (beta * v > threshold || v === Infinity ? Math.fround(gr[i]!) : Math.fround(Math.fround(gr[i]!) * sig32(Math.fround(beta * v)))));
      expect(list(leaf.grad!), `softplus(${beta}, ${threshold})`).toEqual(want);
    }
    // threshold 4 on βx: 0.7·5 = 3.5 is below it, 0.7·6 = 4.2 above (x itself).
    expect(list(tg.tensor([5, 6, -2]).softplus(0.7, 4))).toEqual([
      Math.fround((b * 5 + Math.log1p(Math.exp(-b * 5))) / b), 6, Math.fround(Math.log1p(Math.exp(b * -2)) / b)]);
  });

  it('log1p and expm1: special values, signed zero, tiny and overflowing inputs', () => {
    const signed = (v: number) => (Object.is(v, -0) ? '-0' : v);
    const x = tg.tensor([NaN, Infinity, -Infinity, 0, -0, -1, -2, 1e-45, 1e-30, -0.5, 3e38]);
    expect(list(x.log1p()).map(signed)).toEqual([NaN, Infinity, NaN, 0, '-0', -Infinity, NaN, Math.fround(1e-45), Math.fround(1e-30), Math.fround(Math.log1p(-0.5)), Math.fround(Math.log1p(Math.fround(3e38)))]);
    const y = tg.tensor([NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-30, 88.7, 88.8, -17, -18, -200]);
    expect(list(y.expm1()).map(signed)).toEqual([NaN, Infinity, -1, 0, '-0', Math.fround(1e-45), Math.fround(-1e-30), Math.fround(Math.expm1(Math.fround(88.7))), Infinity, Math.fround(Math.expm1(-17)), -1, -1]);
    // float64: math_f64.inc's (the float64 cases test their accuracy).
    const x64 = tg.tensor([1e-300, -0.5, 700, -1], { dtype: 'float64' });
    expectClose(list(x64.log1p()), [1e-300, Math.log1p(-0.5), Math.log1p(700), -Infinity], 1e-15);
    expectClose(list(x64.expm1()), [1e-300, Math.expm1(-0.5), Math.expm1(700), Math.expm1(-1)], 1e-15);
  });

  it('sin and cos: special values, signed zero, beyond the reduction limit, float64 at a few values', () => {
    const values = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-30, Math.fround(Math.PI), 1048575.9375, 1048576, -3e38];
    const x = tg.tensor(values);
    const signed = (v: number) => (Object.is(v, -0) ? '-0' : v);
    const f = Float32Array.from(values);
    expect(list(x.sin()).map(signed)).toEqual([NaN, NaN, NaN, 0, '-0', Math.fround(1e-45), Math.fround(-1e-30), ...Array.from(f.slice(7), (v) => Math.fround(Math.sin(v)))]);
    expect(list(x.cos())).toEqual([NaN, NaN, NaN, 1, 1, 1, 1, ...Array.from(f.slice(7), (v) => Math.fround(Math.cos(v)))]);
    // (Correctly rounded there, as Math.sin and Math.cos are; 1e300 is
    // beyond float64's reduction, the C library's.)
    const x64 = tg.tensor([0.5, -3, 1e6, 1e300], { dtype: 'float64' });
    expect(list(x64.sin())).toEqual([0.5, -3, 1e6, 1e300].map(Math.sin));
    expect(list(x64.cos())).toEqual([0.5, -3, 1e6, 1e300].map(Math.cos));
    expect(list(tg.tensor([0, -0, 5e-324, -Math.PI, Infinity, NaN], { dtype: 'float64' }).sin()).map(signed)).toEqual([
      0, '-0', 5e-324, -1.2246467991473532e-16, NaN, NaN]);
    expect(list(tg.tensor([0, -0, Math.PI / 2, Infinity, NaN], { dtype: 'float64' }).cos())).toEqual([1, 1, 6.123233995736766e-17, NaN, NaN]);
  });

  it('gradients at special values by hand: the limits 1 and 0 at ±Infinity, NaN passed on', () => {
    const values = [NaN, Infinity, -Infinity, 0, 100, -200];
    const grad = (f: (t: tg.Tensor) => tg.Tensor) => {
      const x = tg.tensor(values, { requiresGrad: true });
      f(x).backward(tg.tensor([3, 3, 3, 3, 3, 3]));
      return list(x.grad!).map((v) => (v === 0 ? 0 : v));
    };
    expect(grad((t) => t.gelu())).toEqual([NaN, 3, 0, 1.5, 3, 0]);
    expect(grad((t) => t.gelu({ approximate: 'tanh' }))).toEqual([NaN, 3, 0, 1.5, 3, 0]);
    expect(grad((t) => t.silu())).toEqual([NaN, 3, 0, 1.5, 3, 0]);
    expect(grad((t) => t.tanh())).toEqual([NaN, 0, 0, 3, 0, 0]);
    expect(grad((t) => t.sigmoid())).toEqual([NaN, 0, 0, 0.75, 0, 0]);
  });
});

// float64 e^x and what is built on it (kernels/math_f64.inc): plain
// operations, so every path and the generic loops give the same bits.
describe('float64 exp, expm1, tanh, sigmoid, silu, elu, log, log1p, softplus, sin, cos, x³ and exact gelu', () => {
  type Report64 = { count: number; digest: string; mode: string; result: Record<string, { maxUlp: number; mismatches?: unknown[] }> };
  // The largest errors measured (ulps of the exact result), with room for
  // inputs the cases do not reach: exp 0.66 (in the denormals; 0.5 plus
  // about 0.17 elsewhere), expm1 0.93, elu 0.71, log 0.75, log1p 0.81,
  // sin 0.81, cos 0.77, tanh 1.67, sigmoid 1.68, softplus 1.51, silu 2.72
  // (σ's error, then the product), gelu 2.50 and its gradient 1.92 (near
  // its zero in units of x·φ(x)'s ulp); x³ correctly rounded (0.5, the
  // report rounding up to 1e-6).
  const BOUNDS: Record<string, number> = {
    exp: 1, expm1: 1, elu: 1, log: 1, log1p: 1, sin: 1, cos: 1, tanh: 2, sigmoid: 2, softplus: 2, silu: 3,
    gelu: 3, geluGrad: 2.5, pow3: 0.500001, powTensor3: 0.500001,
  };
  const check64 = (r: Report64) => {
    expect(r.count).toBeGreaterThan(200000);
    for (const [op, bound] of Object.entries(BOUNDS)) {
      expect(r.result[op]!.mismatches, op).toBeUndefined();
      expect(r.result[op]!.maxUlp, op).toBeLessThanOrEqual(bound);
    }
  };

  it('within their bounds of double-double references on every ISA path, streamed, and on the generic loops, with the same bits', () => {
    const digests = new Set<string>();
    const envs = [
      ...runnableIsas().map((isa) => ({ TAPEGRAD_ISA: isa })),
      { TAPEGRAD_STREAM_STORES: 'always' },  // outputs written in blocks with streaming stores
      { TAPEGRAD_ELEMENTWISE: 'generic' },
    ];
    for (const env of envs) {
      const r = runCaseScript<Report64 & { isa: string; streaming: string }>(cases64Path, env);
      if ('TAPEGRAD_ISA' in env) expect(r.isa).toBe(env.TAPEGRAD_ISA);
      else if ('TAPEGRAD_STREAM_STORES' in env) expect(r.streaming).toBe('always');
      else expect(r.mode).toBe('generic');
      check64(r);
      digests.add(r.digest);
    }
    expect(digests.size).toBe(1);
  }, 300_000);  // five runs of 10-15 s: the references are double-double arithmetic in JavaScript

  // The finite values below are the correctly rounded ones (50-digit
  // decimal arithmetic), which these inputs happen to get.
  it('values and special values by hand', () => {
    const f64 = (v: number[]) => tg.tensor(v, { dtype: 'float64' });
    const signed = (v: number) => (Object.is(v, -0) ? '-0' : v);
    // e, 1/e and 2^10 are correctly rounded; overflow past 709.7827, the
    // smallest denormal at -744.44, 0 below -745.1332.
    expect(list(f64([0, 1, -1, 10 * Math.LN2, 709.78, 709.79, -744.44, -745.2, NaN, Infinity, -Infinity]).exp())).toEqual([
      1, Math.E, 1 / Math.E, 1024, 1.7928227943945155e308, Infinity, 5e-324, 0, NaN, Infinity, 0]);
    // e - 1 correctly rounded (Math.expm1(1) is one ulp below it).
    expect(list(f64([0, -0, 1e-300, -5e-324, 1, -50, 800, NaN, -Infinity]).expm1()).map(signed)).toEqual([
      0, '-0', 1e-300, -5e-324, 1.7182818284590453, -1, Infinity, NaN, -1]);
    expect(list(f64([0, -0, 5e-324, 0.5, -0.5, 20, -25, Infinity, NaN]).tanh()).map(signed)).toEqual([
      0, '-0', 5e-324, 0.46211715726000974, -0.46211715726000974, 1, -1, 1, NaN]);
    expect(list(f64([0, -0, 1, -1, 40, -40, -800, Infinity, -Infinity, NaN]).sigmoid())).toEqual([
      0.5, 0.5, 0.7310585786300049, 0.2689414213699951, 1, 4.248354255291589e-18, 0, 1, 0, NaN]);
    expect(list(f64([0, -0, 2, -2, -800, Infinity, -Infinity, NaN]).silu()).map(signed)).toEqual([
      0, '-0', 1.7615941559557649, -0.23840584404423512, '-0', Infinity, 0, NaN]);
    expect(list(f64([3, 0, -0, -1, -50, -Infinity]).elu(0.5)).map(signed)).toEqual([3, 0, '-0', -0.31606027941427883, -0.5, -0.5]);
    // x³ correctly rounded where the C library's pow is not (exact values
    // by rational arithmetic); pow's special values.
    expect(list(f64([-96.13979473979312, -21.69279814713859, 2, 0, -0, Infinity, -Infinity, NaN, 1e200, -1e-200]).pow(3)).map(signed)).toEqual([
      -888606.6759576993, -10208.142534665905, 8, 0, '-0', Infinity, -Infinity, NaN, Infinity, '-0']);
    // log 2^-1074 = -1074·ln2; log 10, log1p(1) = ln 2, log1p(-0.5) = -ln 2.
    expect(list(f64([1, 2, 10, 5e-324, Number.MAX_VALUE, 0, -0, -1, Infinity, -Infinity, NaN]).log())).toEqual([
      0, Math.LN2, Math.LN10, -744.4400719213812, 709.782712893384, -Infinity, -Infinity, NaN, Infinity, NaN, NaN]);
    expect(list(f64([0, -0, 5e-324, 1, -0.5, -1, -2, 1e300, Infinity, NaN]).log1p()).map(signed)).toEqual([
      0, '-0', 5e-324, Math.LN2, -Math.LN2, -Infinity, NaN, 690.7755278982137, Infinity, NaN]);
    // softplus(0) = ln 2; x itself beyond the threshold 20; e^x far below 0.
    expect(list(f64([0, 1, -2, 20, 20.5, -800, Infinity, -Infinity, NaN]).softplus())).toEqual([
      Math.LN2, 1.3132616875182228, 0.1269280110429725, 20.000000002061153, 20.5, 0, Infinity, 0, NaN]);
    // x·Φ(x) and Φ(x) + x·φ(x), correctly rounded here: at 1, ±2, 0.5,
    // -10, -38 (denormal results), the limits beyond |x| = 40 and the specials.
    const gelu = (t: tg.Tensor) => {
      const leaf = t.detach().setRequiresGrad(true);
      leaf.gelu().backward(tg.onesLike(leaf));
      return [list(t.gelu()).map(signed), list(leaf.grad!).map(signed)];
    };
    expect(gelu(f64([1, -2, 2, 0.5, -10, -38, 0, -0, -50, 50, Infinity, -Infinity, NaN]))).toEqual([
      [0.8413447460685429, -0.04550026389635842, 1.9544997361036416, 0.34573123063700656, -7.619853024160526e-23, -1.096462777e-314,
        0, '-0', '-0', 50, Infinity, 0, NaN],
      [1.0833154705876864, -0.0852318010781969, 1.085231801078197, 0.8674951246561629, -7.618400096464814e-22, -4.1665545693e-313,
        0.5, 0.5, '-0', 1, 1, 0, NaN],
    ]);
    // softplus(-1) is not (0.31326168751822286, one ulp above): within the bound.
    const one = f64([-1]).softplus().data()[0]!;
    expect(Math.abs(one - 0.3132616875182228)).toBeLessThanOrEqual(2 * 2 ** -54);
  });
});
