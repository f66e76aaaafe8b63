import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, tg, type Tensor } from '../helpers.js';

/** A float64 leaf holding `values`. */
function leafOf(values: number[], shape = [values.length]): Tensor {
  return tg.tensor(new Float64Array(values), { shape, dtype: 'float64', requiresGrad: true });
}
/** A float64 leaf of positive values in [lo, lo + 2·scale]. */
function positiveLeaf(shape: number[], seed = 1, lo = 0.3, scale = 1): Tensor {
  const values = Array.from(leaf(shape, seed, scale).data(), (v) => lo + scale + v);
  return leafOf(values, shape);
}
function f64(values: number[], shape = [values.length]): Tensor {
  return tg.tensor(new Float64Array(values), { shape, dtype: 'float64' });
}
function i32(values: number[]): Tensor {
  return tg.tensor(new Int32Array(values));
}
function list(t: Tensor): number[] {
  return Array.from(t.data());
}
/** Equal as IEEE values: NaN equals NaN, and the sign of zero must match. */
function expectSame(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => expect(Object.is(a, expected[i]), `${what}[${i}]: ${a} vs ${expected[i]}`).toBe(true));
}
/** Asserts that fn throws an instance of cls whose message matches. */
type Binary = (a: Tensor, b: Tensor) => Tensor;

// Differentiable binary ops, with the domain their gradient checks need.
const differentiable: { name: string; fn: Binary; positiveBase?: boolean }[] = [
  { name: 'add', fn: (a, b) => a.add(b) },
  { name: 'sub', fn: (a, b) => a.sub(b) },
  { name: 'mul', fn: (a, b) => a.mul(b) },
  { name: 'div', fn: (a, b) => a.div(b), positiveBase: true },
  { name: 'pow', fn: (a, b) => a.pow(b), positiveBase: true },
  { name: 'maximum', fn: (a, b) => a.maximum(b) },
  { name: 'minimum', fn: (a, b) => a.minimum(b) },
  { name: 'tg.sub', fn: (a, b) => tg.sub(a, b) },
  { name: 'tg.pow', fn: (a, b) => tg.pow(a, b), positiveBase: true },
];

describe('binary ops: gradients', () => {
  // div's divisor and pow's base stay positive; the other side may be any sign.
  const pair = (positive: boolean | undefined, sa: number[], sb: number[], seed: number): [Tensor, Tensor] => {
    const a = positive ? positiveLeaf(sa, seed) : leaf(sa, seed, 2);
    const b = positive ? positiveLeaf(sb, seed + 1) : leaf(sb, seed + 1, 2);
    return [a, b];
  };

  for (const op of differentiable) {
    it(`${op.name}: gradcheck with broadcasting, 0-d, transposed and size-1 operands`, () => {
      expect(tg.gradcheck(op.fn, pair(op.positiveBase, [2, 3], [2, 3], 1))).toBe(true);
      expect(tg.gradcheck(op.fn, pair(op.positiveBase, [2, 3], [3], 3))).toBe(true);
      expect(tg.gradcheck(op.fn, pair(op.positiveBase, [2, 1], [1, 3], 5))).toBe(true);
      expect(tg.gradcheck(op.fn, pair(op.positiveBase, [4], [], 7))).toBe(true);
      expect(tg.gradcheck(op.fn, pair(op.positiveBase, [], [2, 2], 9))).toBe(true);
      expect(tg.gradcheck((a, b) => op.fn(a.transpose(0, 1), b), pair(op.positiveBase, [3, 2], [2, 3], 11))).toBe(true);
      expect(tg.gradcheck((a, b) => op.fn(a, b.transpose(0, 1)), pair(op.positiveBase, [2, 3], [3, 2], 13))).toBe(true);
      // Only one side requires grad.
      const [a, b] = pair(op.positiveBase, [2, 2], [2], 15);
      expect(tg.gradcheck((x) => op.fn(x, b.detach()), [a])).toBe(true);
      expect(tg.gradcheck((y) => op.fn(a.detach(), y), [b])).toBe(true);
    });

    it(`${op.name}: gradcheck with the same tensor on both sides`, () => {
      const [x] = pair(op.positiveBase, [2, 3], [1], 17);
      expect(tg.gradcheck((t) => op.fn(t, t), [x!])).toBe(true);
      expect(tg.gradcheck((t) => op.fn(t, t.transpose(0, 1).transpose(0, 1)), [x!])).toBe(true);
    });

    it(`${op.name}: gradgradcheck`, () => {
      expect(tg.gradgradcheck(op.fn, pair(op.positiveBase, [2, 3], [3], 19))).toBe(true);
      expect(tg.gradgradcheck(op.fn, pair(op.positiveBase, [2, 1], [2, 2], 21))).toBe(true);
      const [x] = pair(op.positiveBase, [3], [1], 23);
      expect(tg.gradgradcheck((t) => op.fn(t, t), [x!])).toBe(true);
    });
  }

  it('numbers on either side: gradcheck and gradgradcheck', () => {
    const x = leaf([2, 3], 1, 2);
    const p = positiveLeaf([2, 3], 2);
    const cases: [string, (t: Tensor) => Tensor, Tensor][] = [
      ['2 - x', (t) => tg.sub(2, t), x],
      ['x - 2', (t) => tg.sub(t, 2), x],
      ['1 / p', (t) => tg.div(1, t), p],
      ['3 * x', (t) => tg.mul(3, t), x],
      ['0.5 + x', (t) => tg.add(0.5, t), x],
      ['x ** 3', (t) => t.pow(3), x],
      ['x ** 2', (t) => t.pow(2), x],
      ['p ** -1.5', (t) => t.pow(-1.5), p],
      ['p ** 0.5', (t) => t.pow(0.5), p],
      ['2 ** x', (t) => tg.pow(2, t), x],
      ['max(x, 0.1)', (t) => t.maximum(0.1), x],
      ['min(0.1, x)', (t) => tg.minimum(0.1, t), x],
      ['max(0.1, x)', (t) => tg.maximum(0.1, t), x],
    ];
    for (const [, fn, t] of cases) {
      expect(tg.gradcheck(fn, [t])).toBe(true);
      expect(tg.gradgradcheck(fn, [t])).toBe(true);
    }
  });

  it('sends each input a gradient of its own dtype when float32 meets float64', () => {
    for (const op of differentiable) {
      const a = tg.tensor([1.5, 2], { requiresGrad: true });
      const b = tg.tensor([3, 0.5], { dtype: 'float64', requiresGrad: true });
      const out = op.fn(a, b);
      expect(out.dtype, op.name).toBe('float64');
      out.sum().backward();
      expect(a.grad!.dtype, op.name).toBe('float32');
      expect(b.grad!.dtype, op.name).toBe('float64');
    }
    const a = tg.tensor([1.5, 2], { requiresGrad: true });
    tg.where(tg.tensor([1, 0]), a, f64([7, 8])).sum().backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(list(a.grad!)).toEqual([1, 0]);
  });

  it('mul, div and sub of a tensor with itself', () => {
    const x = leafOf([1.5, -2]);
    x.mul(x).sum().backward();
    expect(list(x.grad!)).toEqual([3, -4]);
    x.zeroGrad();
    x.div(x).sum().backward();
    expectClose(list(x.grad!), [0, 0], 1e-15);
    x.zeroGrad();
    x.sub(x).sum().backward();
    expect(list(x.grad!)).toEqual([0, 0]);
    x.zeroGrad();
    x.maximum(x).sum().backward();
    expect(list(x.grad!)).toEqual([1, 1]);
  });
});

