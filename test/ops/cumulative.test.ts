import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, tg } from '../helpers.js';

const int = (values: number[] | number[][]) => tg.tensor(values, { dtype: 'int32' });

describe('cumsum', () => {
  it('runs along any dim, negative dims counting from the end', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.cumsum(1).toArray()).toEqual([[1, 3, 6], [4, 9, 15]]);
    expect(x.cumsum(-1).toArray()).toEqual([[1, 3, 6], [4, 9, 15]]);
    expect(x.cumsum(0).toArray()).toEqual([[1, 2, 3], [5, 7, 9]]);
    expect(x.cumsum(-2).toArray()).toEqual([[1, 2, 3], [5, 7, 9]]);
    expect(x.cumsum(1).shape).toEqual([2, 3]);
    expect(x.cumsum(1).dtype).toBe('float32');
    // 0-d: dim 0 or -1, the element itself (as PyTorch)
    expect(tg.tensor(5).cumsum(0).toArray()).toBe(5);
    expect(tg.tensor(5).cumsum(-1).shape).toEqual([]);
    expect(tg.zeros([0, 3]).cumsum(0).shape).toEqual([0, 3]);
    expect(tg.zeros([2, 0]).cumsum(1).shape).toEqual([2, 0]);
  });

  it('reads non-contiguous inputs through their strides', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]]).T; // [[1, 4], [2, 5], [3, 6]]
    expect(x.cumsum(0).toArray()).toEqual([[1, 4], [3, 9], [6, 15]]);
    expect(x.cumsum(1).toArray()).toEqual([[1, 5], [2, 7], [3, 9]]);
    expect(tg.tensor([1, 2]).expand(3, 2).cumsum(0).toArray()).toEqual([[1, 2], [2, 4], [3, 6]]);
  });

  it('NaN and Infinity propagate as in PyTorch', () => {
    expect(Array.from(tg.tensor([1, Infinity, -Infinity, 2]).cumsum(0).data())).toEqual([1, Infinity, NaN, NaN]);
    expect(Array.from(tg.tensor([1, NaN, 2]).cumsum(0).data())).toEqual([1, NaN, NaN]);
  });

  // PyTorch's CPU cumsum accumulates float32 in double and rounds each output
  // once; a float32 running sum drifts (PyTorch gives 14271429 for the whole
  // row below, a float32 accumulator 14271410).
  it('float32 matches PyTorch bit for bit on a long row, along either dim', () => {
    const n = 200000;
    const values = Array.from({ length: n }, (_, i) => Math.fround(((i * 7919) % 1000) / 7));
    const expected = new Float32Array(n);
    let acc = 0;
    let drift = 0;
    values.forEach((v, i) => {
      acc += v;
      expected[i] = acc;
      drift = Math.fround(drift + v);
    });
    expect(drift).not.toBe(expected[n - 1]);
    const row = tg.tensor(values).cumsum(0).data();
    // Values printed by torch.from_numpy(x).cumsum(0) in PyTorch 1.13.
    expect([row[999], row[99999], row[n - 1]]).toEqual([71357.140625, 7135714.5, 14271429]);
    expect(row).toEqual(expected);
    // The same numbers as a column of a [n, 3] tensor (strips of lines across the pool).
    const cols = tg.tensor(values).unsqueeze(1).expand(n, 3).contiguous().cumsum(0).data();
    expect(cols.filter((_, i) => i % 3 === 2)).toEqual(expected);
  });

  it('gives the same result on 1, 2 and 3 threads', () => {
    const before = tg.getNumThreads();
    try {
      const x = leaf([300, 257], 4);
      const results = [1, 2, 3].map((threads) => {
        tg.setNumThreads(threads);
        return [Array.from(x.cumsum(0).data()), Array.from(x.cumsum(1).data())];
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
      // Columns split across threads in page-sized runs: several runs and a
      // short last one per slice (2100 floats), slices of 1500 along dim 1,
      // and max's gradient weights over dim 0 (ties spread).
      const wide = tg.randn([40, 2100]).mul(4).round();
      const deep = tg.randn([3, 50, 1500]);
      const split = [1, 2, 3].map((threads) => {
        tg.setNumThreads(threads);
        const w = wide.detach().setRequiresGrad();
        w.max(0).sum().backward();
        return [Array.from(wide.cumsum(0).data()), Array.from(deep.cumsum(1).data()), Array.from(w.grad!.data())];
      });
      expect(split[1]).toEqual(split[0]);
      expect(split[2]).toEqual(split[0]);
      // against JavaScript, one element
      let s = 0;
      for (let i = 0; i <= 200; i++) s += x.data()[i * 257 + 5]!;
      expect(results[0]![0]![200 * 257 + 5]).toBe(s);
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('int32 stays int32 and throws where int32 cannot hold a running sum (PyTorch: int64)', () => {
    const x = int([[1, 2], [3, 4]]);
    expect(x.cumsum(0).dtype).toBe('int32');
    expect(x.cumsum(0).toArray()).toEqual([[1, 2], [4, 6]]);
    expect(x.cumsum(1).toArray()).toEqual([[1, 3], [3, 7]]);
    // back into range by the end: each running value must still fit
    expectError(() => int([2147483647, 1, -5]).cumsum(0), RangeError,
      /^cumsum: the running sum 2147483648 does not fit in int32 \(an int32 tensor's cumsum is int32\); convert first, e\.g\. x\.to\('float64'\)\.cumsum\(dim\)$/);
    expect(Array.from(int([2147483647, -1, 1]).cumsum(0).data())).toEqual([2147483647, 2147483646, 2147483647]);
    expectError(() => int([-2147483648, -1]).cumsum(0), RangeError, /running sum -2147483649 does not fit/);
  });

  it('gradient: the reverse running sum of the gradient', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64', requiresGrad: true });
    x.cumsum(1).backward(tg.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }));
    expect(x.grad!.toArray()).toEqual([[6, 5, 3], [15, 11, 6]]); // PyTorch's
    expect(x.cumsum(1).gradFn).toBe('cumsum');
  });

  it('gradcheck and gradgradcheck', () => {
    for (const dim of [0, 1, -1, 2]) {
      expect(tg.gradcheck((x) => x.cumsum(dim), [leaf([3, 2, 4])])).toBe(true);
      expect(tg.gradgradcheck((x) => x.cumsum(dim).square(), [leaf([3, 2, 4])])).toBe(true);
    }
    expect(tg.gradcheck((x) => x.T.cumsum(0), [leaf([3, 4])])).toBe(true);
    expect(tg.gradcheck((x) => x.cumsum(0), [leaf([])])).toBe(true);
  });

  it('rejects bad dims', () => {
    const x = tg.zeros([2, 3]);
    expectError(() => x.cumsum(2), RangeError, /^cumsum: dim must be in \[-2, 1\] for a tensor with 2 dimensions, got 2$/);
    expectError(() => x.cumsum(-3), RangeError, /^cumsum: dim must be in \[-2, 1\]/);
    expectError(() => tg.tensor(1).cumsum(1), RangeError, /^cumsum: dim must be in \[-1, 0\]/);
    expectError(() => x.cumsum(0.5), RangeError, /^cumsum: dim must be an integer, got 0\.5$/);
    expectError(() => (x.cumsum as (d?: unknown) => unknown)(), TypeError, /^cumsum: dim must be an integer, got undefined$/);
    expectError(() => x.cumsum('1' as unknown as number), TypeError, /^cumsum: dim must be an integer, got '1'$/);
  });
});

describe('cumprod', () => {
  it('runs along any dim, accumulating in double as PyTorch', () => {
    const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.cumprod(1).toArray()).toEqual([[1, 2, 6], [4, 20, 120]]);
    expect(x.cumprod(-2).toArray()).toEqual([[1, 2, 3], [4, 10, 18]]);
    expect(x.T.cumprod(0).toArray()).toEqual([[1, 4], [2, 20], [6, 120]]);
    expect(tg.tensor(5).cumprod(0).toArray()).toBe(5);
    expect(tg.zeros([0, 3]).cumprod(0).shape).toEqual([0, 3]);
    // float32 outputs are the double running product rounded once
    const v = Array.from({ length: 50 }, (_, i) => Math.fround(1 + ((i * 37) % 11) / 97));
    let p = 1;
    const want = v.map((e) => Math.fround((p *= e)));
    expect(Array.from(tg.tensor(v).cumprod(0).data())).toEqual(want);
  });

  it('int32 stays int32 and throws where int32 cannot hold a running product', () => {
    expect(tg.tensor([[1, 2], [3, 4]], { dtype: 'int32' }).cumprod(1).toArray()).toEqual([[1, 2], [3, 12]]);
    expectError(() => int([65536, 65536, 0]).cumprod(0), RangeError,
      /^cumprod: the running product 4294967296 does not fit in int32 \(an int32 tensor's cumprod is int32\)/);
  });

  // Gradients with zeros in the input, as PyTorch 1.13 computes them
  // (x.cumprod(dim).backward(g)): exact, never NaN where it gives a number.
  it('gradient where the input holds zeros', () => {
    const grad = (v: number[] | number[][], dim: number, g?: number[][]) => {
      const x = tg.tensor(v, { dtype: 'float64', requiresGrad: true });
      const y = x.cumprod(dim);
      y.backward(g ? tg.tensor(g, { dtype: 'float64' }) : tg.onesLike(y));
      return x.grad!.toArray();
    };
    expect(grad([2, 0, 3, 0, 5], 0)).toEqual([1, 8, 0, 0, 0]);
    expect(grad([1, 2, 3, 0], 0)).toEqual([9, 4, 2, 6]);
    expect(grad([0, 2, 3], 0)).toEqual([9, 0, 0]);
    expect(grad([2, 0, Infinity], 0)).toEqual([1, Infinity, 0]);
    expect(grad([0, 0, Infinity], 0)).toEqual([1, 0, 0]);
    const x = [[0, 2, 3], [1, 2, 0], [3, 0, 2]];
    const g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
    expect(grad(x, 0, g)).toEqual([[26, 12, 3], [0, 10, 72], [0, 32, 0]]);
    expect(grad(x, 1, g)).toEqual([[23, 0, 0], [14, 5, 12], [7, 78, 0]]);
    // without zeros: the running sum of g·y from the end, divided by x
    expect(grad([2, 3, 4], 0)).toEqual([1 + 3 + 12, 2 + 8, 6]);
  });

  it('gradcheck and gradgradcheck, with and without zeros', () => {
    for (const dim of [0, 1, -1]) {
      expect(tg.gradcheck((x) => x.cumprod(dim), [leaf([3, 4, 2], 2)])).toBe(true);
      expect(tg.gradgradcheck((x) => x.cumprod(dim), [leaf([3, 4, 2], 2)])).toBe(true);
    }
    const zeros = () => tg.tensor([[2, 0, 3, 0, 5], [0, 1.5, 0.5, 2, 0], [1, 2, 0, 3, 4]], { dtype: 'float64', requiresGrad: true });
    for (const dim of [0, 1]) {
      expect(tg.gradcheck((x) => x.cumprod(dim), [zeros()])).toBe(true);
      expect(tg.gradgradcheck((x) => x.cumprod(dim), [zeros()])).toBe(true);
    }
    expect(tg.gradcheck((x) => x.T.cumprod(1), [zeros()])).toBe(true);
    expect(tg.gradcheck((x) => x.cumprod(0), [leaf([])])).toBe(true);
  });

  it('rejects bad dims', () => {
    expectError(() => tg.zeros([2]).cumprod(1), RangeError, /^cumprod: dim must be in \[-1, 0\] for a tensor with 1 dimensions, got 1$/);
    expectError(() => tg.zeros([2]).cumprod(NaN), RangeError, /^cumprod: dim must be an integer, got NaN$/);
  });
});
