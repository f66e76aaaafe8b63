import { describe, expect, it } from 'vitest';
import { expectError, leaf, tg } from '../helpers.js';
import type { Tensor } from '../helpers.js';

const values = (t: Tensor) => Array.from(t.data());
/** Distinct values in a random-looking order, for gradient checks. */
const distinct = (shape: number[], seed: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, (_, i) => ((i * 37 + seed * 11) % (n + 7)) / 4 - 1);
  return tg.tensor(Float64Array.from(v), { shape, dtype: 'float64', requiresGrad: true });
};

// The PyTorch 1.13 answers below come from torch.sort / torch.topk on the same tensors.
const special = () => tg.tensor([3, NaN, -Infinity, 1, Infinity, NaN, -0, 0, 1, -1]);

describe('sort', () => {
  it('sorts along the last dim by default, with the index each value came from', () => {
    const { values: v, indices: i } = tg.tensor([[3, 1, 2], [0, 5, 4]]).sort();
    expect(v.toArray()).toEqual([[1, 2, 3], [0, 4, 5]]);
    expect(i.toArray()).toEqual([[1, 2, 0], [0, 2, 1]]);
    expect(i.dtype).toBe('int32');
    const d = tg.tensor([[3, 1, 2], [0, 5, 4]]).sort({ descending: true });
    expect(d.values.toArray()).toEqual([[3, 2, 1], [5, 4, 0]]);
    expect(d.indices.toArray()).toEqual([[0, 2, 1], [1, 2, 0]]);
  });

  it('along other dims and from non-contiguous views', () => {
    const x = tg.tensor([[3, 1], [2, 5]]);
    const s = x.sort({ dim: 0 }); // PyTorch: values [[2, 1], [3, 5]], indices [[1, 0], [0, 1]]
    expect(s.values.toArray()).toEqual([[2, 1], [3, 5]]);
    expect(s.indices.toArray()).toEqual([[1, 0], [0, 1]]);
    const t = tg.tensor([[3, 1, 2], [0, 5, 4]]).T; // [[3, 0], [1, 5], [2, 4]]
    expect(t.sort({ dim: 0 }).values.toArray()).toEqual([[1, 0], [2, 4], [3, 5]]);
    expect(t.sort({ dim: 0 }).indices.toArray()).toEqual([[1, 0], [2, 2], [0, 1]]);
    expect(t.sort({ dim: -1 }).indices.toArray()).toEqual([[1, 0], [0, 1], [0, 1]]);
    const strided = tg.tensor([5, 9, 1, 9, 3]).slice(0, 0, null, 2); // [5, 1, 3]
    expect(strided.sort().indices.toArray()).toEqual([1, 2, 0]);
    const batched = tg.arange(24).reshape(2, 3, 4).neg().sort({ dim: 1 });
    expect(batched.indices.toArray()).toEqual([
      [[2, 2, 2, 2], [1, 1, 1, 1], [0, 0, 0, 0]],
      [[2, 2, 2, 2], [1, 1, 1, 1], [0, 0, 0, 0]],
    ]);
    expect(batched.values.slice(0, 0, 1).toArray()).toEqual([[[-8, -9, -10, -11], [-4, -5, -6, -7], [0, -1, -2, -3]]]);
  });

  it('orders NaN above Infinity, -0 equal to 0, ties in input order (as PyTorch)', () => {
    const up = special().sort();
    expect(values(up.values)).toEqual([-Infinity, -1, -0, 0, 1, 1, 3, Infinity, NaN, NaN]);
    expect(values(up.indices)).toEqual([2, 9, 6, 7, 3, 8, 0, 4, 1, 5]);
    expect(Object.is(up.values.data()[2], -0)).toBe(true);
    const down = special().sort({ descending: true, stable: true });
    expect(values(down.values)).toEqual([NaN, NaN, Infinity, 3, 1, 1, -0, 0, -1, -Infinity]);
    expect(values(down.indices)).toEqual([1, 5, 4, 0, 3, 8, 6, 7, 9, 2]);
    expect(values(tg.tensor([-0, 0, -0, 0]).sort().indices)).toEqual([0, 1, 2, 3]);
    expect(values(tg.tensor([-0, 0, -0, 0]).sort({ descending: true }).indices)).toEqual([0, 1, 2, 3]);
  });

  it('is stable on long rows with many ties, on 1, 2 and 3 threads', () => {
    const before = tg.getNumThreads();
    try {
      const n = 5000, rows = 40;
      const data = Array.from({ length: rows * n }, (_, i) => (i * 7919) % 13);
      const x = tg.tensor(data, { shape: [rows, n], dtype: 'int32' });
      const expected = Array.from({ length: rows }, (_, r) =>
        Array.from({ length: n }, (_, j) => j).sort((a, b) => data[r * n + a]! - data[r * n + b]! || a - b));
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        const got = x.argsort().toArray() as number[][];
        expect(got, `${threads} threads`).toEqual(expected);
        // the same through a transposed view, along dim 0
        expect((x.T.argsort({ dim: 0 }).T.toArray() as number[][])).toEqual(expected);
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('int32, float64, 0-d and empty inputs', () => {
    const i = tg.tensor([3, -1, 2], { dtype: 'int32' }).sort();
    expect(i.values.dtype).toBe('int32');
    expect(values(i.values)).toEqual([-1, 2, 3]);
    expect(tg.tensor([0.5, 0.25], { dtype: 'float64' }).sort().values.dtype).toBe('float64');
    const s = tg.tensor(5).sort();
    expect(s.values.toArray()).toBe(5);
    expect(s.indices.toArray()).toBe(0);
    expect(s.indices.shape).toEqual([]);
    expect(tg.tensor(5).sort({ dim: 0 }).values.shape).toEqual([]);
    expect(tg.zeros([0, 3]).sort({ dim: 1 }).values.shape).toEqual([0, 3]);
    expect(tg.zeros([2, 0]).sort().indices.shape).toEqual([2, 0]);
  });

  it('gradient: each value sends its gradient back to where it came from', () => {
    const x = tg.tensor([3, 1, 2], { dtype: 'float64', requiresGrad: true });
    const { values: v } = x.sort();
    expect(v.gradFn).toBe('sort');
    v.backward(tg.tensor([10, 20, 30], { dtype: 'float64' }));
    expect(x.grad!.toArray()).toEqual([30, 10, 20]);
  });

  it('gradcheck and gradgradcheck on distinct values', () => {
    expect(tg.gradcheck((x) => x.sort().values, [distinct([3, 5], 1)])).toBe(true);
    expect(tg.gradcheck((x) => x.sort({ dim: 0, descending: true }).values, [distinct([4, 3], 2)])).toBe(true);
    expect(tg.gradcheck((x) => x.T.sort({ dim: 1 }).values, [distinct([4, 3], 3)])).toBe(true);
    expect(tg.gradcheck((x) => x.sort().values, [distinct([], 3)])).toBe(true);
    expect(tg.gradgradcheck((x) => x.sort({ dim: 1 }).values.square(), [distinct([2, 3, 4], 4)])).toBe(true);
  });

  it('rejects bad arguments', () => {
    const x = tg.zeros([2, 3]);
    expectError(() => x.sort({ dim: 2 }), RangeError, /^sort: dim must be in \[-2, 1\] for a tensor with 2 dimensions, got 2$/);
    expectError(() => x.sort({ dim: 0.5 }), RangeError, /^sort: dim must be an integer, got 0\.5$/);
    expectError(() => x.sort({ descending: 1 as unknown as boolean }), TypeError, /^sort: descending must be a boolean, got 1$/);
    expectError(() => x.sort({ stable: 'yes' as unknown as boolean }), TypeError, /^sort: stable must be a boolean, got 'yes'$/);
    expectError(() => x.sort({ decending: true } as never), TypeError, /^sort: unknown option 'decending'; the options are dim, descending, stable$/);
    expectError(() => x.sort(1 as never), TypeError, /^sort: options must be an object like \{ dim: -1, descending: true \}, got 1$/);
    expectError(() => x.argsort({ dim: -3 }), RangeError, /^argsort: dim must be in \[-2, 1\]/);
  });
});

describe('argsort', () => {
  it('is sort().indices', () => {
    const x = special();
    expect(values(x.argsort())).toEqual([2, 9, 6, 7, 3, 8, 0, 4, 1, 5]);
    expect(values(x.argsort({ descending: true }))).toEqual([1, 5, 4, 0, 3, 8, 6, 7, 9, 2]);
    expect(tg.tensor([[3, 1], [2, 5]]).argsort({ dim: 0 }).toArray()).toEqual([[1, 0], [0, 1]]);
    expect(x.argsort().dtype).toBe('int32');
  });
});

describe('topk', () => {
  it('the k largest or smallest along a dim, sorted, with their indices', () => {
    const x = tg.tensor([[1, 5, 3, 4], [8, 2, 9, 0]]);
    const top = x.topk(2);
    expect(top.values.toArray()).toEqual([[5, 4], [9, 8]]);
    expect(top.indices.toArray()).toEqual([[1, 3], [2, 0]]);
    const low = x.topk(3, { largest: false });
    expect(low.values.toArray()).toEqual([[1, 3, 4], [0, 2, 8]]);
    expect(low.indices.toArray()).toEqual([[0, 2, 3], [3, 1, 0]]);
    const cols = x.topk(1, { dim: 0 });
    expect(cols.values.toArray()).toEqual([[8, 5, 9, 4]]);
    expect(cols.indices.toArray()).toEqual([[1, 0, 1, 0]]);
    expect(x.T.topk(1, { dim: 1, sorted: false }).indices.toArray()).toEqual([[1], [0], [1], [0]]);
    expect(x.topk(0).values.shape).toEqual([2, 0]);
    expect(x.topk(4).values.toArray()).toEqual([[5, 4, 3, 1], [9, 8, 2, 0]]);
  });

  it('NaN counts as the largest; ties come in index order', () => {
    const top = special().topk(4);
    expect(values(top.values)).toEqual([NaN, NaN, Infinity, 3]); // PyTorch's
    expect(values(top.indices)).toEqual([1, 5, 4, 0]);
    const low = special().topk(4, { largest: false });
    // PyTorch gives [-Infinity, -1, 0, -0] from [2, 9, 7, 6]: its order of equal values is unspecified.
    expect(values(low.values)).toEqual([-Infinity, -1, -0, 0]);
    expect(values(low.indices)).toEqual([2, 9, 6, 7]);
    const ties = tg.tensor([1, 2, 2, 1, 2, 0]);
    expect(values(ties.topk(3).indices)).toEqual([1, 2, 4]); // PyTorch: [2, 4, 1]
    expect(values(ties.topk(4, { largest: false }).indices)).toEqual([5, 0, 3, 1]); // PyTorch: [5, 3, 0, 2]
  });

  it('agrees with sort on long rows, on 1 and 3 threads', () => {
    const before = tg.getNumThreads();
    try {
      const x = tg.tensor(Array.from({ length: 64 * 3000 }, (_, i) => (i * 7919) % 1009), { shape: [64, 3000] });
      for (const threads of [1, 3]) {
        tg.setNumThreads(threads);
        const sorted = x.sort({ descending: true });
        const top = x.topk(10);
        expect(top.values.toArray()).toEqual(sorted.values.narrow(1, 0, 10).toArray());
        expect(top.indices.toArray()).toEqual(sorted.indices.narrow(1, 0, 10).toArray());
        expect(x.topk(7, { dim: 0, largest: false }).indices.toArray()).toEqual(x.argsort({ dim: 0 }).narrow(0, 0, 7).toArray());
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('a few of long rows with NaN, ±0, ±Infinity and ties agree with sort, both ways, in both dtypes', () => {
    // k at most a 64th of the row: a heap that each element is tested
    // against; a few more, partial_sort; from 64 (or a 16th of the row),
    // nth_element then a sort.
    const specials = [NaN, 0, -0, Infinity, -Infinity, 5, 5, -5];
    for (const dtype of ['float32', 'float64'] as const) {
      const data = Array.from({ length: 6 * 2000 }, (_, i) => (i % 97 === 0 ? specials[(i / 97) % 8]! : ((i * 7919) % 1013) - 500));
      const x = tg.tensor(data, { dtype, shape: [6, 2000] });
      for (const largest of [true, false])
        for (const k of [1, 5, 31, 32, 63, 64, 200]) {
          const top = x.topk(k, { largest }), sorted = x.sort({ descending: largest });
          expect(values(top.values), `${dtype} ${largest} ${k}`).toEqual(values(sorted.values.narrow(1, 0, k)));
          expect(top.indices.toArray(), `${dtype} ${largest} ${k}`).toEqual(sorted.indices.narrow(1, 0, k).toArray());
        }
      // 20 of 100 (a fifth): nth_element on short rows.
      const short = tg.tensor(data.slice(0, 500), { dtype, shape: [5, 100] });
      for (const largest of [true, false]) {
        const top = short.topk(20, { largest }), sorted = short.sort({ descending: largest });
        expect(values(top.values)).toEqual(values(sorted.values.narrow(1, 0, 20)));
        expect(top.indices.toArray()).toEqual(sorted.indices.narrow(1, 0, 20).toArray());
      }
      // -0 and +0 as the smallest: equal, so they come in index order.
      const zeros = tg.tensor(Array.from({ length: 640 }, (_, i) => (i % 50 === 7 ? (i % 100 === 7 ? -0 : 0) : 1 + (i % 13))), { dtype });
      const low = zeros.topk(5, { largest: false });
      expect(values(low.values)).toEqual([-0, 0, -0, 0, -0]);
      expect(values(low.indices)).toEqual([7, 57, 107, 157, 207]);
    }
  });

  it('0-d input: k of 0 or 1 gives the element (as PyTorch)', () => {
    expect(tg.tensor(5).topk(1).values.toArray()).toBe(5);
    expect(tg.tensor(5).topk(0).indices.toArray()).toBe(0);
    expectError(() => tg.tensor(5).topk(2), RangeError, /^topk: k must be in \[0, 1\]/);
  });

  it('gradient goes to the picked positions only', () => {
    const x = tg.tensor([[1, 5, 3, 4]], { dtype: 'float64', requiresGrad: true });
    const { values: v } = x.topk(2);
    expect(v.gradFn).toBe('topk');
    v.backward(tg.tensor([[10, 20]], { dtype: 'float64' }));
    expect(x.grad!.toArray()).toEqual([[0, 10, 0, 20]]);
    expect(tg.gradcheck((t) => t.topk(2).values, [distinct([3, 5], 5)])).toBe(true);
    expect(tg.gradcheck((t) => t.topk(2, { dim: 0, largest: false }).values, [distinct([4, 3], 6)])).toBe(true);
    expect(tg.gradgradcheck((t) => t.topk(3).values.square(), [distinct([2, 5], 7)])).toBe(true);
  });

  it('rejects k out of range and bad options', () => {
    const x = tg.zeros([2, 3]);
    expectError(() => x.topk(4), RangeError, /^topk: k must be in \[0, 3\] \(the size of dim 1 of a tensor of shape \[2, 3\]\), got 4$/);
    expectError(() => x.topk(-1), RangeError, /^topk: k must be in \[0, 3\] .*got -1$/);
    expectError(() => x.topk(3, { dim: 0 }), RangeError, /^topk: k must be in \[0, 2\] \(the size of dim 0/);
    expectError(() => x.topk(1.5), RangeError, /^topk: k must be an integer, got 1\.5$/);
    expectError(() => (x.topk as (k?: unknown) => unknown)(), TypeError, /^topk: k must be an integer, got undefined$/);
    expectError(() => x.topk(1, { dim: 2 }), RangeError, /^topk: dim must be in \[-2, 1\]/);
    expectError(() => x.topk(1, { largest: 'no' as unknown as boolean }), TypeError, /^topk: largest must be a boolean, got 'no'$/);
    expectError(() => x.topk(1, { sorted: 0 as unknown as boolean }), TypeError, /^topk: sorted must be a boolean, got 0$/);
    expectError(() => x.topk(1, { k: 2 } as never), TypeError, /^topk: unknown option 'k'/);
  });
});