describe('arithmetic: values and dtypes', () => {
  it('functional forms take a number on either side', () => {
    const t = f64([1, 2, 4]);
    expect(list(tg.sub(2, t))).toEqual([1, 0, -2]);
    expect(list(tg.sub(t, 2))).toEqual([-1, 0, 2]);
    expect(list(tg.div(1, t))).toEqual([1, 0.5, 0.25]);
    expect(list(tg.add(0.5, t))).toEqual([1.5, 2.5, 4.5]);
    expect(list(tg.mul(t, 3))).toEqual([3, 6, 12]);
    expect(list(tg.pow(2, t))).toEqual([2, 4, 16]);
    expect(list(tg.maximum(2, t))).toEqual([2, 2, 4]);
    expect(list(tg.minimum(t, 2))).toEqual([1, 2, 2]);
    expect(tg.sub(2, t).dtype).toBe('float64');
    expect(tg.add(t, t).toArray()).toEqual([2, 4, 8]);
  });

  it('keeps the existing dtype rules: numbers follow the tensor, int32 division is float32', () => {
    const n = i32([7, -7]);
    expect(n.add(2).dtype).toBe('int32');
    expect(n.add(2.5).dtype).toBe('float32');
    expect(list(n.div(2))).toEqual([3.5, -3.5]);
    expect(n.div(2).dtype).toBe('float32');
    expect(tg.tensor([1]).add(f64([1])).dtype).toBe('float64');
    expect(n.add(tg.tensor([0.5, 0.5])).dtype).toBe('float32');
    expect(list(i32([2147483647]).add(1))).toEqual([-2147483648]);
    expect(list(tg.sub(1, i32([3])))).toEqual([-2]);
  });

  it('broadcasts like NumPy', () => {
    const a = f64([1, 2], [2, 1]);
    const b = f64([10, 20, 30], [3]);
    expect(a.add(b).toArray()).toEqual([[11, 21, 31], [12, 22, 32]]);
    expect(a.sub(b).shape).toEqual([2, 3]);
    expect(tg.zeros([0, 3]).add(b).shape).toEqual([0, 3]);
  });
  // A strided operand the kernels cannot read as rows is copied first: the
  // contiguous operands' bits, specials included, out of place and in place.
  it('arithmetic, maximum, minimum and comparisons give the contiguous results on transposed and permuted operands', () => {
    const special = [NaN, -0, 0, Infinity, -Infinity, 1e-310, 3e38];
    const values = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => (i % 37 === seed % 37 ? special[i % special.length]! : Math.sin(i * 0.37 + seed) * 5));
    const bits = (t: Tensor) => Array.from(t.data());
    for (const dtype of ['float32', 'float64'] as const) {
      const a = tg.tensor(values(300 * 70, 1), { shape: [300, 70], dtype });
      const bT = tg.tensor(values(70 * 300, 2), { shape: [70, 300], dtype }).transpose(0, 1);
      const b = bT.contiguous();
      const c3 = tg.tensor(values(4 * 30 * 50, 3), { shape: [4, 30, 50], dtype });
      const c3P = c3.permute([2, 0, 1]), c3C = c3P.contiguous();
      const column = tg.tensor(values(300, 4), { shape: [300, 1], dtype });
      const ops: [string, (x: Tensor, y: Tensor) => Tensor][] = [
        ['add', (x, y) => x.add(y)], ['sub', (x, y) => x.sub(y)], ['mul', (x, y) => x.mul(y)], ['div', (x, y) => x.div(y)],
        ['maximum', (x, y) => x.maximum(y)], ['minimum', (x, y) => x.minimum(y)],
        ['lt', (x, y) => x.lt(y)], ['eq', (x, y) => x.eq(y)], ['ge', (x, y) => x.ge(y)],
      ];
      for (const [name, f] of ops) {
        expect(bits(f(a, bT)), `${dtype} ${name}`).toEqual(bits(f(a, b)));
        expect(bits(f(bT, a)), `${dtype} ${name}, transposed first`).toEqual(bits(f(b, a)));
        expect(bits(f(bT, bT)), `${dtype} ${name}, both transposed`).toEqual(bits(f(b, b)));
        expect(bits(f(c3P, c3P.mul(0.5))), `${dtype} ${name}, permuted`).toEqual(bits(f(c3C, c3C.mul(0.5))));
        // A broadcast column and an expanded one stay as they are; the transposed operand is copied.
        expect(bits(f(bT, column)), `${dtype} ${name}, with a broadcast column`).toEqual(bits(f(b, column)));
        expect(bits(f(bT, column.expand([300, 70]))), `${dtype} ${name}, with an expanded column`).toEqual(bits(f(b, column)));
        // A strided slice broadcast along its middle dim: no plan even copied, so the generic loop (nothing copied).
        expect(bits(f(c3.narrow(1, 0, 1), c3)), `${dtype} ${name}, a sliced middle dim`).toEqual(bits(f(c3.narrow(1, 0, 1).contiguous(), c3)));
      }
      for (const method of ['addInPlace', 'subInPlace', 'mulInPlace'] as const) {
        const into = a.clone(), want = a.clone();
        into[method](bT);
        want[method](b);
        expect(bits(into), `${dtype} ${method}`).toEqual(bits(want));
      }
    }
  });
});

describe('type promotion with 0-d tensors, as torch.result_type', () => {
  // Every pair of (int32, float32, float64) × (shape [3], 0-d), with the dtype
  // PyTorch 1.13 gives both a + b and torch.where(cond, a, b): dimensioned
  // tensors decide, and a 0-d one counts only when it is floating and the
  // dimensioned one int32. Probed with torch.ones(3, dtype=...) and
  // torch.tensor(1, dtype=...).
  const table: [string, string, string][] = [
    ['int32[3]', 'int32[3]', 'int32'],
    ['int32[3]', 'int32', 'int32'],
    ['int32[3]', 'float32[3]', 'float32'],
    ['int32[3]', 'float32', 'float32'],
    ['int32[3]', 'float64[3]', 'float64'],
    ['int32[3]', 'float64', 'float64'],
    ['int32', 'int32[3]', 'int32'],
    ['int32', 'int32', 'int32'],
    ['int32', 'float32[3]', 'float32'],
    ['int32', 'float32', 'float32'],
    ['int32', 'float64[3]', 'float64'],
    ['int32', 'float64', 'float64'],
    ['float32[3]', 'int32[3]', 'float32'],
    ['float32[3]', 'int32', 'float32'],
    ['float32[3]', 'float32[3]', 'float32'],
    ['float32[3]', 'float32', 'float32'],
    ['float32[3]', 'float64[3]', 'float64'],
    ['float32[3]', 'float64', 'float32'],
    ['float32', 'int32[3]', 'float32'],
    ['float32', 'int32', 'float32'],
    ['float32', 'float32[3]', 'float32'],
    ['float32', 'float32', 'float32'],
    ['float32', 'float64[3]', 'float64'],
    ['float32', 'float64', 'float64'],
    ['float64[3]', 'int32[3]', 'float64'],
    ['float64[3]', 'int32', 'float64'],
    ['float64[3]', 'float32[3]', 'float64'],
    ['float64[3]', 'float32', 'float64'],
    ['float64[3]', 'float64[3]', 'float64'],
    ['float64[3]', 'float64', 'float64'],
    ['float64', 'int32[3]', 'float64'],
    ['float64', 'int32', 'float64'],
    ['float64', 'float32[3]', 'float32'],
    ['float64', 'float32', 'float64'],
    ['float64', 'float64[3]', 'float64'],
    ['float64', 'float64', 'float64'],
  ];
  // 'float32[3]' -> [1, 2, 3]; 'float32' -> a 0-d 5.
  function operand(spec: string): Tensor {
    const dtype = spec.replace('[3]', '') as tg.DType;
    return spec.endsWith('[3]') ? tg.tensor([1, 2, 3], { dtype }) : tg.tensor(5, { dtype });
  }

  it('add and where give PyTorch\'s dtype for every pair', () => {
    for (const [a, b, expected] of table) {
      const sum = operand(a).add(operand(b));
      expect(sum.dtype, `${a} + ${b}`).toBe(expected);
      const both0d = !a.endsWith('[3]') && !b.endsWith('[3]');
      expect(list(sum), `${a} + ${b}`).toEqual(both0d ? [10] : a.endsWith('[3]') && b.endsWith('[3]') ? [2, 4, 6] : [6, 7, 8]);
      const cond = both0d ? tg.tensor(1) : tg.tensor([1, 0, 1]);
      const picked = tg.where(cond, operand(a), operand(b));
      expect(picked.dtype, `where(c, ${a}, ${b})`).toBe(expected);
    }
  });

  it('the other binary ops and comparisons follow the same rule', () => {
    const x = tg.tensor([1, 2, 4]);
    const d = tg.tensor(2, { dtype: 'float64' });
    for (const fn of [(a: Tensor, b: Tensor) => a.sub(b), (a: Tensor, b: Tensor) => a.mul(b), (a: Tensor, b: Tensor) => a.div(b),
      (a: Tensor, b: Tensor) => a.pow(b), (a: Tensor, b: Tensor) => a.maximum(b), (a: Tensor, b: Tensor) => a.minimum(b),
      (a: Tensor, b: Tensor) => a.lt(b), (a: Tensor, b: Tensor) => a.eq(b)]) {
      expect(fn(x, d).dtype).toBe('float32');
      expect(fn(d, x).dtype).toBe('float32');
      expect(fn(i32([1, 2]), d).dtype).toBe('float64');
    }
    // float32 arithmetic, as torch.tensor([1., 2., 4.]) / torch.tensor(3., dtype=torch.float64).
    expect(list(x.div(tg.tensor(3, { dtype: 'float64' })))).toEqual(Array.from(new Float32Array([1 / 3, 2 / 3, 4 / 3])));
    // A float64 [1] tensor is dimensioned: it promotes.
    expect(x.add(f64([1])).dtype).toBe('float64');
  });

  it('sends each input a gradient of its own dtype and shape', () => {
    // torch: a = float32 [1.5, 2, -1], b = float64 0-d 0.1, both requiring grad; (a * b).sum().backward()
    // -> float32 result; a.grad float32 [0.10000000149011612] * 3, b.grad float64 0-d 2.5.
    const a = tg.tensor([1.5, 2, -1], { requiresGrad: true });
    const b = tg.tensor(0.1, { dtype: 'float64', requiresGrad: true });
    const out = a.mul(b);
    expect(out.dtype).toBe('float32');
    out.sum().backward();
    expect([a.grad!.dtype, a.grad!.shape, list(a.grad!)]).toEqual(['float32', [3], Array(3).fill(Math.fround(0.1))]);
    expect([b.grad!.dtype, b.grad!.shape, b.grad!.item()]).toEqual(['float64', [], 2.5]);
    // where: torch.where(c, a, b) -> a.grad [1, 0, 1], b.grad float64 1.
    a.zeroGrad();
    b.zeroGrad();
    tg.where(tg.tensor([1, 0, 1]), a, b).sum().backward();
    expect([a.grad!.dtype, list(a.grad!)]).toEqual(['float32', [1, 0, 1]]);
    expect([b.grad!.dtype, b.grad!.shape, b.grad!.item()]).toEqual(['float64', [], 1]);
  });

  it('gradcheck in float64 where an int32 tensor meets a 0-d float64 one', () => {
    // int32 [3] * float64 0-d is float64 (torch: b.grad = 6.0 for [1, 2, 3]).
    const n = i32([1, 2, 3]);
    const b = tg.tensor(0.7, { dtype: 'float64', requiresGrad: true });
    for (const fn of [(t: Tensor) => n.mul(t), (t: Tensor) => t.sub(n), (t: Tensor) => n.div(t), (t: Tensor) => tg.where(tg.tensor([1, 0, 1]), n, t)]) {
      expect(fn(b).dtype).toBe('float64');
      expect(tg.gradcheck(fn, [b])).toBe(true);
      expect(tg.gradgradcheck(fn, [b])).toBe(true);
    }
    n.mul(b).sum().backward();
    expect(b.grad!.item()).toBe(6);
  });
});

