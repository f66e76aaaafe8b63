import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, tg, type Tensor } from '../helpers.js';

// ---- references ------------------------------------------------------------

// erfc to about 1e-14 relative: Taylor series of erf near 0, the continued
// fraction erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) beyond 2.
function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let t = x;
  for (let n = 400; n >= 1; n--) t = x + n / 2 / t;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}
const geluRef = (x: number): number => 0.5 * x * erfc(-x / Math.SQRT2);
// PyTorch's 0.5·x·(1 + tanh u) in the equal form x / (1 + e^(-2u)), which does
// not cancel for x ≪ 0.
const geluTanhInner = (x: number): number => Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
const geluTanhRef = (x: number): number => x / (1 + Math.exp(-2 * geluTanhInner(x)));
const sigmoidRef = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** A float64 leaf holding `values`. */
function leafOf(values: number[], shape = [values.length]): Tensor {
  return tg.tensor(new Float64Array(values), { shape, dtype: 'float64', requiresGrad: true });
}
/** A float64 leaf of positive values in [lo, lo + 2·scale]. */
function positiveLeaf(shape: number[], seed = 1, lo = 0.3, scale = 1): Tensor {
  const base = leaf(shape, seed, scale);
  const values = Array.from(base.data(), (v) => lo + scale + v);
  return leafOf(values, shape);
}
function f64(values: number[]): Tensor {
  return tg.tensor(new Float64Array(values), { dtype: 'float64' });
}
function list(t: Tensor): number[] {
  return Array.from(t.data());
}
/** Equal as IEEE values: NaN equals NaN, and the sign of zero must match. */
function expectSame(actual: number[], expected: number[], what: string): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Object.is(a, expected[i]), `${what}[${i}]: ${a} vs ${expected[i]}`).toBe(true));
}
/** Close within a relative tolerance; non-finite values and zeros must match exactly (sign included). */
function expectNear(actual: number[], expected: number[], rtol: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    if (!Number.isFinite(e) || e === 0) expect(Object.is(a, e), `${what}[${i}]: ${a} vs ${e}`).toBe(true);
    else expect(Math.abs(a - e), `${what}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(rtol * Math.abs(e));
  });
}

/** Asserts that fn throws an instance of cls whose message matches. */
// ---- the op table --------------------------------------------------------------

interface Spec {
  name: string;
  fn: (t: Tensor) => Tensor;
  /** Where the gradient checks sample: 'any' (around [-2, 2]), 'positive', or 'wide' ([-4, 4]). */
  domain: 'any' | 'positive' | 'wide';
  /** A float64 reference for moderate inputs. */
  ref: (x: number) => number;
}

const specs: Spec[] = [
  { name: 'neg', fn: (t) => t.neg(), domain: 'any', ref: (x) => -x },
  { name: 'abs', fn: (t) => t.abs(), domain: 'any', ref: Math.abs },
  { name: 'sign', fn: (t) => t.sign(), domain: 'any', ref: Math.sign },
  { name: 'square', fn: (t) => t.square(), domain: 'any', ref: (x) => x * x },
  { name: 'relu', fn: (t) => t.relu(), domain: 'any', ref: (x) => Math.max(x, 0) },
  { name: 'clamp', fn: (t) => t.clamp(-0.5, 0.6), domain: 'any', ref: (x) => Math.min(Math.max(x, -0.5), 0.6) },
  { name: 'clamp(min)', fn: (t) => t.clamp(-0.3), domain: 'any', ref: (x) => Math.max(x, -0.3) },
  { name: 'clamp(max)', fn: (t) => t.clamp(undefined, 0.2), domain: 'any', ref: (x) => Math.min(x, 0.2) },
  { name: 'exp', fn: (t) => t.exp(), domain: 'any', ref: Math.exp },
  { name: 'log', fn: (t) => t.log(), domain: 'positive', ref: Math.log },
  { name: 'log1p', fn: (t) => t.log1p(), domain: 'positive', ref: Math.log1p },
  { name: 'expm1', fn: (t) => t.expm1(), domain: 'any', ref: Math.expm1 },
  { name: 'sqrt', fn: (t) => t.sqrt(), domain: 'positive', ref: Math.sqrt },
  { name: 'rsqrt', fn: (t) => t.rsqrt(), domain: 'positive', ref: (x) => 1 / Math.sqrt(x) },
  { name: 'sin', fn: (t) => t.sin(), domain: 'wide', ref: Math.sin },
  { name: 'cos', fn: (t) => t.cos(), domain: 'wide', ref: Math.cos },
  { name: 'tanh', fn: (t) => t.tanh(), domain: 'any', ref: Math.tanh },
  { name: 'sigmoid', fn: (t) => t.sigmoid(), domain: 'wide', ref: sigmoidRef },
  { name: 'reciprocal', fn: (t) => t.reciprocal(), domain: 'positive', ref: (x) => 1 / x },
  { name: 'leakyRelu', fn: (t) => t.leakyRelu(), domain: 'any', ref: (x) => (x > 0 ? x : 0.01 * x) },
  { name: 'leakyRelu(0.2)', fn: (t) => t.leakyRelu(0.2), domain: 'any', ref: (x) => (x > 0 ? x : 0.2 * x) },
  { name: 'elu', fn: (t) => t.elu(), domain: 'wide', ref: (x) => (x > 0 ? x : Math.expm1(x)) },
  { name: 'elu(1.5)', fn: (t) => t.elu(1.5), domain: 'wide', ref: (x) => (x > 0 ? x : 1.5 * Math.expm1(x)) },
  { name: 'gelu', fn: (t) => t.gelu(), domain: 'wide', ref: geluRef },
  { name: 'gelu(tanh)', fn: (t) => t.gelu({ approximate: 'tanh' }), domain: 'wide', ref: geluTanhRef },
  { name: 'silu', fn: (t) => t.silu(), domain: 'wide', ref: (x) => x * sigmoidRef(x) },
  { name: 'softplus', fn: (t) => t.softplus(), domain: 'wide', ref: (x) => Math.log1p(Math.exp(x)) },
  {
    name: 'softplus(2, 3)',
    fn: (t) => t.softplus(2, 3),
    domain: 'wide',
    ref: (x) => (2 * x > 3 ? x : Math.log1p(Math.exp(2 * x)) / 2),
  },
];

function sample(spec: Spec, shape: number[], seed = 1): Tensor {
  if (spec.domain === 'positive') return positiveLeaf(shape, seed);
  return leaf(shape, seed, spec.domain === 'wide' ? 4 : 2);
}

describe('unary ops: gradients', () => {
  for (const spec of specs) {
    it(`${spec.name}: gradcheck on contiguous, transposed, 0-d and repeated inputs`, () => {
      expect(tg.gradcheck(spec.fn, [sample(spec, [2, 3])])).toBe(true);
      // A transposed (non-contiguous) view as the input.
      expect(tg.gradcheck((t) => spec.fn(t.transpose(0, 1)), [sample(spec, [3, 4], 2)])).toBe(true);
      expect(tg.gradcheck(spec.fn, [sample(spec, [], 3)])).toBe(true);
      // The same tensor twice in one graph.
      expect(tg.gradcheck((t) => spec.fn(t).mul(t), [sample(spec, [5], 4)])).toBe(true);
    });

    it(`${spec.name}: gradgradcheck`, () => {
      expect(tg.gradgradcheck(spec.fn, [sample(spec, [2, 3], 5)])).toBe(true);
      expect(tg.gradgradcheck((t) => spec.fn(t.transpose(0, 1)), [sample(spec, [2, 3], 6)])).toBe(true);
    });
  }

  it('tanh and sigmoid second derivatives match the closed forms', () => {
    const x = leafOf([-1.3, 0.2, 2.1]);
    const [g] = tg.grad(x.tanh().sum(), x, { createGraph: true });
    const [gg] = tg.grad(g!.sum(), x);
    expectClose(list(gg!), [-1.3, 0.2, 2.1].map((v) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2)), 1e-12);
    const y = leafOf([-1.3, 0.2, 2.1]);
    const [h] = tg.grad(y.sigmoid().sum(), y, { createGraph: true });
    const [hh] = tg.grad(h!.sum(), y);
    const s = (v: number) => sigmoidRef(v);
    expectClose(list(hh!), [-1.3, 0.2, 2.1].map((v) => s(v) * (1 - s(v)) * (1 - 2 * s(v))), 1e-12);
  });

  it('gelu second and third derivatives (exact form) match φ(x)(2 - x²) and its derivative', () => {
    const values = [-2.5, -0.4, 0.7, 3.1];
    const phi = (v: number) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    const x = leafOf(values);
    const [g1] = tg.grad(x.gelu().sum(), x, { createGraph: true });
    expectClose(list(g1!), values.map((v) => 0.5 * erfc(-v / Math.SQRT2) + v * phi(v)), 1e-12);
    const [g2] = tg.grad(g1!.sum(), x, { createGraph: true });
    expectClose(list(g2!), values.map((v) => phi(v) * (2 - v * v)), 1e-12);
    const [g3] = tg.grad(g2!.sum(), x);
    expectClose(list(g3!), values.map((v) => phi(v) * (v * v * v - 4 * v)), 1e-12);
    expect(g1!.gradFn).toBe('geluBackward');
  });

  // The activations' gradients are fused ops, g·f'(x), recorded with their
  // own backward: checked here in both arguments, and one order higher.
  const fused: [string, (t: Tensor) => Tensor][] = [
    ['gelu', (t) => t.gelu()],
    ['gelu(tanh)', (t) => t.gelu({ approximate: 'tanh' })],
    ['silu', (t) => t.silu()],
    ['tanh', (t) => t.tanh()],
    ['sigmoid', (t) => t.sigmoid()],
  ];
  for (const [name, op] of fused) {
    it(`${name}: its gradient is differentiable in the input and in the incoming gradient, to third order`, () => {
      const gradOf = (x: Tensor, g: Tensor) => tg.grad([op(x)], [x], { gradOutputs: [g], createGraph: true })[0]!;
      expect(tg.gradcheck(gradOf, [leaf([2, 3], 7, 3), leaf([2, 3], 8)])).toBe(true);
      expect(tg.gradgradcheck(gradOf, [leaf([2, 3], 9, 3), leaf([2, 3], 10)])).toBe(true);
    });

    it(`${name}: float32 gradient of a sum (one repeated incoming value) equals the one with explicit ones`, () => {
      const values = Array.from({ length: 1000 }, (_, i) => (i - 500) / 37);
      const a = tg.tensor(values, { requiresGrad: true });
      op(a).sum().backward();
      const b = tg.tensor(values, { requiresGrad: true });
      op(b).backward(tg.ones([1000]));
      expect(list(a.grad!)).toEqual(list(b.grad!));
    });
  }

  it('relu, abs, sign and clamp at their kinks follow PyTorch', () => {
    const x = leafOf([-1, 0, 2]);
    x.relu().sum().backward();
    expect(list(x.grad!)).toEqual([0, 0, 1]);
    x.zeroGrad();
    x.abs().sum().backward();
    expect(list(x.grad!)).toEqual([-1, 0, 1]);
    x.zeroGrad();
    x.sign().sum().backward();
    expect(list(x.grad!)).toEqual([0, 0, 0]);
    // clamp: gradient 1 on the closed interval, bounds included.
    const c = leafOf([-1, 0, 0.5, 1, 2]);
    c.clamp(0, 1).sum().backward();
    expect(list(c.grad!)).toEqual([0, 1, 1, 1, 0]);
    const lo = leafOf([-1, 0, 0.5]);
    lo.clamp(0).sum().backward();
    expect(list(lo.grad!)).toEqual([0, 1, 1]);
    const hi = leafOf([-1, 0, 0.5]);
    hi.clamp(null, 0).sum().backward();
    expect(list(hi.grad!)).toEqual([1, 1, 0]);
    // min > max: the result is max everywhere and no element is inside.
    const swapped = leafOf([-1, 0.5, 3]);
    const out = swapped.clamp(2, 1);
    expect(list(out)).toEqual([1, 1, 1]);
    out.sum().backward();
    expect(list(swapped.grad!)).toEqual([0, 0, 0]);
  });

  it('a NaN bound gives NaN everywhere and a zero gradient, as PyTorch', () => {
    // torch.clamp(x, min=nan, max=1.0), torch.clamp(x, min=-1.0, max=nan), x.clamp_min(nan) and x.clamp_max(nan):
    // NaN in every element (NaN elements too), and x.grad 0 everywhere. (torch.clamp(x, min=nan) alone, with
    // a number, returns x unchanged in 1.13 yet also gives gradient 0: a quirk not followed here.)
    for (const [lo, hi] of [[NaN, 1], [-1, NaN], [NaN, null], [null, NaN], [NaN, NaN]] as [number | null, number | null][]) {
      const what = `clamp(${lo}, ${hi})`;
      const c = leafOf([-2, 0.5, 3, NaN]);
      const out = c.clamp(lo, hi);
      expect([out.dtype, out.shape], what).toEqual(['float64', [4]]);
      expectSame(list(out), [NaN, NaN, NaN, NaN], what);
      out.backward(f64([1, 2, 3, 4]));
      expect(list(c.grad!), what).toEqual([0, 0, 0, 0]);
      const f = tg.tensor([-2, 0.5, 3]).clamp(lo, hi);
      expect([f.dtype, list(f)], what).toEqual(['float32', [NaN, NaN, NaN]]);
      // int32 with a NaN bound: float32 NaN, as torch.clamp(int32 tensor, min=nan, max=1.0).
      const n = tg.tensor(new Int32Array([-2, 0, 3])).clamp(lo, hi);
      expect([n.dtype, list(n)], what).toEqual(['float32', [NaN, NaN, NaN]]);
    }
    // Strided and large inputs take the same path.
    expectSame(list(tg.ones([3, 2]).T.clamp(NaN)), Array(6).fill(NaN), 'transposed');
    expect(list(tg.ones([5000]).clamp(0, NaN)).every(Number.isNaN)).toBe(true);
  });

  it('an infinite incoming gradient is not turned into NaN where relu and clamp block it', () => {
    const x = leafOf([-1, 2]);
    x.relu().backward(f64([Infinity, Infinity]));
    expect(list(x.grad!)).toEqual([0, Infinity]);
  });

  it('leakyRelu, elu and softplus have the documented gradients', () => {
    const x = leafOf([-2, 3]);
    x.leakyRelu(0.1).sum().backward();
    expectClose(list(x.grad!), [0.1, 1]);
    const e = leafOf([-2, 3]);
    e.elu(0.5).sum().backward();
    expectClose(list(e.grad!), [0.5 * Math.exp(-2), 1], 1e-14);
    // Above the threshold softplus is x itself: gradient exactly 1.
    const s = leafOf([-2, 0.5, 30]);
    s.softplus().sum().backward();
    expectClose(list(s.grad!), [sigmoidRef(-2), sigmoidRef(0.5), 1], 1e-14);
    const b = leafOf([1, 4]);
    b.softplus(2, 5).sum().backward();
    expectClose(list(b.grad!), [sigmoidRef(2), 1], 1e-14);
  });

  it('elu double backward stays finite for large positive inputs', () => {
    const x = leafOf([-3, 800]);
    const [g] = tg.grad(x.elu().sum(), x, { createGraph: true });
    const [gg] = tg.grad(g!.sum(), x);
    expectNear(list(gg!), [Math.exp(-3), 0], 1e-15, 'elu second derivative');
  });

  it('activations have finite gradients at ±Infinity and huge inputs', () => {
    for (const op of ['gelu', 'silu', 'sigmoid', 'softplus', 'tanh'] as const) {
      const x = leafOf([-Infinity, -1e300, -1000, 1000, 1e300, Infinity]);
      x[op]().sum().backward();
      for (const v of list(x.grad!)) expect(Number.isNaN(v), `${op} gradient ${v}`).toBe(false);
    }
    const t = leafOf([-Infinity, -1e10, 1e10, Infinity]);
    t.gelu({ approximate: 'tanh' }).sum().backward();
    expect(list(t.grad!)).toEqual([0, 0, 1, 1]);
  });

  it('records the op name as the gradient function', () => {
    const x = leaf([2]);
    expect(x.exp().gradFn).toBe('exp');
    expect(x.leakyRelu().gradFn).toBe('leakyRelu');
    expect(x.clamp(0).gradFn).toBe('clamp');
    expect(tg.noGrad(() => x.exp()).requiresGrad).toBe(false);
  });

  it('saved outputs refuse a backward after an in-place write', () => {
    const x = leafOf([1, 2]);
    const y = x.exp();
    const z = y.sum();
    tg.noGrad(() => y.addInPlace(1));
    expectError(() => z.backward(), tg.TapegradError, /modified by an in-place operation/);
  });
});

describe('unary ops: values', () => {
  it('match hand-computed values', () => {
    const x = tg.tensor([-2, -0.5, 0, 1.5], { dtype: 'float64' });
    expectClose(x.neg().toArray(), [2, 0.5, -0, -1.5]);
    expectClose(x.abs().toArray(), [2, 0.5, 0, 1.5]);
    expectClose(x.square().toArray(), [4, 0.25, 0, 2.25]);
    expectClose(x.relu().toArray(), [0, 0, 0, 1.5]);
    expectClose(x.sign().toArray(), [-1, -1, 0, 1]);
    expectClose(x.leakyRelu(0.5).toArray(), [-1, -0.25, 0, 1.5]);
    expectClose(x.clamp(-1, 1).toArray(), [-1, -0.5, 0, 1]);
    expectClose(x.elu().toArray(), [Math.exp(-2) - 1, Math.exp(-0.5) - 1, 0, 1.5], 1e-15);
    expectClose(f64([4, 0.25]).sqrt().toArray(), [2, 0.5]);
    expectClose(f64([4, 0.25]).rsqrt().toArray(), [0.5, 2]);
    expectClose(f64([4, -0.25]).reciprocal().toArray(), [0.25, -4]);
    expectClose(f64([0]).sigmoid().toArray(), [0.5]);
    expectClose(f64([0]).softplus().toArray(), [Math.LN2], 1e-15);
    expectClose(f64([0, 1]).gelu().toArray(), [0, 0.8413447460685429], 1e-15);
    expectClose(f64([1]).silu().toArray(), [1 / (1 + Math.exp(-1))], 1e-15);
    expectClose(f64([1]).gelu({ approximate: 'tanh' }).toArray(), [0.8411919906082768], 1e-15);
  });

  // Inputs covering ±Infinity, NaN, ±0, subnormals, tiny and huge values.
  const specials = [
    Infinity, -Infinity, NaN, 0, -0, 5e-324, -5e-324, 1e-300, 1e-20, -1e-20, 1e-8, 0.5, -0.5, 1, -1, 2.5, -3, 20,
    -20, 88, 100, -100, 709, 710, -745, 1000, -1000, 1e10, 1e300, -1e300,
  ];

  it('exact ops agree bit for bit with JavaScript in float64, sign of zero included', () => {
    const x = f64(specials);
    expectSame(list(x.neg()), specials.map((v) => -v), 'neg');
    expectSame(list(x.abs()), specials.map(Math.abs), 'abs');
    expectSame(list(x.sign()), specials.map(Math.sign), 'sign');
    expectSame(list(x.square()), specials.map((v) => v * v), 'square');
    expectSame(list(x.sqrt()), specials.map(Math.sqrt), 'sqrt');
    expectSame(list(x.rsqrt()), specials.map((v) => 1 / Math.sqrt(v)), 'rsqrt');
    expectSame(list(x.reciprocal()), specials.map((v) => 1 / v), 'reciprocal');
    expectSame(list(x.relu()), specials.map((v) => (v > 0 || Number.isNaN(v) ? v : 0)), 'relu');
    expectSame(list(x.clamp(-1, 2)), specials.map((v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, -1), 2))), 'clamp');
  });

  it('transcendental ops agree with JavaScript Math in float64', () => {
    const x = f64(specials);
    const cases: [string, (t: Tensor) => Tensor, (v: number) => number][] = [
      ['exp', (t) => t.exp(), Math.exp],
      ['log', (t) => t.log(), Math.log],
      ['log1p', (t) => t.log1p(), Math.log1p],
      ['expm1', (t) => t.expm1(), Math.expm1],
      ['sin', (t) => t.sin(), Math.sin],
      ['cos', (t) => t.cos(), Math.cos],
      ['tanh', (t) => t.tanh(), Math.tanh],
    ];
    for (const [name, fn, ref] of cases) expectNear(list(fn(x)), specials.map(ref), 1e-15, name);
  });

  it('stays finite and exact at the extremes', () => {
    expectSame(list(f64([1000, -1000, 710]).exp()), [Infinity, 0, Infinity], 'exp');
    expectSame(list(f64([0, -0, -1]).log()), [-Infinity, -Infinity, NaN], 'log');
    expectSame(list(f64([-1, -2]).log1p()), [-Infinity, NaN], 'log1p');
    // log1p and expm1 keep full precision near 0, where log(1 + x) and exp(x) - 1 lose it all.
    expectSame(list(f64([1e-20, -1e-20]).log1p()), [1e-20, -1e-20], 'log1p tiny');
    expectSame(list(f64([1e-20, -1e-20]).expm1()), [1e-20, -1e-20], 'expm1 tiny');
    expectNear(list(f64([1e-10]).log1p()), [1e-10 - 5e-21], 1e-16, 'log1p small');
    expectSame(list(f64([-1000, 1000, -Infinity, Infinity, -745]).sigmoid()), [0, 1, 0, 1, sigmoidRef(-745)], 'sigmoid');
    expect(list(f64([-745]).sigmoid())[0]).toBeGreaterThan(0);
    expectSame(list(f64([1000, -1000, Infinity, -Infinity]).softplus()), [1000, 0, Infinity, 0], 'softplus');
    // A threshold so large that exp(βx) overflows: the stable form still gives x.
    expectSame(list(f64([800]).softplus(1, 1e9)), [800], 'softplus beyond exp range');
    expectNear(list(f64([-50]).softplus()), [Math.exp(-50)], 1e-15, 'softplus tail');
    expectSame(list(f64([-Infinity, Infinity, -1e300, 1e300]).silu()), [0, Infinity, -0, 1e300], 'silu');
    expectSame(list(f64([-Infinity, Infinity]).gelu()), [0, Infinity], 'gelu');
    expectSame(list(f64([-Infinity, Infinity]).gelu({ approximate: 'tanh' })), [0, Infinity], 'gelu tanh');
    expectSame(list(f64([-Infinity, Infinity, 0]).elu()), [-1, Infinity, 0], 'elu');
    for (const op of ['sigmoid', 'softplus', 'silu', 'gelu', 'tanh', 'elu', 'relu'] as const) {
      const out = list(f64([-Infinity, -1e300, -1000, -1, 0, 1, 1000, 1e300, Infinity])[op]());
      for (const v of out) expect(Number.isNaN(v), `${op} gave NaN`).toBe(false);
      expect(list(f64([NaN])[op]())[0]).toBeNaN();
    }
  });

  it('gelu matches a float64 erf reference, including the far negative tail', () => {
    // (Below -37.6 x·Φ(x) is a denormal, where relative error is not the
    // measure: math.test.ts checks that range against exact references.)
    const xs = [-37, -20, -10, -6, -3.3, -1.7, -0.9, -0.2, -1e-8, 0, 1e-8, 0.3, 1.1, 2.2, 4.5, 9, 30];
    expectNear(list(f64(xs).gelu()), xs.map(geluRef), 1e-12, 'gelu');
    // The tail is tiny but not zero: x·Φ(x) at -10 is about -7.6e-23.
    expect(list(f64([-10]).gelu())[0]).toBeLessThan(-7e-23);
    const moderate = [-5, -2.2, -0.6, 0, 0.4, 1.9, 5];
    expectNear(list(f64(moderate).gelu({ approximate: 'tanh' })), moderate.map(geluTanhRef), 1e-14, 'gelu tanh');
    // PyTorch's written form agrees where it does not cancel.
    const near = [-1.5, -0.6, 0.4, 1.9, 5];
    const torchForm = near.map((v) => 0.5 * v * (1 + Math.tanh(geluTanhInner(v))));
    expectNear(list(f64(near).gelu({ approximate: 'tanh' })), torchForm, 1e-14, 'gelu tanh (PyTorch form)');
    // The approximation stays close to the exact form.
    expectClose(list(f64(moderate).gelu({ approximate: 'tanh' })), moderate.map(geluRef), 1e-3);
  });

  it('softplus follows PyTorch: x above the threshold, log1p(exp(βx))/β below', () => {
    const xs = [-3, 0.2, 2.4, 2.6, 10];
    const got = list(f64(xs).softplus(2, 5));
    expectNear(got, xs.map((v) => (2 * v > 5 ? v : Math.log1p(Math.exp(2 * v)) / 2)), 1e-15, 'softplus(2, 5)');
    expect(got[3]).toBe(2.6);
    // A negative beta is allowed, as in PyTorch.
    expectNear(list(f64([1, -30]).softplus(-1)), [-Math.log1p(Math.exp(-1)), -30], 1e-15, 'softplus(-1)');
  });

  it('float32 softplus tests x against the threshold rounded to float32, as PyTorch', () => {
    // 2.2 rounds up to the float 2.2000000477, which is then not above the
    // threshold; 2.5 is a float. β = 1 (its own kernel on the FMA paths) and 2.
    for (const [beta, t] of [[1, 2.2], [1, 2.5], [2, 4.4]] as const) {
      const limit = Math.fround(t), at = Math.fround(limit / beta);
      const xs = [Math.fround(at - 2 ** -21), at, Math.fround(at + 2 ** -21)];
      const got = list(tg.tensor(xs).softplus(beta, t));
      xs.forEach((x, i) => {
        const what = `x = ${x}, beta ${beta}, threshold ${t}`;
        if (beta * x > limit) expect(got[i], what).toBe(x);
        else expect(Math.abs(got[i]! - Math.log1p(Math.exp(beta * x)) / beta), what).toBeLessThan(2 ** -20);
      });
    }
    // No threshold (binaryCrossEntropyWithLogits' Infinity): the limits.
    expect(list(tg.tensor([Infinity, -Infinity, 3e38, -3e38]).softplus(1, Infinity))).toEqual([Infinity, 0, 3e38, 0].map(Math.fround));
  });

  it('every op matches its reference over a range in float64', () => {
    const values = Array.from({ length: 41 }, (_, i) => -5 + i * 0.25 + 0.01);
    for (const spec of specs) {
      const xs = spec.domain === 'positive' ? values.map((v) => Math.abs(v) + 0.05) : values;
      expectNear(list(spec.fn(f64(xs))), xs.map(spec.ref), 1e-13, spec.name);
    }
  });

  it('float32 agrees with float64', () => {
    const values = Array.from({ length: 33 }, (_, i) => -4 + i * 0.25 + 0.013);
    for (const spec of specs) {
      const xs = spec.domain === 'positive' ? values.map((v) => Math.abs(v) + 0.05) : values;
      const single = spec.fn(tg.tensor(xs));
      expect(single.dtype, spec.name).toBe('float32');
      const double = spec.fn(tg.tensor(xs, { dtype: 'float32' }).to('float64'));
      expectClose(list(single), list(double), 2e-6);
    }
  });

  it('handles 0-d, empty and non-contiguous tensors', () => {
    expect(tg.tensor(2, { dtype: 'float64' }).exp().item()).toBeCloseTo(Math.exp(2), 14);
    const empty = tg.zeros([0, 3]);
    for (const spec of specs) expect(spec.fn(empty).shape).toEqual([0, 3]);
    const m = tg.tensor([[1, -2, 3], [-4, 5, -6]], { dtype: 'float64' });
    const t = m.transpose(0, 1);
    expect(t.isContiguous()).toBe(false);
    expect(t.abs().toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(t.relu().toArray()).toEqual([[1, 0], [0, 5], [3, 0]]);
  });
});

describe('unary ops: int32', () => {
  const ints = () => tg.tensor(new Int32Array([-3, 0, 5, -2147483648, 2147483647]));

  it('neg, abs, sign, square, relu and clamp keep int32, wrapping like PyTorch', () => {
    const x = ints();
    const check = (t: Tensor, expected: number[]) => {
      expect(t.dtype).toBe('int32');
      expect(list(t)).toEqual(expected);
    };
    check(x.neg(), [3, 0, -5, -2147483648, -2147483647]);
    check(x.abs(), [3, 0, 5, -2147483648, 2147483647]);
    check(x.sign(), [-1, 0, 1, -1, 1]);
    check(x.relu(), [0, 0, 5, 0, 2147483647]);
    check(x.clamp(-1, 3), [-1, 0, 3, -1, 3]);
    check(x.clamp(null, 0), [-3, 0, 0, -2147483648, 0]);
    check(tg.tensor(new Int32Array([7, -9, 46341, 65536])).square(), [49, 81, -2147479015, 0]);
    // Bounds int32 cannot hold make the result float32, as a float scalar does in PyTorch.
    const promoted = x.clamp(0.5);
    expect(promoted.dtype).toBe('float32');
    expect(list(promoted)).toEqual([0.5, 0.5, 5, 0.5, 2147483648]);
    expect(tg.tensor(new Int32Array([1, 9])).clamp(-Infinity, 4).dtype).toBe('float32');
  });

  it('float-valued ops compute int32 as float32', () => {
    const x = tg.tensor(new Int32Array([0, 1, 4]));
    for (const op of ['exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'reciprocal',
      'silu', 'gelu', 'softplus', 'leakyRelu', 'elu'] as const) {
      const out = x[op]();
      expect(out.dtype, op).toBe('float32');
      expectClose(list(out), list(tg.tensor([0, 1, 4])[op]()), 0);
    }
    expect(list(x.sqrt())).toEqual([0, 1, 2]);
  });

  it('int32 tensors cannot require grad, and int32 results never do', () => {
    expect(() => tg.tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(TypeError);
    expect(() => tg.tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/only float32 and float64/);
    const x = tg.tensor(new Int32Array([1, -2]));
    expect(x.abs().requiresGrad).toBe(false);
    expect(x.exp().requiresGrad).toBe(false);
  });
});

describe('unary ops: errors', () => {
  const x = tg.tensor([1, 2]);

  it('rejects a non-tensor or disposed input', () => {
    expectError(() => tg.Tensor.prototype.exp.call({} as Tensor), TypeError, /^exp: input must be a Tensor, got undefined/);
    const d = tg.tensor([1]);
    d.dispose();
    expectError(() => d.sigmoid(), tg.TapegradError, /^sigmoid: input is a disposed tensor/);
  });

  it('checks clamp bounds', () => {
    expectError(() => x.clamp(), TypeError, /^clamp: at least one of min and max must be given/);
    expectError(() => x.clamp(null, null), TypeError, /^clamp: at least one of min and max/);
    expectError(() => x.clamp('1' as unknown as number), TypeError, /^clamp: min must be a number, got '1'/);
    expectError(() => x.clamp(0, [1] as unknown as number), TypeError, /^clamp: max must be a number, got an array/);
  });

  it('checks activation parameters', () => {
    expectError(() => x.leakyRelu('a' as unknown as number), TypeError, /^leakyRelu: negativeSlope must be a number, got 'a'/);
    expectError(() => x.leakyRelu(NaN), RangeError, /^leakyRelu: negativeSlope must be a finite number, got NaN/);
    expectError(() => x.elu(Infinity), RangeError, /^elu: alpha must be a finite number, got Infinity/);
    expectError(() => x.softplus(0), RangeError, /^softplus: beta must be nonzero, got 0/);
    expectError(() => x.softplus(1, NaN), RangeError, /^softplus: threshold must be a number \(not NaN\)/);
    expectError(() => x.softplus(null as unknown as number), TypeError, /^softplus: beta must be a number, got null/);
    expectError(
      () => x.gelu({ approximate: 'erf' as 'none' }),
      RangeError,
      /^gelu: approximate must be 'none' or 'tanh', got 'erf'/,
    );
    expectError(() => x.gelu({ approximate: 1 as unknown as 'none' }), TypeError, /^gelu: approximate must be a string, got 1/);
    expectError(() => x.gelu('tanh' as never), TypeError, /^gelu: options must be an object/);
    expectError(() => x.gelu({ approximation: 'tanh' } as never), TypeError, /^gelu: unknown option 'approximation'; the options are approximate$/);
    expectError(() => tg.nn.functional.gelu(x, { approx: 'tanh' } as never), TypeError, /^gelu: unknown option 'approx'/);
  });
});

describe('rounding: floor, ceil, round, trunc', () => {
  const NAMES = ['floor', 'ceil', 'round', 'trunc'] as const;
  // Inputs and PyTorch 1.13's outputs (torch.floor, ...). 8388608.5 is float32's
  // 8388608 (its spacing there is 1), 16777217 is float32's 16777216;
  // 0.49999997 is the float just below 0.5, which round(x + 0.5) would take to 1.
  const input = [NaN, Infinity, -Infinity, -0, 0, 2.5, -2.5, 0.5, -0.5, 1.5, 8388609, 8388608.5, 16777217, 1e30, -3.7, 3.7, 0.49999997, -1.5];
  const f32 = (values: number[]) => values.map(Math.fround);
  const torch32: Record<(typeof NAMES)[number], number[]> = {
    floor: f32([NaN, Infinity, -Infinity, -0, 0, 2, -3, 0, -1, 1, 8388609, 8388608, 16777216, 1e30, -4, 3, 0, -2]),
    ceil: f32([NaN, Infinity, -Infinity, -0, 0, 3, -2, 1, -0, 2, 8388609, 8388608, 16777216, 1e30, -3, 4, 1, -1]),
    round: f32([NaN, Infinity, -Infinity, -0, 0, 2, -2, 0, -0, 2, 8388609, 8388608, 16777216, 1e30, -4, 4, 0, -2]),
    trunc: f32([NaN, Infinity, -Infinity, -0, 0, 2, -2, 0, -0, 1, 8388609, 8388608, 16777216, 1e30, -3, 3, 0, -1]),
  };
  const torch64: Record<(typeof NAMES)[number], number[]> = {
    floor: [NaN, Infinity, -Infinity, -0, 0, 2, -3, 0, -1, 1, 8388609, 8388608, 16777217, 1e30, -4, 3, 0, -2],
    ceil: [NaN, Infinity, -Infinity, -0, 0, 3, -2, 1, -0, 2, 8388609, 8388609, 16777217, 1e30, -3, 4, 1, -1],
    round: [NaN, Infinity, -Infinity, -0, 0, 2, -2, 0, -0, 2, 8388609, 8388608, 16777217, 1e30, -4, 4, 0, -2],
    trunc: [NaN, Infinity, -Infinity, -0, 0, 2, -2, 0, -0, 1, 8388609, 8388608, 16777217, 1e30, -3, 3, 0, -1],
  };

  it('match PyTorch on special values, ties and large values, in float32 and float64', () => {
    for (const name of NAMES) {
      const x32 = tg.tensor(input);
      expect(x32[name]().dtype).toBe('float32');
      expectSame(list(x32[name]()), torch32[name], `${name} float32`);
      expectSame(list(f64(input)[name]()), torch64[name], `${name} float64`);
    }
  });

  it('round ties to even, also where x + 0.5 is not exact', () => {
    // PyTorch: [2251799813685248, 4503599627370496, -1, 0] for these float64 values.
    expectSame(list(f64([2251799813685248.5, 4503599627370495.5, -0.5000000000000001, 0.49999999999999994]).round()),
      [2251799813685248, 4503599627370496, -1, 0], 'round');
    expectSame(list(f64([-3.5, -4.5, 3.5, 4.5, 1e300, -1e-300]).round()), [-4, -4, 4, 4, 1e300, -0], 'round');
  });

  it('round with decimals as torch.round(x, decimals=d), in the input\'s precision', () => {
    // PyTorch 1.13's outputs for these inputs (float32, then float64 of the same floats).
    // Its formula overflows to Infinity (3e38·100) and gives NaN when 10^d does (d = 40).
    const x = [1.2345, -2.5, 0.125, 1234.5, 1e30, NaN, 2.675, 3e38, -0.004, 5e-45];
    const torch32: Record<number, number[]> = {
      2: [1.2300000190734863, -2.5, 0.11999999731779099, 1234.5, 1.0000000150474662e30, NaN, 2.680000066757202, Infinity, -0, 0],
      [-2]: [0, -0, 0, 1200, 1.00000009060533e30, NaN, 0, 3.0000000054977558e38, -0, 0],
      1: [1.2000000476837158, -2.5, 0.10000000149011612, 1234.5, 1.0000000150474662e30, NaN, 2.700000047683716, Infinity, -0, 0],
      40: x.map(() => NaN),
    };
    for (const d of [2, -2, 1, 40]) expectSame(list(tg.tensor(x).round(d)), torch32[d]!, `round(${d}) float32`);
    expectSame(list(tg.tensor(x).to('float64').round(2)),
      [1.23, -2.5, 0.12, 1234.5, 1.0000000150474662e30, NaN, 2.67, 3.0000000054977558e38, -0, 0], 'round(2) float64');
    expectSame(list(tg.tensor(x).to('float64').round(-2)),
      [0, -0, 0, 1200, 1.0000000150474662e30, NaN, 0, 3.000000005497756e38, -0, 0], 'round(-2) float64');
    // decimals 0 is round(); a strided view; a zero gradient.
    expectSame(list(tg.tensor(x).round(0)), list(tg.tensor(x).round()), 'round(0)');
    const m = tg.randn([5, 7]).mul(100);
    expectSame(list(m.T.round(1).T.contiguous()), list(m.round(1)), 'round(1) of a transposed view');
    const w = leafOf([0.312, -1.777, 2.041], [3]);
    expect(tg.gradcheck((t) => t.round(1).add(t), [w])).toBe(true);
    // int32 takes only decimals 0 (PyTorch's round has no int kernel); decimals is an integer.
    expectError(() => tg.tensor(new Int32Array([15])).round(-1), TypeError,
      /^round: decimals needs a float32 or float64 input, got int32/);
    expectError(() => tg.tensor([1]).round(1.5), RangeError, /^round: decimals must be an integer, got 1.5/);
    expectError(() => tg.tensor([1]).round('2' as unknown as number), TypeError, /^round: decimals must be an integer, got '2'/);
  });

  it('give the same values for strided views and large inputs as for contiguous ones', () => {
    const x = tg.randn([67, 131]).mul(40);
    const xs = list(x);
    for (const name of NAMES) {
      const ref = list(x[name]());
      expect(ref.every((v, i) => Number.isInteger(v) && Math.abs(v - xs[i]!) < 1), name).toBe(true);
      expectSame(list(x.T[name]().T.contiguous()), ref, `${name} of a transposed view`);
      expectSame(list(x.slice(1, 0, null, 2)[name]()), list(x.slice(1, 0, null, 2).contiguous()[name]()), `${name} of a strided view`);
    }
  });

  it('keep int32 and its values, as PyTorch returns int input unchanged', () => {
    const x = tg.tensor(new Int32Array([-3, 0, 5, -2147483648, 2147483647]));
    for (const name of NAMES) {
      const out = x[name]();
      expect(out.dtype, name).toBe('int32');
      expect(list(out), name).toEqual([-3, 0, 5, -2147483648, 2147483647]);
      expect(out.requiresGrad).toBe(false);
    }
  });

  it('have a zero gradient: gradcheck and gradgradcheck in float64 between the jumps', () => {
    // No value within the finite-difference step of an integer (floor, ceil,
    // trunc) or of a half-integer (round).
    const values = [0.3, 1.7, -2.2, -0.6, 3.45, -1.25];
    for (const name of NAMES) {
      const x = leafOf(values, [2, 3]);
      expect(tg.gradcheck((t) => t[name](), [x]), name).toBe(true);
      expect(tg.gradgradcheck((t) => t[name]().mul(t), [x]), name).toBe(true);
      const y = x[name]();
      expect(y.gradFn).toBe(name);
      y.add(x).mul(x).sum().backward();
      // d/dx (round(x) + x)·x = round(x) + 2x: the rounded value counts only as a constant.
      expectClose(list(x.grad!), values.map((v, i) => list(y)[i]! + 2 * v), 1e-12);
    }
  });

  it('reject a non-tensor or disposed input, naming the op', () => {
    for (const name of NAMES) {
      expectError(() => tg.Tensor.prototype[name].call({} as Tensor), TypeError, new RegExp(`^${name}: input must be a Tensor, got undefined`));
      const d = tg.tensor([1.5]);
      d.dispose();
      expectError(() => d[name](), tg.TapegradError, new RegExp(`^${name}: input is a disposed tensor`));
    }
  });
});