describe('a number beside an int32 tensor', () => {
  it('beyond int32 is a RangeError naming the op, the argument and the value', () => {
    // PyTorch wraps (torch.tensor([1, 2], dtype=torch.int32) + 2**40 -> [1, 2]); tapegrad used to make the
    // result float32. Neither is what was meant.
    const n = i32([1, 2]);
    const range = '; int32 holds whole numbers in [-2147483648, 2147483647] (convert the tensor with .to(\'float64\') first)';
    expect(() => n.add(2 ** 40)).toThrow(new RangeError(`add: other 1099511627776 does not fit in int32, the dtype of the other operand${range}`));
    expect(() => tg.sub(2 ** 31, n)).toThrow(new RangeError(`sub: input 2147483648 does not fit in int32, the dtype of the other operand${range}`));
    expect(() => n.mul(-(2 ** 31) - 1)).toThrow(/^mul: other -2147483649 does not fit in int32/);
    expect(() => tg.where(tg.tensor([1, 0]), n, 3e10)).toThrow(/^where: other 30000000000 does not fit in int32/);
    expect(() => n.eq(2 ** 53)).toThrow(RangeError);
    expect(() => tg.tensor(7, { dtype: 'int32' }).add(2 ** 32)).toThrow(RangeError);
  });

  it('at int32\'s ends stays int32; non-integers and ±Infinity make the result float32, as PyTorch', () => {
    const n = i32([1, 2]);
    expect([n.add(2147483647).dtype, list(n.sub(2147483647))]).toEqual(['int32', [-2147483646, -2147483645]]);
    expect([n.add(-2147483648).dtype, list(n.add(-2147483648))]).toEqual(['int32', [-2147483647, -2147483646]]);
    // torch: int32 + 1.5 -> float32 [2.5, 3.5]; + inf -> float32 [inf, inf]; + nan -> float32 nan.
    expect([n.add(1.5).dtype, list(n.add(1.5))]).toEqual(['float32', [2.5, 3.5]]);
    expect([n.add(Infinity).dtype, list(n.add(Infinity))]).toEqual(['float32', [Infinity, Infinity]]);
    expect([n.add(NaN).dtype, list(n.add(NaN))]).toEqual(['float32', [NaN, NaN]]);
    expect(n.add(2 ** 40 + 0.5).dtype).toBe('float32');
    // A float tensor takes any number in its own dtype.
    expect(tg.tensor([1]).add(2 ** 40).dtype).toBe('float32');
  });
});

describe('pow', () => {
  it('matches hand-computed values and JavaScript ** in float64', () => {
    expect(list(f64([2, 3, -2]).pow(2))).toEqual([4, 9, 4]);
    expect(list(f64([4, 9]).pow(0.5))).toEqual([2, 3]);
    expect(list(f64([2, 3], [2, 1]).pow(f64([1, 2, 3])))).toEqual([2, 4, 8, 3, 9, 27]);
    const bases = [0, -0, 0.5, 2, -2, 10, -Infinity, Infinity, NaN, 1e-300, 1e300];
    const exps = [0, -0, 1, 2, 3, -1, 0.5, -2.5, 300, -300, Infinity, -Infinity, NaN];
    const a: number[] = [];
    const b: number[] = [];
    for (const x of bases) for (const y of exps) {
      a.push(x);
      b.push(y);
    }
    const got = list(f64(a).pow(f64(b)));
    got.forEach((v, i) => {
      const e = (a[i] as number) ** (b[i] as number);
      if (!Number.isFinite(e) || e === 0) expect(Object.is(v, e), `${a[i]} ** ${b[i]}: ${v} vs ${e}`).toBe(true);
      else expect(Math.abs(v - e), `${a[i]} ** ${b[i]}`).toBeLessThanOrEqual(1e-15 * Math.abs(e));
    });
  });

  // float32 pow is computed in double (vectorised on the FMA paths): the C
  // standard's special values, exact results exact, the rest within 1 ulp.
  it('float32: special values as the C library, exact powers exact, number and tensor exponents alike', () => {
    const bases = [0, -0, 0.5, 2, -2, 10, -10, -Infinity, Infinity, NaN, 1, -1, 1e-30, 3e38];
    const exps = [0, -0, 1, 2, 3, -1, -3, 0.5, -2.5, 1 / 3, 127, 128, -149, -151, 300, -300, Infinity, -Infinity, NaN];
    const a: number[] = [];
    const b: number[] = [];
    for (const x of bases) for (const y of exps) {
      a.push(Math.fround(x));
      b.push(Math.fround(y));
    }
    const cpow = (x: number, y: number) => (x === 1 || y === 0 || (x === -1 && Math.abs(y) === Infinity) ? 1 : x ** y);
    const want = a.map((x, i) => Math.fround(cpow(x, b[i] as number)));
    const check = (got: number[], what: string) =>
      got.forEach((v, i) => {
        const e = want[i] as number;
        const exact = !Number.isFinite(e) || e === 0 || Number.isInteger(Math.log2(Math.abs(e)));
        if (exact) expect(Object.is(v, e), `${what}: ${a[i]} ** ${b[i]}: ${v} vs ${e}`).toBe(true);
        else expect(Math.abs(v - e), `${what}: ${a[i]} ** ${b[i]}`).toBeLessThanOrEqual(2 ** (Math.floor(Math.log2(Math.abs(e))) - 23));
      });
    check(list(tg.tensor(a).pow(tg.tensor(b))), 'tensor exponent');
    // One number exponent per row: the kernel's constant-exponent layout.
    const rows = bases.length, cols = exps.length;
    const byColumn = Array.from({ length: cols }, (_, j) => list(tg.tensor(bases).pow(exps[j] as number)));
    check(Array.from({ length: rows * cols }, (_, k) => byColumn[k % cols]![Math.floor(k / cols)]!), 'number exponent');
    // Exact powers, a denormal result, overflow; 2^-150, halfway between 0
    // and the smallest denormal, may round either way (within 1 ulp).
    expect(list(tg.tensor([2, -2, 4, -8, 0.5, 2, -2, 3]).pow(tg.tensor([3, 3, -0.5, 1 / 3, 149, 128, 127, 2.5])))).toEqual([
      8, -8, 0.5, NaN, Math.fround(2 ** -149), Infinity, -(2 ** 127), Math.fround(3 ** 2.5)]);
    expect([0, Math.fround(2 ** -149)]).toContain(list(tg.tensor([0.5]).pow(150))[0]);
  });

  // Layouts the kernel does not take are made contiguous first: the same bits.
  it('float32 pow gives the contiguous results on transposed and broadcast operands', () => {
    const base = tg.tensor(Array.from({ length: 300 * 70 }, (_, i) => Math.sin(i * 0.3) * 4), { shape: [300, 70] });
    const exps = tg.tensor(Array.from({ length: 70 * 300 }, (_, i) => Math.cos(i * 0.7) * 6), { shape: [70, 300] });
    const want = Array.from(base.pow(exps.transpose(0, 1).contiguous()).data());
    expect(Array.from(base.pow(exps.transpose(0, 1)).data())).toEqual(want);
    expect(Array.from(base.transpose(0, 1).contiguous().transpose(0, 1).pow(exps.transpose(0, 1)).data())).toEqual(want);
    const column = tg.tensor(Array.from({ length: 70 }, (_, i) => i / 7 - 5), { shape: [70, 1] });
    const wantColumn = Array.from(base.transpose(0, 1).contiguous().pow(column.expand([70, 300]).contiguous()).data());
    expect(Array.from(base.transpose(0, 1).pow(column).data())).toEqual(wantColumn);
  });

  // A constant exponent of 3 or 0.5 runs as a cube in double / the square
  // root: pow's values, special ones included, in both dtypes.
  it('x ** 3 and x ** 0.5 with a number exponent: pow results at special values', () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 4, 2, -4, 3, -2.5, 1e-300, 1e-30, 7e-46, 3e38, -3e38];
    for (const dtype of ['float32', 'float64'] as const) {
      const r = dtype === 'float32' ? Math.fround : (v: number) => v;
      const x = tg.tensor(xs, { dtype });
      const v = Array.from(x.data());
      expectSame(list(x.pow(0.5)), v.map((t) => r(Math.pow(t, 0.5))), `${dtype} ** 0.5`);
      const cube = list(x.pow(3));
      v.forEach((t, i) => {
        const e = r(t ** 3);
        if (!Number.isFinite(e) || e === 0 || dtype === 'float32') expect(Object.is(cube[i], e), `${dtype} ${t} ** 3`).toBe(true);
        else expect(Math.abs(cube[i]! - e)).toBeLessThanOrEqual(2 ** (Math.floor(Math.log2(Math.abs(e))) - 52));
      });
    }
  });

  // A constant exponent of 2 or -1 runs as square / reciprocal: the same
  // results as the C library's pow, special values and gradients included.
  it('x ** 2 and x ** -1 with a number exponent: pow results at special values, and pow gradients', () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 3, -2.5, 1e-200, 1e200, -1e-310, 7e-46, 3.4e38];
    for (const dtype of ['float32', 'float64'] as const) {
      const r = dtype === 'float32' ? Math.fround : (v: number) => v;
      const x = tg.tensor(xs, { dtype });
      const v = Array.from(x.data());
      expectSame(list(x.pow(2)), v.map((t) => r(t * t)), `${dtype} ** 2`);
      expectSame(list(x.pow(-1)), v.map((t) => r(1 / t)), `${dtype} ** -1`);
      for (const [e, slope] of [[2, (t: number) => 2 * t], [-1, (t: number) => -1 / (t * t)], [0, () => 0]] as const) {
        const base = tg.tensor([0.5, -3, 4], { dtype, requiresGrad: true });
        base.pow(e).sum().backward();
        expectClose(list(base.grad!), [0.5, -3, 4].map(slope), 1e-6);
      }
    }
    const zero = tg.tensor([0, -0, Infinity], { dtype: 'float64', requiresGrad: true });
    zero.pow(0).sum().backward();
    expectSame(list(zero.grad!), [0, 0, 0], 'd/dx x ** 0');
  });

  it('follows C and PyTorch where they differ from JavaScript: 1 ** NaN and (-1) ** ±Infinity are 1', () => {
    expectSame(list(f64([1, 1, -1, -1]).pow(f64([NaN, Infinity, Infinity, -Infinity]))), [1, 1, 1, 1], 'pow');
  });

  it('int32 ** int32 stays int32, wraps on overflow, and gives 0 for negative exponents except ±1 bases', () => {
    const out = i32([2, 2, 3, -3, 7, -1, -1, 1, 2, 0, 0]).pow(i32([10, 31, 0, 3, -1, -3, -4, -5, 32, 0, 5]));
    expect(out.dtype).toBe('int32');
    expect(list(out)).toEqual([1024, -2147483648, 1, -27, 0, -1, 1, 1, 0, 1, 0]);
    expect(list(i32([46341]).pow(2))).toEqual([-2147479015]);
    expect(i32([2]).pow(0.5).dtype).toBe('float32');
    expect(list(i32([4]).pow(0.5))).toEqual([2]);
    expect(i32([2]).pow(f64([2])).dtype).toBe('float64');
    // A negative integer number as the exponent is refused, as PyTorch
    // refuses it; a tensor of exponents (0-d included) and a negative
    // non-integer number (float result) compute.
    expect(() => i32([2, 3]).pow(-1)).toThrow(RangeError);
    expect(() => i32([2, 3]).pow(-2)).toThrow(
      'pow: an int32 input cannot be raised to a negative integer power, got -2 (convert the input to a float dtype first)',
    );
    expect(list(i32([2, 1, -1]).pow(tg.tensor(-1, { dtype: 'int32' })))).toEqual([0, 1, -1]);
    expect(list(i32([4]).pow(-0.5))).toEqual([0.5]);
    expect(list(tg.pow(2, i32([-1, 2])))).toEqual([0, 4]);
  });

  it('has PyTorch gradients at a zero base: no NaN where the exact gradient is defined', () => {
    // base 0: exponent 2, 1, 0, 0.5, -1
    const a = leafOf([0, 0, 0, 0, 0]);
    const b = leafOf([2, 1, 0, 0.5, -1]);
    const out = a.pow(b);
    expectSame(list(out), [0, 0, 1, 0, Infinity], 'pow');
    out.sum().backward();
    // d/da = b·a^(b-1): 0, 1, 0 (b = 0), inf, -inf; d/db = a^b·log(a) → 0 where a = 0 and b >= 0.
    expectSame(list(a.grad!), [0, 1, 0, Infinity, -Infinity], 'd/da');
    expectSame(list(b.grad!).slice(0, 4), [0, 0, 0, 0], 'd/db');
  });

  it('gradients for a negative base: exact for the base, NaN for the exponent as in PyTorch', () => {
    const a = leafOf([-2]);
    const b = leafOf([3]);
    a.pow(b).sum().backward();
    expect(list(a.grad!)).toEqual([12]);
    expect(list(b.grad!)[0]).toBeNaN();
    const x = leafOf([-1.5, 2]);
    x.pow(2).sum().backward();
    expect(list(x.grad!)).toEqual([-3, 4]);
    const y = leafOf([0, 3]);
    y.pow(0).sum().backward();
    expect(list(y.grad!)).toEqual([0, 0]);
  });

  it('d/db of a^b is a^b·log(a); x.pow(x) gets both parts', () => {
    const a = leafOf([2, 0.5]);
    const b = leafOf([3, 2]);
    a.pow(b).sum().backward();
    expectClose(list(a.grad!), [12, 1], 1e-15);
    expectClose(list(b.grad!), [8 * Math.log(2), 0.25 * Math.log(0.5)], 1e-15);
    const x = leafOf([1.5, 3]);
    x.pow(x).sum().backward();
    expectClose(list(x.grad!), [1.5, 3].map((v) => v ** v * (Math.log(v) + 1)), 1e-14);
  });

  it('second derivatives of a^b match the closed forms', () => {
    const a = leafOf([1.7]);
    const b = leafOf([2.3]);
    const [ga, gb] = tg.grad(a.pow(b), [a, b], { createGraph: true });
    const [gaa, gab] = tg.grad(ga!, [a, b], { retainGraph: true });
    const [, gbb] = tg.grad(gb!, [a, b]);
    const [x, y] = [1.7, 2.3];
    expectClose(list(gaa!), [y * (y - 1) * x ** (y - 2)], 1e-13);
    expectClose(list(gab!), [x ** (y - 1) * (1 + y * Math.log(x))], 1e-13);
    expectClose(list(gbb!), [x ** y * Math.log(x) ** 2], 1e-13);
  });
});

describe('maximum and minimum', () => {
  it('values: NaN wins, numbers and broadcasting work, int32 stays int32', () => {
    const a = f64([1, 5, NaN, -Infinity, 2]);
    const b = f64([3, 4, 0, 1, NaN]);
    expectSame(list(a.maximum(b)), [3, 5, NaN, 1, NaN], 'maximum');
    expectSame(list(a.minimum(b)), [1, 4, NaN, -Infinity, NaN], 'minimum');
    expect(f64([1, 2], [2, 1]).maximum(f64([0, 1.5, 3])).toArray()).toEqual([[1, 1.5, 3], [2, 2, 3]]);
    expect(list(f64([-1, 2]).maximum(0))).toEqual([0, 2]);
    const n = i32([-2147483648, 3]).maximum(i32([0, 9]));
    expect(n.dtype).toBe('int32');
    expect(list(n)).toEqual([0, 9]);
    expect(list(i32([-5, 3]).minimum(0))).toEqual([-5, 0]);
    expect(i32([1]).maximum(0.5).dtype).toBe('float32');
  });

  it('split the gradient half and half on ties, as PyTorch', () => {
    const a = leafOf([1, 2, 3]);
    const b = leafOf([1, 0, 5]);
    a.maximum(b).sum().backward();
    expect(list(a.grad!)).toEqual([0.5, 1, 0]);
    expect(list(b.grad!)).toEqual([0.5, 0, 1]);
    const c = leafOf([1, 2, 3]);
    const d = leafOf([1, 0, 5]);
    c.minimum(d).sum().backward();
    expect(list(c.grad!)).toEqual([0.5, 0, 1]);
    expect(list(d.grad!)).toEqual([0.5, 1, 0]);
    // A broadcast operand sums its share over the broadcast dim.
    const e = leafOf([2, 2, 1], [3]);
    const s = leafOf([2], [1]);
    e.maximum(s).sum().backward();
    expect(list(s.grad!)).toEqual([2]);
    expect(list(e.grad!)).toEqual([0.5, 0.5, 0]);
  });

  it('an infinite incoming gradient does not become NaN for the losing side', () => {
    const a = leafOf([1]);
    const b = leafOf([2]);
    a.maximum(b).backward(f64([Infinity]));
    expect(list(a.grad!)).toEqual([0]);
    expect(list(b.grad!)).toEqual([Infinity]);
  });
});

describe('comparisons', () => {
  const ops = [
    ['eq', (a: number, b: number) => a === b],
    ['ne', (a: number, b: number) => a !== b],
    ['lt', (a: number, b: number) => a < b],
    ['le', (a: number, b: number) => a <= b],
    ['gt', (a: number, b: number) => a > b],
    ['ge', (a: number, b: number) => a >= b],
  ] as const;

  it('agree with JavaScript on specials (NaN, ±0, ±Infinity)', () => {
    const values = [NaN, -Infinity, -1, -0, 0, 1e-300, 2, Infinity];
    const a: number[] = [];
    const b: number[] = [];
    for (const x of values) for (const y of values) {
      a.push(x);
      b.push(y);
    }
    for (const [name, ref] of ops) {
      for (const dtype of ['float32', 'float64'] as const) {
        const out = tg.tensor(a, { dtype })[name](tg.tensor(b, { dtype }));
        expect(out.dtype).toBe(dtype);
        const round = dtype === 'float32' ? Math.fround : (v: number) => v;
        expect(list(out), `${name} ${dtype}`).toEqual(a.map((x, i) => (ref(round(x), round(b[i]!)) ? 1 : 0)));
      }
    }
  });

  it('give the promoted dtype of the operands, holding 1 and 0', () => {
    expect(i32([1, 2]).eq(i32([1, 3])).dtype).toBe('int32');
    expect(list(i32([1, 2]).eq(i32([1, 3])))).toEqual([1, 0]);
    expect(i32([1]).lt(f64([2])).dtype).toBe('float64');
    expect(i32([1]).lt(tg.tensor([2])).dtype).toBe('float32');
    expect(i32([1]).lt(2).dtype).toBe('int32');
    expect(i32([1]).lt(1.5).dtype).toBe('float32');
    expect(list(i32([1, 2]).lt(1.5))).toEqual([1, 0]);
    expect(f64([1]).gt(0).dtype).toBe('float64');
  });

  it('broadcast, and work on 0-d, empty and transposed tensors', () => {
    expect(f64([1, 2], [2, 1]).lt(f64([0, 1.5, 3])).toArray()).toEqual([[0, 1, 1], [0, 0, 1]]);
    expect(tg.tensor(3).ge(3).item()).toBe(1);
    expect(tg.zeros([0]).eq(0).shape).toEqual([0]);
    const m = f64([1, 2, 3, 4], [2, 2]).transpose(0, 1);
    expect(m.gt(2).toArray()).toEqual([[0, 1], [0, 1]]);
  });

  it('are not differentiable, and their masks multiply directly', () => {
    const x = leafOf([-1, 2, 3]);
    const mask = x.gt(0);
    expect(mask.requiresGrad).toBe(false);
    expect(mask.gradFn).toBe(null);
    const y = x.mul(mask);
    expect(list(y)).toEqual([-0, 2, 3]);
    y.sum().backward();
    expect(list(x.grad!)).toEqual([0, 1, 1]);
  });
});

describe('where', () => {
  it('selects by nonzero condition of any dtype (NaN counts as true)', () => {
    const a = f64([1, 2, 3, 4]);
    const b = f64([-1, -2, -3, -4]);
    expect(list(tg.where(f64([1, 0, NaN, -0]), a, b))).toEqual([1, -2, 3, -4]);
    expect(list(tg.where(i32([0, 7, 0, -1]), a, b))).toEqual([-1, 2, -3, 4]);
    expect(list(tg.where(tg.tensor([0.5, 0, 0, 1]), a, b))).toEqual([1, -2, -3, 4]);
    expect(list(tg.where(a.gt(2), a, 0))).toEqual([0, 0, 3, 4]);
  });

  // Rows split across threads; full, single-value and strided operands; the
  // exact bits of the chosen value (NaN, -0) and NaN / -0 conditions.
  it('large tensors on every thread count and layout: the chosen bits, element for element', () => {
    const before = tg.getNumThreads();
    try {
      const n = 300, m = 410;
      const special = [NaN, -0, 0, Infinity, -Infinity];
      const pick = (i: number, base: number) => (i % 97 === 0 ? special[i % 5]! : base);
      const cv = Array.from({ length: n * m }, (_, i) => pick(i, Math.sin(i) > 0 ? 1 : 0));
      const xv = Array.from({ length: n * m }, (_, i) => pick(i + 3, Math.cos(i)));
      const yv = Array.from({ length: n * m }, (_, i) => pick(i + 1, -i));
      const c = tg.tensor(cv, { shape: [n, m] }), x = f64(xv).reshape([n, m]), y = f64(yv).reshape([n, m]);
      const yT = f64(yv).reshape([m, n]).transpose(0, 1);  // strided: the generic row loop
      const at = (v: number[], i: number) => v[i]!;
      const choose = (i: number, xi: number, yi: number) => (at(cv, i) !== 0 ? xi : yi);  // NaN is true
      const cases: [string, () => tg.Tensor, (i: number) => number][] = [
        ['full', () => tg.where(c, x, y), (i) => choose(i, at(xv, i), at(yv, i))],
        ['other a number', () => tg.where(c, x, -0), (i) => choose(i, at(xv, i), -0)],
        ['input a number', () => tg.where(c, NaN, y), (i) => choose(i, NaN, at(yv, i))],
        ['strided other', () => tg.where(c, x, yT), (i) => choose(i, at(xv, i), at(yv, (i % m) * n + Math.floor(i / m)))],
      ];
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        for (const [label, run, want] of cases) {
          const got = list(run());
          for (let i = 0; i < n * m; i++)
            if (!Object.is(got[i], want(i))) expect([i, got[i]], `${label}, ${threads} threads`).toEqual([i, want(i)]);
        }
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('as a tensor method takes this where the condition holds, like PyTorch', () => {
    const a = f64([1, 2, 3, 4]);
    expect(list(a.where(a.gt(2), -1))).toEqual([-1, -1, 3, 4]);
    const x = leaf([2, 3], 3);
    expect(tg.gradcheck((u) => u.where(tg.tensor([[1], [0]]), u.mul(2)), [x])).toBe(true);
  });

  it('broadcasts all three and promotes input and other', () => {
    const cond = tg.tensor([[1], [0]]);
    const out = tg.where(cond, f64([1, 2, 3]), tg.tensor(9));
    expect(out.dtype).toBe('float64');
    expect(out.toArray()).toEqual([[1, 2, 3], [9, 9, 9]]);
    expect(tg.where(tg.tensor([1, 0]), i32([1, 2]), i32([5, 6])).dtype).toBe('int32');
    expect(tg.where(tg.tensor([1, 0]), i32([1, 2]), 0.5).dtype).toBe('float32');
    expect(list(tg.where(tg.tensor([1, 0]), i32([1, 2]), 0.5))).toEqual([1, 0.5]);
    expect(tg.where(tg.tensor([1, 0]), 2, i32([5, 6])).dtype).toBe('int32');
    const numbers = tg.where(tg.tensor([1, 0]), 2, 3);
    expect(numbers.dtype).toBe('float32');
    expect(list(numbers)).toEqual([2, 3]);
    expect(tg.where(tg.tensor(1), f64([1, 2]), 0).shape).toEqual([2]);
    expect(tg.where(tg.zeros([0, 2]), f64([1, 2]), 0).shape).toEqual([0, 2]);
  });

  it('gradcheck and gradgradcheck in input and other, with broadcasting', () => {
    const cond = tg.tensor([[1], [0]]);
    const a = leaf([2, 3], 1);
    const b = leaf([3], 2);
    expect(tg.gradcheck((x, y) => tg.where(cond, x, y), [a, b])).toBe(true);
    expect(tg.gradgradcheck((x, y) => tg.where(cond, x.mul(x), y.mul(y)), [a, b])).toBe(true);
    expect(tg.gradcheck((x) => tg.where(cond, x, 0), [a])).toBe(true);
    expect(tg.gradcheck((y) => tg.where(cond, 1.5, y), [b])).toBe(true);
    // The same tensor on both sides, and a transposed view.
    const x = leaf([3, 2], 3);
    const c = tg.tensor([[1, 0, 1], [0, 0, 1]]);
    expect(tg.gradcheck((t) => tg.where(c, t.transpose(0, 1), t.transpose(0, 1).mul(2)), [x])).toBe(true);
    expect(tg.gradgradcheck((t) => tg.where(c, t.transpose(0, 1).exp(), t.transpose(0, 1).square()), [x])).toBe(true);
  });

  it('routes the gradient to the selected side', () => {
    const a = leafOf([1, 2, 3]);
    const b = leafOf([4], [1]);
    tg.where(tg.tensor([1, 0, 0]), a, b).sum().backward();
    expect(list(a.grad!)).toEqual([1, 0, 0]);
    expect(list(b.grad!)).toEqual([2]);
  });
});

describe('binary ops: float32 agrees with float64', () => {
  it('for every op', () => {
    const xs = Array.from({ length: 24 }, (_, i) => 0.2 + ((i * 37) % 23) * 0.17);
    const ys = Array.from({ length: 24 }, (_, i) => -1.5 + ((i * 11) % 19) * 0.16);
    const fns: [string, Binary][] = [
      ...differentiable.map((d) => [d.name, d.fn] as [string, Binary]),
      ['where', (a, b) => tg.where(a.gt(1), a, b)],
      ['lt', (a, b) => a.lt(b)],
    ];
    for (const [name, fn] of fns) {
      const single = fn(tg.tensor(xs), tg.tensor(ys));
      expect(single.dtype, name).toBe('float32');
      const double = fn(tg.tensor(xs).to('float64'), tg.tensor(ys).to('float64'));
      expectClose(list(single), list(double), 2e-6);
    }
  });
});

describe('binary ops: errors', () => {
  const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);

  it('reject shapes that do not broadcast, naming both shapes', () => {
    for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const) {
      expectError(
        () => x[name](tg.tensor([1, 2, 3, 4])),
        RangeError,
        new RegExp(`^${name}: shapes \\[2, 3\\] and \\[4\\] cannot be broadcast together`),
      );
    }
    expectError(() => tg.pow(tg.zeros([4]), x), RangeError, /^pow: shapes \[4\] and \[2, 3\] cannot be broadcast/);
    expectError(
      () => tg.where(tg.tensor([1, 0]), x, 0),
      RangeError,
      /^where: shapes \[2\] \(condition\), \[2, 3\] \(input\) and \[\] \(other\) cannot be broadcast together/,
    );
    expectError(
      () => tg.where(tg.tensor([[1], [0]]), tg.zeros([1, 3]), tg.zeros([4])),
      RangeError,
      /^where: shapes \[2, 1\] \(condition\), \[1, 3\] \(input\) and \[4\] \(other\)/,
    );
  });

  it('reject operands that are neither tensors nor numbers', () => {
    expectError(() => x.pow('2' as unknown as number), TypeError, /^pow: other must be a number or a Tensor, got '2'/);
    expectError(() => x.maximum(null as unknown as number), TypeError, /^maximum: other must be a number or a Tensor, got null/);
    expectError(() => x.lt([1] as unknown as number), TypeError, /^lt: other must be a number or a Tensor, got an array/);
    expectError(() => tg.pow('a' as unknown as number, x), TypeError, /^pow: input must be a Tensor, got 'a'/);
    expectError(() => tg.add(1, 2), TypeError, /^add: at least one operand must be a Tensor/);
    expectError(() => tg.minimum(1, 2), TypeError, /^minimum: at least one operand must be a Tensor/);
    expectError(() => tg.where(1 as unknown as Tensor, x, 0), TypeError, /^where: condition must be a Tensor, got 1/);
    expectError(() => tg.where(x, 'a' as unknown as number, 0), TypeError, /^where: input must be a number or a Tensor, got 'a'/);
    expectError(() => tg.where(x, 0, {} as unknown as number), TypeError, /^where: other must be a number or a Tensor, got an object/);
    const d = tg.tensor([1]);
    d.dispose();
    expectError(() => x.pow(d), tg.TapegradError, /^pow: other is a disposed tensor/);
    expectError(() => tg.where(d, 1, 0), tg.TapegradError, /^where: condition is a disposed tensor/);
  });

  it('int32 tensors cannot require grad, and int32 results of these ops never do', () => {
    expectError(() => i32([1]).setRequiresGrad(true), TypeError, /^setRequiresGrad: only float32 and float64/);
    const a = leafOf([1, 2]);
    expect(a.gt(1).requiresGrad).toBe(false);
    expect(i32([2]).pow(i32([3])).requiresGrad).toBe(false);
  });
});

describe('remainder and fmod', () => {
  // Special values and the sign of zero; outputs are PyTorch 1.13's
  // (torch.remainder and torch.fmod on these float64 tensors).
  const a = [5, -5, 5, -5, 0, -0, 0, -0, 5.5, Infinity, -Infinity, 3, 3, NaN, 3, 1e-20, -1e-20, 7, 7];
  const b = [3, 3, -3, -3, 3, 3, -3, -3, 0, 2, 2, Infinity, -Infinity, 2, NaN, 1, 1, 0, -0];
  const torchRemainder = [2, 1, -1, -2, 0, -0, 0, -0, NaN, NaN, NaN, 3, -Infinity, NaN, NaN, 1e-20, 1, NaN, NaN];
  const torchFmod = [2, -2, 2, -2, 0, -0, 0, -0, NaN, NaN, NaN, 3, 3, NaN, NaN, 1e-20, -1e-20, NaN, NaN];

  it('match PyTorch on special values and signs, in float64 and float32', () => {
    expectSame(list(f64(a).remainder(f64(b))), torchRemainder, 'remainder float64');
    expectSame(list(f64(a).fmod(f64(b))), torchFmod, 'fmod float64');
    const r32 = tg.tensor(a).remainder(tg.tensor(b));
    expect(r32.dtype).toBe('float32');
    expectSame(list(r32), torchRemainder.map(Math.fround), 'remainder float32');
    expectSame(list(tg.tensor(a).fmod(tg.tensor(b))), torchFmod.map(Math.fround), 'fmod float32');
  });

  it('give hand-computed values with broadcasting and numbers on either side', () => {
    const x = f64([5.3, -5.3, 2.2, -0.7, 7.9, -3.1], [2, 3]);
    const y = f64([2.1, -1.7, 0.9]);
    // PyTorch: remainder [[1.0999999999999996, -0.19999999999999996, 0.40000000000000013],
    // [1.4000000000000001, -0.5999999999999994, 0.5]]; fmod's second row [-0.7, 1.1000000000000005, -0.4].
    expectSame(list(x.remainder(y)), [1.0999999999999996, -0.19999999999999996, 0.40000000000000013, 1.4000000000000001, -0.5999999999999994, 0.5], 'remainder');
    expectSame(list(x.fmod(y)), [1.0999999999999996, -0.19999999999999996, 0.40000000000000013, -0.7, 1.1000000000000005, -0.4], 'fmod');
    expect(list(tg.remainder(5, f64([3, -3])))).toEqual([2, -1]);
    expect(list(tg.fmod(-5, f64([3, -3])))).toEqual([-2, -2]);
    expect(list(f64([-7, 7]).remainder(4))).toEqual([1, 3]);
    expect(list(tg.fmod(f64([-7, 7]), 4))).toEqual([-3, 3]);
    expect(tg.remainder(f64([1, 2]).reshape([2, 1]), f64([3, 4, 5])).shape).toEqual([2, 3]);
  });

  it('int32: exact integer remainders, INT32_MIN by -1 included; float operands promote', () => {
    const x = i32([7, -7, 7, -7, 0, -2147483648, -2147483648, 2147483647]);
    const y = i32([3, 3, -3, -3, 5, 1, -1, -1]);
    const r = x.remainder(y);
    expect(r.dtype).toBe('int32');
    expect(list(r)).toEqual([1, 2, -2, -1, 0, 0, 0, 0]);
    expect(list(x.fmod(y))).toEqual([1, -1, 1, -1, 0, 0, 0, 0]);
    expect(list(i32([-7, 7]).remainder(-4))).toEqual([-3, -1]);
    // A float number or tensor makes the result float, as in PyTorch ([0., -0.]).
    const half = i32([5, -5]).remainder(2.5);
    expect(half.dtype).toBe('float32');
    expectSame(list(half), [0, -0], 'remainder by 2.5');
    const mixed = i32([5, -5]).fmod(f64([2, 2]));
    expect(mixed.dtype).toBe('float64');
    expect(list(mixed)).toEqual([1, -1]);
  });

  it('int32: a zero divisor is a RangeError (PyTorch: ZeroDivisionError), never a crash', () => {
    for (const name of ['remainder', 'fmod'] as const) {
      expectError(() => i32([1, 2, 3])[name](i32([4, 0, 0])), RangeError,
        new RegExp(`^${name}: division by zero: other is 0 at element 1, and int32 has no NaN`));
      expectError(() => i32([1, 2, 3])[name](0), RangeError, new RegExp(`^${name}: division by zero: other is 0, and int32`));
      expectError(() => tg[name](7, i32([0])), RangeError, new RegExp(`^${name}: division by zero: other is 0 at element 0`));
      // A zero in a transposed divisor: its index in the divisor's own order (storage index 1).
      const t = i32([1, 0, 1, 1, 1, 1]).reshape([2, 3]).transpose(0, 1);
      expectError(() => i32([5])[name](t), RangeError, new RegExp(`^${name}: division by zero: other is 0 at element 2,`));
      // An expanded divisor is read in place (the second's 10^10 elements are never copied).
      expectError(() => i32([5])[name](i32([3, 0]).expand(2, 3, 2)), RangeError, new RegExp(`^${name}: division by zero: other is 0 at element 1,`));
      expectError(() => i32([5])[name](i32([0]).expand(100000, 100000)), RangeError, new RegExp(`^${name}: division by zero: other is 0 at element 0,`));
      // An empty result divides nothing.
      expect(tg.zeros([0, 2], { dtype: 'int32' })[name](i32([0, 1])).shape).toEqual([0, 2]);
      // Floats give NaN, as in PyTorch.
      expect(list(i32([1]).to('float32')[name](0))).toEqual([NaN]);
    }
  });

  it('gradients: 1 for the input, -floor(a / b) (remainder) or -trunc(a / b) (fmod) for the divisor', () => {
    const w = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    const expected = { remainder: [2, 19, 18], fmod: [-2, 14, 12] };  // PyTorch's, for these weights
    for (const name of ['remainder', 'fmod'] as const) {
      const x = leafOf([5.3, -5.3, 2.2, -0.7, 7.9, -3.1], [2, 3]);
      const y = leafOf([2.1, -1.7, 0.9]);
      const out = x[name](y);
      expect(out.gradFn).toBe(name);
      out.mul(w).sum().backward();
      expect(list(x.grad!), name).toEqual([1, 2, 3, 4, 5, 6]);
      expect(list(y.grad!), name).toEqual(expected[name]);
    }
  });

  it('gradcheck and gradgradcheck in float64 away from the jumps, with broadcasting and numbers', () => {
    // No quotient within the finite-difference step of an integer.
    for (const name of ['remainder', 'fmod'] as const) {
      const f = (p: Tensor, q: Tensor) => p[name](q);
      const x = () => leafOf([5.3, -5.3, 2.2, -0.7, 7.9, -3.1], [2, 3]);
      expect(tg.gradcheck(f, [x(), leafOf([2.1, -1.7, 0.9])]), name).toBe(true);
      expect(tg.gradcheck(f, [x(), leafOf([2.3], [])]), name).toBe(true);
      expect(tg.gradcheck(f, [leafOf([5.3], []), leafOf([2.1, -1.7, 0.9])]), name).toBe(true);
      expect(tg.gradcheck(f, [x().transpose(0, 1), leafOf([2.1, -1.7], [2])]), name).toBe(true);
      expect(tg.gradcheck((q) => tg[name](5.3, q), [leafOf([2.1, -1.7, 0.9])]), name).toBe(true);
      expect(tg.gradcheck((p) => tg[name](p, -2.3), [x()]), name).toBe(true);
      expect(tg.gradgradcheck((p, q) => p[name](q).mul(q), [x(), leafOf([2.1, -1.7, 0.9])]), name).toBe(true);
    }
  });

  it('send float32 and float64 operands gradients of their own dtype', () => {
    const x = tg.tensor([5.5, -2.5], { requiresGrad: true });
    const y = tg.tensor([2, 2], { dtype: 'float64', requiresGrad: true });
    const out = x.remainder(y);
    expect(out.dtype).toBe('float64');
    out.sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(list(y.grad!)).toEqual([-2, 2]);
  });

  it('errors name the op and the argument', () => {
    const x = tg.tensor([1, 2, 3]);
    expectError(() => x.remainder(tg.zeros([2])), RangeError, /^remainder: shapes \[3\] and \[2\] cannot be broadcast/);
    expectError(() => x.fmod('2' as unknown as number), TypeError, /^fmod: other must be a number or a Tensor, got '2'/);
    expectError(() => tg.remainder(1, 2), TypeError, /^remainder: at least one operand must be a Tensor/);
    const d = tg.tensor([1]);
    d.dispose();
    expectError(() => x.fmod(d), tg.TapegradError, /^fmod: other is a disposed tensor/);
    expectError(() => d.remainder(x), tg.TapegradError, /^remainder: input is a disposed tensor/);
  });
});

describe('maskedFill', () => {
  const x = () => f64([1, 2, 3, 4, 5, 6], [2, 3]);

  it('fills where the mask is nonzero; a comparison result, any dtype and NaN work as masks', () => {
    const t = x();
    expect(t.maskedFill(t.gt(3), -1).toArray()).toEqual([[1, 2, 3], [-1, -1, -1]]);
    expect(t.maskedFill(tg.tensor([1, 0, 1], { dtype: 'int32' }), 0.5).toArray()).toEqual([[0.5, 2, 0.5], [0.5, 5, 0.5]]);
    expect(t.maskedFill(tg.tensor([[0], [1]]), NaN).toArray()).toEqual([[1, 2, 3], [NaN, NaN, NaN]]);
    expect(t.maskedFill(f64([NaN, 0, -0]), 9).toArray()).toEqual([[9, 2, 3], [9, 5, 6]]);
    expect(t.maskedFill(tg.tensor(1), tg.tensor(7)).toArray()).toEqual([[7, 7, 7], [7, 7, 7]]);
    // The input is not changed.
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    // A transposed input and an expanded mask.
    expect(t.T.maskedFill(tg.tensor([[1], [0], [0]]).expand(3, 2), 0).toArray()).toEqual([[0, 0], [2, 5], [3, 6]]);
  });

  it('keeps the input dtype: int32 truncates the value toward zero, as PyTorch', () => {
    const n = tg.tensor(new Int32Array([1, 2, 3]));
    const m = tg.tensor([1, 0, 1]);
    const check = (out: Tensor, expected: number[]) => {
      expect(out.dtype).toBe('int32');
      expect(list(out)).toEqual(expected);
    };
    check(n.maskedFill(m, 2.7), [2, 2, 2]);
    check(n.maskedFill(m, -2.7), [-2, 2, -2]);
    check(n.maskedFill(m, 16777217.5), [16777217, 2, 16777217]);
    check(n.maskedFill(m, tg.tensor(-7.9, { dtype: 'float64' })), [-7, 2, -7]);
    const f = tg.tensor([1, 2]).maskedFill(tg.tensor([1, 0]), tg.tensor(0.1, { dtype: 'float64' }));
    expect(f.dtype).toBe('float32');
    expect(list(f)).toEqual([Math.fround(0.1), 2]);
    expectError(() => n.maskedFill(m, NaN), RangeError, /^maskedFill: value NaN does not fit in the int32 input/);
    expectError(() => n.maskedFill(m, 3e9), RangeError, /^maskedFill: value 3000000000 does not fit in the int32 input/);
  });

  it('gradients: to the input where the mask is 0, to a 0-d value the sum where it is not', () => {
    const t = leafOf([0, 1, 2, 3, 4, 5], [2, 3]);
    const v = leafOf([2], []);
    const out = t.maskedFill(tg.tensor([1, 0, 1]), v);
    expect(out.gradFn).toBe('maskedFill');
    out.mul(f64([0, 1, 2, 3, 4, 5], [2, 3])).sum().backward();
    expect(list(t.grad!)).toEqual([0, 1, 0, 0, 4, 0]);
    expect(list(v.grad!)).toEqual([10]);  // 0 + 2 + 3 + 5, as PyTorch
    // A float32 input takes a float64 value; each gets a gradient of its own dtype.
    const s = tg.tensor([1, 2], { requiresGrad: true });
    const w = tg.tensor(3, { dtype: 'float64', requiresGrad: true });
    s.maskedFill(tg.tensor([0, 1]), w).sum().backward();
    expect(s.grad!.dtype).toBe('float32');
    expect(list(s.grad!)).toEqual([1, 0]);
    expect(w.grad!.dtype).toBe('float64');
    expect(list(w.grad!)).toEqual([1]);
  });

  it('the input broadcasts to the mask too, as PyTorch\'s out-of-place masked_fill', () => {
    // Values and gradients from PyTorch 1.13.
    expect(tg.tensor([[1], [2]]).maskedFill(tg.tensor([1, 0, 1]), -1).toArray()).toEqual([[-1, 1, -1], [-1, 2, -1]]);
    const t = leafOf([1, 2, 3], [3]);
    const out = t.maskedFill(tg.tensor([[1, 0, 0], [0, 1, 0]]), 0);
    expect(out.toArray()).toEqual([[0, 2, 3], [1, 0, 3]]);
    out.mul(f64([0, 1, 2, 3, 4, 5], [2, 3])).sum().backward();
    expect(list(t.grad!)).toEqual([3, 1, 7]);
    expect(tg.gradcheck((x, v) => x.maskedFill(tg.tensor([[1, 0, 0], [0, 1, 0]]), v), [leaf([3], 5), leafOf([0.7], [])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.mul(x).maskedFill(tg.tensor([[0], [1]]), 0.5), [leaf([3], 6)])).toBe(true);
  });

  it('gradcheck and gradgradcheck in float64', () => {
    const mask = tg.tensor([[1, 0, 0], [0, 1, 1]]);
    expect(tg.gradcheck((t, v) => t.maskedFill(mask, v), [leaf([2, 3], 1), leafOf([0.7], [])])).toBe(true);
    expect(tg.gradcheck((t) => t.maskedFill(tg.tensor([0, 1, 0]), 0.5), [leaf([2, 3], 2)])).toBe(true);
    expect(tg.gradcheck((t) => t.transpose(0, 1).maskedFill(tg.tensor([1, 0]), 0), [leaf([2, 3], 3)])).toBe(true);
    expect(tg.gradgradcheck((t, v) => t.mul(t).maskedFill(mask, v.mul(v)), [leaf([2, 3], 4), leafOf([0.7], [])])).toBe(true);
  });

  it('errors name maskedFill and the argument', () => {
    const t = x();
    expectError(() => t.maskedFill(tg.tensor([1, 0]), 0), RangeError,
      /^maskedFill: mask of shape \[2\] and input of shape \[2, 3\] cannot be broadcast together/);
    expectError(() => t.maskedFill(tg.tensor([1, 0, 1]), tg.tensor([1])), RangeError,
      /^maskedFill: value must be a number or a 0-d tensor, got a tensor of shape \[1\]/);
    expectError(() => t.maskedFill(1 as unknown as Tensor, 0), TypeError, /^maskedFill: mask must be a Tensor, got 1/);
    expectError(() => t.maskedFill(t.gt(1), '0' as unknown as number), TypeError, /^maskedFill: value must be a number or a Tensor, got '0'/);
    expectError(() => t.maskedFill(t.gt(1), undefined as unknown as number), TypeError, /^maskedFill: value must be a number or a Tensor, got undefined/);
    const d = tg.tensor([1]);
    d.dispose();
    expectError(() => t.maskedFill(d, 0), tg.TapegradError, /^maskedFill: mask is a disposed tensor/);
    expectError(() => t.maskedFill(t.gt(1), d), tg.TapegradError, /^maskedFill: value is a disposed tensor/);
    expectError(() => d.maskedFill(t.gt(1), 0), tg.TapegradError, /^maskedFill: input is a disposed tensor/);
  });
});
