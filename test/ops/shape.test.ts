import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, expectError, expectSameDigestOnEveryIsa, leaf, tg } from '../helpers.js';
import type { Tensor } from '../helpers.js';

const m23 = () => tg.tensor([[1, 2, 3], [4, 5, 6]]);

/** Writes `value` into `target` in place, as a user would to a parameter. */
function overwrite(target: Tensor, value: number): void {
  tg.noGrad(() => target.fill(value));
}

describe('view', () => {
  it('reshapes without copying, inferring one -1', () => {
    const x = m23();
    const v = x.view(3, 2);
    expect(v.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(x.view([-1]).toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(x.view(-1, 1, 2).shape).toEqual([3, 1, 2]);
    expect(tg.tensor([7]).view([]).shape).toEqual([]);
  });

  it('shares storage: writes through either are seen by the other', () => {
    const x = tg.zeros([2, 3], { requiresGrad: true });
    const v = x.view(6);
    tg.noGrad(() => v.copyFrom(tg.tensor([1, 2, 3, 4, 5, 6])));
    expect(x.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    overwrite(x, 9);
    expect(Array.from(v.data())).toEqual([9, 9, 9, 9, 9, 9]);
    expect(v.version).toBe(x.version);
  });

  it('views a split dim of a transposed tensor, but not a merge', () => {
    const t = tg.arange(24).reshape(2, 3, 4).transpose(0, 2); // [4, 3, 2]
    const v = t.view(2, 2, 3, 2);
    expect(v.toArray()).toEqual(t.reshape(2, 2, 3, 2).toArray());
    expectError(() => m23().T.view(6), RangeError,
      /^view: a tensor of shape \[3, 2\] and strides \[1, 3\] cannot be viewed as shape \[6\] without a copy.*reshape/);
  });

  it('rejects bad shapes', () => {
    expectError(() => m23().view(4, 2), RangeError, /^view: shape \[4, 2\] is invalid for a tensor of shape \[2, 3\] \(6 elements\)/);
    expectError(() => m23().view(-1, -1), RangeError, /^view: only one dimension can be -1/);
    expectError(() => m23().view(-2, 3), RangeError, /^view: shape must hold non-negative integers or -1, got -2 at index 0/);
    expectError(() => m23().view(1.5, 4), RangeError, /got 1\.5 at index 0/);
    // A size that is not a number is a TypeError (README: wrong types), one that is a number but no size a RangeError.
    expectError(() => m23().view('6' as never), TypeError, /^view: shape must hold non-negative integers or -1, got '6' at index 0$/);
    expectError(() => m23().reshape('6' as never), TypeError, /^reshape: shape must hold non-negative integers or -1, got '6' at index 0$/);
    expectError(() => m23().reshape([2, null] as never), TypeError, /^reshape: shape must hold non-negative integers or -1, got null at index 1$/);
    expectError(() => m23().expand(2, 3n as never), TypeError, /^expand: shape must hold non-negative integers or -1, got a BigInt at index 1$/);
    expectError(() => m23().broadcastTo([[2], 3] as never), TypeError, /^broadcastTo: shape must hold/);
    expectError(() => m23().reshape(NaN, 6), RangeError, /^reshape: shape must hold non-negative integers or -1, got NaN at index 0$/);
    expectError(() => m23().reshape(Infinity), RangeError, /got Infinity at index 0$/);
    expectError(() => m23().reshape(2 ** 53, 1), RangeError, /got 9007199254740992 at index 0$/);
    expectError(() => m23().permute(['1', 0] as never), TypeError, /^permute: dims must be integers, got '1' at index 0$/);
    expectError(() => m23().permute(0.5, 1), RangeError, /^permute: dims must be integers, got 0\.5 at index 0$/);
    expectError(() => tg.zeros([2, 3]).split([1, '2'] as never), TypeError, /^split: splitSizeOrSections must hold non-negative integers, got '2' at index 1$/);
    expectError(() => tg.zeros(['2'] as never), TypeError, /^zeros: shape must hold non-negative integers, got '2' at index 0$/);
    expectError(() => tg.randn([2, true] as never), TypeError, /^randn: shape must hold non-negative integers, got true at index 1$/);
  });

  it('gradcheck', () => {
    expect(tg.gradcheck((x) => x.view(3, 2).mul(x.view(3, 2)), [leaf([2, 3])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.view(-1).mul(x.view(-1)), [leaf([2, 1, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.transpose(0, 1).view(2, 1, 3), [leaf([3, 2])])).toBe(true);
    expect(tg.gradcheck((x) => x.expand(2, 3).view(2, 1, 3), [leaf([1, 3])])).toBe(true);
    expect(m23().setRequiresGrad().view(6).gradFn).toBe('view');
  });
});

describe('reshape', () => {
  it('of a transposed tensor copies: writes do not reach the original', () => {
    const x = m23();
    const r = x.T.reshape(6);
    expect(r.toArray()).toEqual([1, 4, 2, 5, 3, 6]);
    overwrite(r, 0);
    expect(x.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    // A contiguous tensor reshapes to a view instead.
    const v = x.reshape(3, 2);
    overwrite(v, 1);
    expect(x.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
  });

  it('gradcheck through the copying path', () => {
    expect(tg.gradcheck((x) => x.T.reshape(-1).mul(tg.arange(6, { dtype: 'float64' })), [leaf([2, 3])])).toBe(true);
  });
});

describe('flatten', () => {
  it('merges the chosen dims', () => {
    const x = tg.arange(24).reshape(2, 3, 4);
    expect(x.flatten().shape).toEqual([24]);
    expect(x.flatten(1).shape).toEqual([2, 12]);
    expect(x.flatten(0, 1).shape).toEqual([6, 4]);
    expect(x.flatten(-2, -1).shape).toEqual([2, 12]);
    expect(x.flatten(1, 1).shape).toEqual([2, 3, 4]);
    expect(x.flatten(0, -2).toArray()).toEqual(x.reshape(6, 4).toArray());
    expect(tg.tensor(5).flatten().shape).toEqual([1]);
    expect(tg.zeros([2, 0, 3]).flatten(1).shape).toEqual([2, 0]);
  });

  it('is a view when contiguous and a copy otherwise', () => {
    const x = tg.zeros([2, 3]);
    overwrite(x.flatten(), 4);
    expect(x.toArray()).toEqual([[4, 4, 4], [4, 4, 4]]);
    const y = tg.zeros([2, 3]);
    const f = y.T.flatten();
    overwrite(f, 4);
    expect(y.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });

  it('rejects bad dims', () => {
    expectError(() => tg.zeros([2, 3, 4]).flatten(2, 1), RangeError, /^flatten: startDim \(2\) must not come after endDim \(1\)/);
    expectError(() => tg.zeros([2, 3]).flatten(0, 2), RangeError, /^flatten: endDim must be in \[-2, 1\] .* got 2/);
    expectError(() => tg.zeros([2]).flatten(0.5), RangeError, /^flatten: startDim must be an integer, got 0\.5/);
  });

  it('merges huge dims beside a 0-sized one only when the merged size can exist', () => {
    // A tensor of shape [0, 2**40, 2**40] holds nothing; merging all of it, or the 0 with 2**40, is fine
    // (torch: flatten() -> [0], flatten(0, 1) -> [0, 2**40]).
    const x = tg.zeros([0, 2 ** 40, 2 ** 40]);
    expect(x.flatten().shape).toEqual([0]);
    expect(x.flatten(0, 1).shape).toEqual([0, 2 ** 40]);
    // Merging the two 2**40 dims would make a dim of 2**80, beyond any size (torch gives [0, 0], its product
    // overflowed); the product was computed unchecked before.
    expectError(() => x.flatten(1), RangeError,
      /^flatten: merging dims 1 to 2 of shape \[0, 1099511627776, 1099511627776\] gives more elements than a tensor may hold$/);
    expect(tg.zeros([0, 3, 5]).flatten(1).shape).toEqual([0, 15]);
  });

  it('gradcheck', () => {
    expect(tg.gradcheck((x) => x.flatten(1).mul(x.flatten(1)), [leaf([2, 3, 2])])).toBe(true);
    expect(tg.gradcheck((x) => x.transpose(0, 2).flatten(0, 1), [leaf([2, 3, 2])])).toBe(true);
    expect(tg.gradcheck((x) => x.flatten(), [leaf([])])).toBe(true);
  });
});

describe('squeeze and unsqueeze', () => {
  it('squeeze drops size-1 dims: all, or the listed ones', () => {
    const x = tg.zeros([1, 3, 1, 2]);
    expect(x.squeeze().shape).toEqual([3, 2]);
    expect(x.squeeze(0).shape).toEqual([3, 1, 2]);
    expect(x.squeeze(-2).shape).toEqual([1, 3, 2]);
    expect(x.squeeze([0, 2]).shape).toEqual([3, 2]);
    expect(x.squeeze(1).shape).toEqual([1, 3, 1, 2]); // size 3: left alone, as PyTorch
    expect(x.squeeze([]).shape).toEqual([1, 3, 1, 2]);
    expect(tg.tensor(2).squeeze().shape).toEqual([]);
    expect(tg.tensor(2).squeeze(0).shape).toEqual([]);
    expect(tg.zeros([1, 0]).squeeze().shape).toEqual([0]);
  });

  it('unsqueeze inserts a size-1 dim at any of ndim + 1 places', () => {
    const x = m23();
    expect(x.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(x.unsqueeze(2).shape).toEqual([2, 3, 1]);
    expect(x.unsqueeze(-1).shape).toEqual([2, 3, 1]);
    expect(x.unsqueeze(-3).shape).toEqual([1, 2, 3]);
    expect(x.unsqueeze(1).toArray()).toEqual([[[1, 2, 3]], [[4, 5, 6]]]);
    expect(x.unsqueeze(1).isContiguous()).toBe(true);
    expect(tg.tensor(3).unsqueeze(0).toArray()).toEqual([3]);
    expect(tg.tensor(3).unsqueeze(-1).shape).toEqual([1]);
    // Up to 64 dims, as a shape argument allows; not past them.
    const dims64 = tg.zeros(new Array(63).fill(1)).unsqueeze(0);
    expect(dims64.shape.length).toBe(64);
    expectError(() => dims64.unsqueeze(0), RangeError,
      /^unsqueeze: the input has 64 dimensions already; at most 64 are supported$/);
  });

  it('both are views', () => {
    const x = tg.zeros([1, 3]);
    overwrite(x.squeeze(), 2);
    overwrite(x.unsqueeze(0).slice(2, 1, 2), 5);
    expect(x.toArray()).toEqual([[2, 5, 2]]);
    expect(x.squeeze().gradFn).toBe(null);
    expect(x.setRequiresGrad().squeeze(1).gradFn).toBe('squeeze');
  });

  it('rejects bad dims', () => {
    expectError(() => m23().squeeze(2), RangeError, /^squeeze: dim must be in \[-2, 1\] for a tensor with 2 dimensions, got 2/);
    expectError(() => tg.zeros([1, 1]).squeeze([0, -2]), RangeError, /^squeeze: dim 0 appears more than once/);
    expectError(() => m23().squeeze('a' as unknown as number), TypeError, /^squeeze: dim must be an integer or an array/);
    expectError(() => m23().unsqueeze(3), RangeError, /^unsqueeze: dim must be in \[-3, 2\] for a tensor with 2 dimensions, got 3/);
    expectError(() => m23().unsqueeze(-4), RangeError, /got -4/);
  });

  it('gradcheck', () => {
    expect(tg.gradcheck((x) => x.squeeze().mul(x.squeeze()), [leaf([1, 3, 1])])).toBe(true);
    expect(tg.gradcheck((x) => x.unsqueeze(1).mul(x.unsqueeze(0)), [leaf([3])])).toBe(true); // broadcast [3,1]*[1,3]
    expect(tg.gradcheck((x) => x.T.unsqueeze(-1), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.squeeze().unsqueeze(0), [leaf([1, 0, 1])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.unsqueeze(0).squeeze(0).mul(x), [leaf([2, 2])])).toBe(true);
  });
});

describe('T and mT', () => {
  it('T reverses every dim (identity for 0-d and 1-D)', () => {
    expect(m23().T.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    const x = tg.arange(24).reshape(2, 3, 4);
    expect(x.T.shape).toEqual([4, 3, 2]);
    expect(x.T.toArray()).toEqual(x.permute(2, 1, 0).toArray());
    expect(tg.tensor([1, 2]).T.toArray()).toEqual([1, 2]);
    expect(tg.tensor(3).T.item()).toBe(3);
  });

  it('mT swaps the last two dims only', () => {
    const x = tg.arange(12).reshape(2, 3, 2);
    expect(x.mT.shape).toEqual([2, 2, 3]);
    expect(x.mT.toArray()).toEqual([[[0, 2, 4], [1, 3, 5]], [[6, 8, 10], [7, 9, 11]]]);
    expectError(() => tg.tensor([1, 2]).mT, RangeError, /^mT: the tensor must have at least 2 dims, got shape \[2\]/);
  });

  it('are views', () => {
    const x = tg.zeros([2, 2]);
    tg.noGrad(() => x.T.slice(0, 1, 2).copyFrom(tg.tensor([[7, 8]])));
    expect(x.toArray()).toEqual([[0, 7], [0, 8]]);
  });

  it('gradcheck', () => {
    const w = tg.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64' });
    expect(tg.gradcheck((x) => x.T.mul(w), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.mT.mul(x.mT), [leaf([2, 3, 2])])).toBe(true);
  });
});

describe('broadcastTo', () => {
  it('is expand under its own name', () => {
    const x = tg.tensor([[1], [2]]);
    expect(x.broadcastTo(2, 3).toArray()).toEqual([[1, 1, 1], [2, 2, 2]]);
    expect(x.broadcastTo([3, 2, -1]).shape).toEqual([3, 2, 1]);
    expect(x.broadcastTo(2, 3).strides()).toEqual([1, 0]);
    expectError(() => x.broadcastTo(3, 3), RangeError, /^broadcastTo: cannot expand shape \[2, 1\] to \[3, 3\] \(dim 0: 2 to 3\)/);
    expectError(() => x.broadcastTo(3), RangeError, /^broadcastTo: the target shape \[3\] has fewer dimensions/);
    expectError(() => tg.zeros([1, 1]).broadcastTo(2 ** 40, 2 ** 40), RangeError, /^broadcastTo: shape \[1099511627776, 1099511627776\] has too many elements/);
  });

  it('gradcheck sums the gradient back', () => {
    expect(tg.gradcheck((x) => x.broadcastTo(2, 3, 2).mul(tg.arange(12, { dtype: 'float64' }).reshape(2, 3, 2)), [leaf([3, 1])])).toBe(true);
    const x = tg.tensor([1, 2], { requiresGrad: true });
    x.broadcastTo(3, 2).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 3]);
  });
});

describe('slice', () => {
  const r = () => tg.arange(10);

  it('follows Python slicing: defaults, negative bounds, clamping, steps', () => {
    expect(r().slice(0).toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r().slice(0, 2, 5).toArray()).toEqual([2, 3, 4]);
    expect(r().slice(0, -3).toArray()).toEqual([7, 8, 9]);
    expect(r().slice(0, null, -8).toArray()).toEqual([0, 1]);
    expect(r().slice(0, 1, null, 3).toArray()).toEqual([1, 4, 7]);
    expect(r().slice(0, undefined, undefined, 4).toArray()).toEqual([0, 4, 8]);
    expect(r().slice(0, -100, 100).size).toBe(10);
    expect(r().slice(0, 20).toArray()).toEqual([]);
    expect(r().slice(0, 6, 2).toArray()).toEqual([]);
    expect(r().slice(0, 3, 9, 2 ** 52).toArray()).toEqual([3]);
    // ±Infinity lies past either end and is clamped, as x[-math.inf:math.inf] would be in Python.
    expect(r().slice(0, -Infinity, Infinity).toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r().slice(0, 7, Infinity).toArray()).toEqual([7, 8, 9]);
    expect(r().slice(0, -Infinity, 2).toArray()).toEqual([0, 1]);
    expect(r().slice(0, Infinity).toArray()).toEqual([]);
    expect(r().slice(0, 2, -Infinity).toArray()).toEqual([]);
    expect(r().slice(0, -Infinity, Infinity, 4).toArray()).toEqual([0, 4, 8]);
    const x = tg.arange(12).reshape(3, 4);
    expect(x.slice(1, 1, 3).toArray()).toEqual([[1, 2], [5, 6], [9, 10]]);
    expect(x.slice(-1, -1).toArray()).toEqual([[3], [7], [11]]);
    expect(x.slice(0, 0, 3, 2).toArray()).toEqual([[0, 1, 2, 3], [8, 9, 10, 11]]);
    expect(x.slice(0, 0, 3, 2).strides()).toEqual([8, 1]);
  });

  it('matches Python slicing for every small case', () => {
    // Python's list slicing, written out: negative bounds count from the end, then clamp.
    const python = (n: number, start: number | null, end: number | null, step: number) => {
      const bound = (v: number | null, fallback: number) =>
        v === null ? fallback : v < 0 ? Math.max(v + n, 0) : Math.min(v, n);
      const out: number[] = [];
      for (let i = bound(start, 0); i < bound(end, n); i += step) out.push(i);
      return out;
    };
    const bounds = [null, -7, -5, -3, -1, 0, 1, 2, 4, 5, 7];
    for (let n = 0; n <= 5; n++) {
      const x = tg.arange(n);
      for (const start of bounds)
        for (const end of bounds)
          for (const step of [1, 2, 3]) {
            const got = x.slice(0, start, end, step);
            expect(got.toArray(), `n=${n} [${start}:${end}:${step}]`).toEqual(python(n, start, end, step));
            got.dispose();
          }
      x.dispose();
    }
  });

  it('is a view: writes through it reach the base and back', () => {
    const x = tg.zeros([3, 4], { requiresGrad: true });
    const s = x.slice(1, 1, 4, 2); // columns 1 and 3
    tg.noGrad(() => s.copyFrom(tg.tensor([[1, 2], [3, 4], [5, 6]])));
    expect(x.toArray()).toEqual([[0, 1, 0, 2], [0, 3, 0, 4], [0, 5, 0, 6]]);
    tg.noGrad(() => x.slice(0, 2).fill(-1));
    expect(s.toArray()).toEqual([[1, 2], [3, 4], [-1, -1]]);
    expect(s.gradFn).toBe('slice');
  });

  it('rejects bad arguments', () => {
    expectError(() => r().slice(0, 0, 5, 0), RangeError, /^slice: step must be a positive integer, got 0/);
    expectError(() => r().slice(0, 0, 5, -1), RangeError, /^slice: step must be a positive integer, got -1/);
    expectError(() => r().slice(1), RangeError, /^slice: dim must be in \[-1, 0\] for a tensor with 1 dimensions, got 1/);
    expectError(() => tg.tensor(1).slice(0), RangeError, /^slice: cannot be applied to a 0-d tensor/);
    expectError(() => r().slice(0, 1.5), RangeError, /^slice: start must be an integer, got 1\.5/);
    expectError(() => r().slice(0, -1e18), RangeError, /^slice: start must be a safe integer \(at most 2\^53 - 1 in magnitude\), got -1000000000000000000$/);
    expectError(() => r().slice(0, NaN), RangeError, /^slice: start must be an integer, got NaN/);
    expectError(() => r().slice(0, 0, NaN), RangeError, /^slice: end must be an integer, got NaN/);
    expectError(() => r().slice(0, 1, '2' as unknown as number), TypeError, /^slice: end must be an integer, got '2'/);
  });

  it('gradcheck, including non-contiguous inputs, steps and empty results', () => {
    expect(tg.gradcheck((x) => x.slice(1, 1, -1), [leaf([2, 4])])).toBe(true);
    expect(tg.gradcheck((x) => x.T.slice(0, 0, 5, 2).mul(x.T.slice(0, 1, 5, 2)), [leaf([3, 4])])).toBe(true);
    expect(tg.gradcheck((x) => x.slice(0, 2, 2).sum().add(x.slice(0, 0, 1)), [leaf([3])])).toBe(true);
    expect(tg.gradcheck((x) => x.slice(0, 1).slice(0, 1), [leaf([4, 1])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.slice(-1, 0, null, 2).mul(x.slice(-1, 0, null, 2)), [leaf([2, 5])])).toBe(true);
  });

  it('backward fills zeros outside the slice', () => {
    const x = tg.zeros([5], { requiresGrad: true });
    x.slice(0, 1, 5, 2).mul(tg.tensor([3, 4])).sum().backward();
    expect(x.grad!.toArray()).toEqual([0, 3, 0, 4, 0]);
  });
});

describe('narrow', () => {
  it('takes length elements from start', () => {
    const x = tg.arange(12).reshape(3, 4);
    expect(x.narrow(1, 1, 2).toArray()).toEqual([[1, 2], [5, 6], [9, 10]]);
    expect(x.narrow(0, -1, 1).toArray()).toEqual([[8, 9, 10, 11]]);
    expect(x.narrow(-1, 4, 0).shape).toEqual([3, 0]);
    const y = tg.zeros([4]);
    overwrite(y.narrow(0, 1, 2), 1);
    expect(y.toArray()).toEqual([0, 1, 1, 0]);
  });

  it('checks bounds strictly', () => {
    const x = tg.zeros([3, 4]);
    expectError(() => x.narrow(1, 3, 2), RangeError, /^narrow: start \(3\) \+ length \(2\) exceeds dim 1 of size 4/);
    expectError(() => x.narrow(0, 4, 0), RangeError, /^narrow: start 4 is out of range for dim 0 of size 3/);
    expectError(() => x.narrow(0, -4, 1), RangeError, /^narrow: start -4 is out of range for dim 0 of size 3/);
    expectError(() => x.narrow(0, 0, -1), RangeError, /^narrow: length must be non-negative, got -1/);
    expectError(() => x.narrow(2, 0, 1), RangeError, /^narrow: dim must be in \[-2, 1\]/);
  });

  it('gradcheck', () => {
    expect(tg.gradcheck((x) => x.narrow(0, 1, 2).mul(x.narrow(0, 0, 2)), [leaf([3, 2])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.T.narrow(0, 1, 1).mul(x.T.narrow(0, 1, 1)), [leaf([2, 3])])).toBe(true);
  });
});

describe('split and chunk', () => {
  it('split by size: the last piece may be smaller', () => {
    const parts = tg.arange(7).split(3);
    expect(parts.map((p) => p.toArray())).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    const cols = tg.arange(6).reshape(2, 3).split(2, -1);
    expect(cols.map((p) => p.toArray())).toEqual([[[0, 1], [3, 4]], [[2], [5]]]);
    expect(tg.arange(3).split(5).map((p) => p.toArray())).toEqual([[0, 1, 2]]);
    expect(tg.zeros([0, 2]).split(0).map((p) => p.shape)).toEqual([[0, 2]]);
  });

  it('split by sections', () => {
    const parts = tg.arange(6).split([1, 0, 5]);
    expect(parts.map((p) => p.toArray())).toEqual([[0], [], [1, 2, 3, 4, 5]]);
    expect(tg.zeros([2, 5]).split([2, 3], 1).map((p) => p.shape)).toEqual([[2, 2], [2, 3]]);
    // Any number of sections (the 64-entry cap is for shapes).
    const many = tg.arange(100).split(new Array(100).fill(1));
    expect(many.length).toBe(100);
    expect(many[99]!.toArray()).toEqual([99]);
    // No sections of an empty dim: no pieces, as PyTorch (it crashed the process).
    expect(tg.zeros([0, 3]).split([])).toEqual([]);
    expect(tg.zeros([3, 0], { requiresGrad: true }).split([], 1)).toEqual([]);
    expect(() => tg.zeros([3]).split([])).toThrow(new RangeError('split: sections [] sum to 0 but dim 0 has size 3'));
  });

  it('pieces are views of the input', () => {
    const x = tg.zeros([4]);
    const [a, b] = x.split(2) as [Tensor, Tensor];
    overwrite(b, 3);
    expect(x.toArray()).toEqual([0, 0, 3, 3]);
    overwrite(x, 1);
    expect(a.toArray()).toEqual([1, 1]);
  });

  it('chunk makes at most `chunks` pieces of ceil(size / chunks)', () => {
    expect(tg.arange(5).chunk(2).map((p) => p.toArray())).toEqual([[0, 1, 2], [3, 4]]);
    expect(tg.arange(6).chunk(4).map((p) => p.toArray())).toEqual([[0, 1], [2, 3], [4, 5]]); // 3 pieces, as PyTorch
    expect(tg.arange(2).chunk(5).map((p) => p.toArray())).toEqual([[0], [1]]);
    expect(tg.zeros([2, 0]).chunk(3, 1).map((p) => p.shape)).toEqual([[2, 0], [2, 0], [2, 0]]);
  });

  it('gradients when only some pieces are used: zeros elsewhere, differentiable twice', () => {
    const x = tg.arange(12, { dtype: 'float64' }).reshape(3, 4).setRequiresGrad(true);
    const [a, , c] = x.split([2, 1, 1], 1) as [Tensor, Tensor, Tensor];
    a.mul(tg.tensor([[1, 2]], { dtype: 'float64' })).sum().add(c.mul(3).sum()).backward();
    expect(x.grad!.toArray()).toEqual([[1, 2, 0, 3], [1, 2, 0, 3], [1, 2, 0, 3]]);
    // The first and last of three pieces along dim 0, then through a second derivative.
    const f = (t: Tensor) => {
      const [p, , r] = t.split([1, 2, 1]) as [Tensor, Tensor, Tensor];
      return p.mul(p).sum().add(r.mul(p).sum());
    };
    const y = tg.tensor([[0.5, -1.5], [2, 3], [0.25, 1], [-2, 0.75]], { dtype: 'float64', requiresGrad: true });
    expect(tg.gradcheck(f, [y])).toBe(true);
    expect(tg.gradgradcheck(f, [y])).toBe(true);
    const z = tg.ones([2, 3]).setRequiresGrad(true);
    z.chunk(3, 1)[1]!.backward(tg.full([2, 1], 2));
    expect(z.grad!.dtype).toBe('float32');
    expect(z.grad!.toArray()).toEqual([[0, 2, 0], [0, 2, 0]]);
  });

  it('rejects bad arguments', () => {
    const x = tg.zeros([4, 2]);
    expectError(() => x.split([1, 2]), RangeError, /^split: sections \[1, 2\] sum to 3 but dim 0 has size 4/);
    expectError(() => x.split([3, 3]), RangeError, /^split: sections \[3, 3\] sum to more than the size 4 of dim 0/);
    expectError(() => x.split([-1, 5]), RangeError, /^split: splitSizeOrSections must hold non-negative integers, got -1 at index 0/);
    expectError(() => x.split(0), RangeError, /^split: splitSize can be 0 only when the dim has size 0, but dim 0 has size 4/);
    expectError(() => x.split(-2), RangeError, /^split: splitSize must be non-negative, got -2/);
    expectError(() => x.split('2' as unknown as number), TypeError, /^split: splitSizeOrSections must be an integer, got '2'/);
    expectError(() => x.split(1, 2), RangeError, /^split: dim must be in \[-2, 1\]/);
    expectError(() => x.chunk(0), RangeError, /^chunk: chunks must be a positive integer, got 0/);
    expectError(() => tg.tensor(1).chunk(1), RangeError, /^chunk: cannot be applied to a 0-d tensor/);
  });

  it('gradcheck, with unused pieces getting zero gradient', () => {
    expect(tg.gradcheck((x) => {
      const [a, b] = x.split([1, 2], 1) as [Tensor, Tensor];
      return b.mul(a);
    }, [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.T.chunk(3, 0), [leaf([2, 5])])).toBe(true);
    expect(tg.gradcheck((x) => x.split([0, 2, 0], 1), [leaf([1, 2])])).toBe(true);
    expect(tg.gradcheck((x) => x.chunk(2, 1), [leaf([2, 0])])).toBe(true);
    expect(tg.gradgradcheck((x) => {
      const [a, b] = x.chunk(2) as [Tensor, Tensor];
      return a.mul(b);
    }, [leaf([4, 2])])).toBe(true);
    const x = tg.zeros([5], { requiresGrad: true });
    const parts = x.split(2);
    expect(parts[0]!.gradFn).toBe('split');
    parts[1]!.mul(tg.tensor([2, 3])).sum().backward();
    expect(x.grad!.toArray()).toEqual([0, 0, 2, 3, 0]);
  });
});

describe('cat', () => {
  it('joins along a dim', () => {
    const a = tg.tensor([[1, 2]]);
    const b = tg.tensor([[3, 4], [5, 6]]);
    expect(tg.cat([a, b]).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(tg.cat([b, b.T], 1).toArray()).toEqual([[3, 4, 3, 5], [5, 6, 4, 6]]);
    expect(tg.cat([b, b], -1).shape).toEqual([2, 4]);
    expect(tg.cat([a]).toArray()).toEqual([[1, 2]]);
    expect(tg.cat([tg.zeros([2, 0]), b], 1).toArray()).toEqual([[3, 4], [5, 6]]);
  });

  it('result is a new tensor, not a view', () => {
    const a = tg.zeros([2]);
    const c = tg.cat([a, a]);
    overwrite(c, 1);
    expect(a.toArray()).toEqual([0, 0]);
  });

  it('promotes dtypes as PyTorch, with gradients in each input dtype', () => {
    const i = tg.tensor([1, 2], { dtype: 'int32' });
    const f = tg.tensor([0.5], { requiresGrad: true });
    const d = tg.tensor([0.25], { dtype: 'float64', requiresGrad: true });
    expect(tg.cat([i, i]).dtype).toBe('int32');
    const c1 = tg.cat([i, f]);
    expect(c1.dtype).toBe('float32');
    expect(c1.toArray()).toEqual([1, 2, 0.5]);
    const c2 = tg.cat([f, d, i]);
    expect(c2.dtype).toBe('float64');
    c2.mul(tg.tensor([2, 3, 4, 5], { dtype: 'float64' })).sum().backward();
    expect(f.grad!.dtype).toBe('float32');
    expect(f.grad!.toArray()).toEqual([2]);
    expect(d.grad!.toArray()).toEqual([3]);
  });

  it('skips 1-D empty tensors, as PyTorch', () => {
    const b = tg.tensor([[1, 2]], { requiresGrad: true });
    const e = tg.zeros([0], { requiresGrad: true });
    const c = tg.cat([e, b, e]);
    expect(c.toArray()).toEqual([[1, 2]]);
    c.sum().backward();
    expect(e.grad!.shape).toEqual([0]);
    expect(b.grad!.toArray()).toEqual([[1, 1]]);
    expect(tg.cat([tg.zeros([0]), tg.zeros([0])]).shape).toEqual([0]);
  });

  it('rejects bad input', () => {
    expectError(() => tg.cat([]), RangeError, /^cat: expected a non-empty array of tensors/);
    expectError(() => tg.cat([tg.zeros([2, 3]), tg.zeros([2, 4])]), RangeError,
      /^cat: shapes must match except in dim 0; tensors\[0\] has shape \[2, 3\] and tensors\[1\] has shape \[2, 4\]/);
    expectError(() => tg.cat([tg.zeros([2, 3]), tg.zeros([3])]), RangeError,
      /^cat: tensors must have the same number of dims; tensors\[0\] has shape \[2, 3\] and tensors\[1\] has shape \[3\]/);
    expectError(() => tg.cat([tg.zeros([1]), tg.tensor(1)]), RangeError, /^cat: tensors\[1\] is 0-d and cannot be concatenated/);
    expectError(() => tg.cat([tg.zeros([2])], 1), RangeError, /^cat: dim must be in \[-1, 0\]/);
    expectError(() => tg.cat([tg.zeros([2]), 3 as unknown as Tensor]), TypeError, /^cat: tensors\[1\] must be a Tensor, got 3/);
    expectError(() => tg.cat('ab' as unknown as Tensor[]), TypeError, /^cat: tensors must be an array of tensors/);
    const gone = tg.zeros([1]);
    gone.dispose();
    expectError(() => tg.cat([gone]), tg.TapegradError, /^cat: tensors\[0\] is a disposed tensor/);
  });

  it('gradcheck: the same tensor twice, non-contiguous, size-0 and size-1 dims', () => {
    const x = leaf([2, 3]);
    expect(tg.gradcheck((a) => tg.cat([a, a]), [x])).toBe(true);
    expect(tg.gradcheck((a, b) => tg.cat([a.T, b, a.T], 1), [x, leaf([3, 1], 2)])).toBe(true);
    expect(tg.gradcheck((a, b) => tg.cat([a, b], 1).mul(tg.cat([b, a], 1)), [leaf([2, 0]), leaf([2, 1], 3)])).toBe(true);
    expect(tg.gradgradcheck((a, b) => tg.cat([a.mul(b), b], -1), [leaf([1, 2]), leaf([1, 2], 4)])).toBe(true);
  });
});

describe('stack', () => {
  it('joins along a new dim', () => {
    const a = tg.tensor([1, 2]);
    const b = tg.tensor([3, 4]);
    expect(tg.stack([a, b]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tg.stack([a, b], 1).toArray()).toEqual([[1, 3], [2, 4]]);
    expect(tg.stack([a, b], -1).toArray()).toEqual([[1, 3], [2, 4]]);
    expect(tg.stack([a, b], -2).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tg.stack([tg.tensor(1), tg.tensor(2)]).toArray()).toEqual([1, 2]);
    expect(tg.stack([a, tg.tensor([0.5, 1], { dtype: 'float64' })]).dtype).toBe('float64');
  });

  it('rejects bad input', () => {
    expectError(() => tg.stack([]), RangeError, /^stack: expected a non-empty array of tensors/);
    expectError(() => tg.stack([tg.zeros([2]), tg.zeros([3])]), RangeError,
      /^stack: all tensors must have the same shape; tensors\[0\] has shape \[2\] and tensors\[1\] has shape \[3\]/);
    expectError(() => tg.stack([tg.zeros([2])], 2), RangeError, /^stack: dim must be in \[-2, 1\] for tensors with 1 dimensions, got 2/);
    const dims64 = tg.zeros(new Array(64).fill(1));
    expect(tg.stack([tg.zeros(new Array(63).fill(1))]).shape.length).toBe(64);
    expectError(() => tg.stack([dims64, dims64]), RangeError,
      /^stack: the tensors have 64 dimensions already; at most 64 are supported$/);
  });

  it('gradcheck', () => {
    const x = leaf([2, 3]);
    expect(tg.gradcheck((a) => tg.stack([a, a.mul(a)], 1), [x])).toBe(true);
    expect(tg.gradcheck((a, b) => tg.stack([a.T, b], -1), [x, leaf([3, 2], 5)])).toBe(true);
    expect(tg.gradgradcheck((a, b) => tg.stack([a, b]).mul(tg.stack([b, a])), [leaf([2]), leaf([2], 6)])).toBe(true);
  });
});

describe('copies of permuted views (contiguous)', () => {
  // Sources laid out along another dim than the last take the tiled copy
  // (blocks of 512, tiles of 8) once they hold 2^14 elements: sizes off
  // those multiples, every dtype, outer dims, offsets, threads.
  const permuted = (data: ArrayLike<number>, shape: number[], order: number[]): number[] => {
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const outShape = order.map((d) => shape[d]!);
    const n = outShape.reduce((a, b) => a * b, 1);
    const out: number[] = new Array(n);
    const index = new Array(outShape.length).fill(0);
    for (let k = 0; k < n; k++) {
      let off = 0;
      for (let j = 0; j < order.length; j++) off += index[j] * strides[order[j]!]!;
      out[k] = data[off]!;
      for (let j = outShape.length - 1; j >= 0; j--) {
        if (++index[j] < outShape[j]!) break;
        index[j] = 0;
      }
    }
    return out;
  };
  const cases: [number[], number[]][] = [
    [[1030, 17], [1, 0]],
    [[17, 1030], [1, 0]],
    [[3, 700, 37], [2, 0, 1]],
    [[3, 700, 37], [0, 2, 1]],
    [[5, 4, 600, 9], [0, 3, 2, 1]],
    [[2, 513, 3, 40], [3, 1, 0, 2]],
    [[1100, 1100], [1, 0]],
  ];
  for (const dtype of ['float32', 'float64', 'int32'] as const)
    it(`${dtype}: every element in place`, () => {
      const threads = tg.getNumThreads();
      try {
        for (const [shape, order] of cases) {
          const n = shape.reduce((a, b) => a * b, 1);
          const x = tg.arange(0, n, 1, { dtype }).reshape(shape);
          const want = permuted(Array.from(x.data()), shape, order);
          for (const t of [1, 2, 3]) {
            tg.setNumThreads(t);
            expect(Array.from(x.permute(order).contiguous().data()), `${shape} ${order} ${t}`).toEqual(want);
          }
        }
      } finally {
        tg.setNumThreads(threads);
      }
    });

  it('every bit of every element, NaN payloads included, the same on every ISA path and thread count', () => {
    // The AVX paths shuffle tiles in vectors, the others move single elements.
    expectSameDigestOnEveryIsa(path.join(__dirname, 'permute-cases.cjs'), ['1', '2'], (r) => expect(r.cases).toBe(54));
  });

  it('a view with an offset as the source, and a strided destination (cat)', () => {
    const base = tg.arange(0, 40 * 1200, 1).reshape([40, 1200]);
    const x = base.slice(1, 100, 1100).slice(0, 3, 40);  // [37, 1000], offset, row stride 1200
    const want = permuted(Array.from(x.contiguous().data()), [37, 1000], [1, 0]);
    expect(Array.from(x.transpose(0, 1).contiguous().data())).toEqual(want);
    const c = tg.cat([x.transpose(0, 1), x.transpose(0, 1)], 1);  // each copied into a strided half
    const rows = Array.from(c.data());
    for (let i = 0; i < 1000; i += 97)
      for (let j = 0; j < 37; j++) {
        expect(rows[i * 74 + j]).toBe(want[i * 37 + j]);
        expect(rows[i * 74 + 37 + j]).toBe(want[i * 37 + j]);
      }
  });
});

describe('float32 and float64 agree', () => {
  it('through a chain of shape ops', () => {
    const run = (dtype: 'float32' | 'float64') => {
      const x = tg.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], { dtype, requiresGrad: true });
      const y = tg.cat([x.T.slice(0, 1), x.flatten().unsqueeze(1).narrow(0, 0, 2)], 1).mul(3).sum();
      y.backward();
      return [y.item(), x.grad!.toArray()] as const;
    };
    const [v32, g32] = run('float32');
    const [v64, g64] = run('float64');
    expectClose(v32, v64, 1e-6);
    expectClose(g32, g64, 1e-6);
    expectClose(g64, [[3, 6, 3], [0, 3, 3]], 1e-12);
  });
});

describe('tril and triu', () => {
  const x34 = () => tg.arange(12, { dtype: 'float64' }).reshape(3, 4);
  // PyTorch 1.13's torch.tril / torch.triu of arange(12).reshape(3, 4).
  const torchTril: Record<number, number[][]> = {
    0: [[0, 0, 0, 0], [4, 5, 0, 0], [8, 9, 10, 0]],
    1: [[0, 1, 0, 0], [4, 5, 6, 0], [8, 9, 10, 11]],
    [-1]: [[0, 0, 0, 0], [4, 0, 0, 0], [8, 9, 0, 0]],
    [-3]: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    5: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]],
  };
  const torchTriu: Record<number, number[][]> = {
    0: [[0, 1, 2, 3], [0, 5, 6, 7], [0, 0, 10, 11]],
    1: [[0, 1, 2, 3], [0, 0, 6, 7], [0, 0, 0, 11]],
    [-1]: [[0, 1, 2, 3], [4, 5, 6, 7], [0, 9, 10, 11]],
    [-3]: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]],
    5: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  };

  it('keep the triangle on and below (tril) or above (triu) the diagonal, as PyTorch', () => {
    for (const d of [0, 1, -1, -3, 5]) {
      expect(x34().tril(d).toArray(), `tril ${d}`).toEqual(torchTril[d]);
      expect(x34().triu(d).toArray(), `triu ${d}`).toEqual(torchTriu[d]);
    }
    expect(x34().tril().toArray()).toEqual(torchTril[0]);
    expect(x34().triu().toArray()).toEqual(torchTriu[0]);
    // Diagonals far beyond the matrix, and the input left as it was.
    const x = x34();
    expect(x.tril(2 ** 53 - 1).toArray()).toEqual(x.toArray());
    expect(x.triu(-(2 ** 53 - 1)).toArray()).toEqual(x.toArray());
    expect(x.tril(-(2 ** 53 - 1)).toArray()).toEqual(torchTril[-3]);
    expect(x.toArray()).toEqual(x34().toArray());
  });

  it('work on each matrix of a batch, on views, on int32 and on empty matrices', () => {
    const b = tg.arange(18).reshape(2, 3, 3);
    expect(b.dtype).toBe('int32');
    const t = b.tril();
    expect(t.dtype).toBe('int32');
    expect(t.toArray()).toEqual([[[0, 0, 0], [3, 4, 0], [6, 7, 8]], [[9, 0, 0], [12, 13, 0], [15, 16, 17]]]);
    expect(b.triu(1).toArray()).toEqual([[[0, 1, 2], [0, 0, 5], [0, 0, 0]], [[0, 10, 11], [0, 0, 14], [0, 0, 0]]]);
    // A transposed view: the triangle of what the view shows.
    expect(x34().T.tril().toArray()).toEqual([[0, 0, 0], [1, 5, 0], [2, 6, 10], [3, 7, 11]]);
    expect(x34().T.tril().isContiguous()).toBe(true);
    expect(tg.zeros([0, 3]).tril().shape).toEqual([0, 3]);
    expect(tg.zeros([2, 3, 0]).triu(1).shape).toEqual([2, 3, 0]);
    // Large enough to be split across threads: each row of each matrix in its place.
    const big = tg.rand([3, 200, 150], { dtype: 'float64' });
    const rows = big.toArray() as number[][][];
    const lower = big.tril(-2).toArray() as number[][][];
    const upper = big.triu(7).toArray() as number[][][];
    const wrong: string[] = [];
    for (let m = 0; m < 3; m++)
      for (let i = 0; i < 200; i++)
        for (let j = 0; j < 150; j++) {
          if (lower[m]![i]![j] !== (j - i <= -2 ? rows[m]![i]![j] : 0)) wrong.push(`tril [${m}, ${i}, ${j}]`);
          if (upper[m]![i]![j] !== (j - i >= 7 ? rows[m]![i]![j] : 0)) wrong.push(`triu [${m}, ${i}, ${j}]`);
        }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('gradient: the same triangle of the gradient; gradcheck and gradgradcheck in float64', () => {
    const x = x34().setRequiresGrad(true);
    const y = x.tril(1);
    expect(y.gradFn).toBe('tril');
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]);
    for (const d of [0, 1, -1]) {
      expect(tg.gradcheck((t) => t.tril(d), [leaf([2, 3, 4], 1)])).toBe(true);
      expect(tg.gradcheck((t) => t.triu(d), [leaf([2, 3, 4], 2)])).toBe(true);
      expect(tg.gradgradcheck((t) => t.mul(t).tril(d), [leaf([3, 3], 3)])).toBe(true);
      expect(tg.gradgradcheck((t) => t.mul(t).triu(d), [leaf([3, 3], 4)])).toBe(true);
    }
    expect(tg.gradcheck((t) => t.transpose(1, 2).triu(), [leaf([2, 3, 4], 5)])).toBe(true);
  });

  it('errors name the op and say what came', () => {
    for (const name of ['tril', 'triu'] as const) {
      expectError(() => tg.tensor([1, 2, 3])[name](), RangeError,
        new RegExp(`^${name}: input must have at least 2 dims \\(a matrix or a batch of them\\), got shape \\[3\\]`));
      expectError(() => tg.tensor(1)[name](), RangeError, new RegExp(`^${name}: input must have at least 2 dims.*got shape \\[\\]`));
      expectError(() => m23()[name](1.5), RangeError, new RegExp(`^${name}: diagonal must be an integer, got 1.5`));
      expectError(() => m23()[name]('1' as unknown as number), TypeError, new RegExp(`^${name}: diagonal must be an integer, got '1'`));
      const d = m23();
      d.dispose();
      expectError(() => d[name](), tg.TapegradError, new RegExp(`^${name}: input is a disposed tensor`));
    }
  });
});

describe('repeat', () => {
  it('tiles along each dim, adding leading dims for extra sizes (as PyTorch)', () => {
    const x = tg.tensor([[1, 2], [3, 4]]);
    expect(x.repeat(1, 2).toArray()).toEqual([[1, 2, 1, 2], [3, 4, 3, 4]]);
    expect(x.repeat(2, 1).toArray()).toEqual([[1, 2], [3, 4], [1, 2], [3, 4]]);
    const three = x.repeat([2, 1, 3]);
    expect(three.shape).toEqual([2, 2, 6]);
    const plane = [[1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4]];
    expect(three.toArray()).toEqual([plane, plane]); // PyTorch's x.repeat(2, 1, 3)
    expect(tg.tensor(5).repeat(2, 3).toArray()).toEqual([[5, 5, 5], [5, 5, 5]]);
    expect(tg.tensor(5).repeat().shape).toEqual([]);
    expect(x.repeat(0, 2).shape).toEqual([0, 4]);
    expect(tg.zeros([0, 2]).repeat(3, 1).shape).toEqual([0, 2]);
    expect(tg.tensor([1, 2], { dtype: 'int32' }).repeat(2).toArray()).toEqual([1, 2, 1, 2]);
    expect(tg.tensor([1, 2], { dtype: 'int32' }).repeat(2).dtype).toBe('int32');
  });

  it('copies: the result shares no storage, and reads views through their strides', () => {
    const x = tg.tensor([[1, 2], [3, 4]]);
    const r = x.repeat(1, 1);
    overwrite(x, 0);
    expect(r.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tg.tensor([[1, 2], [3, 4]]).T.repeat(1, 2).toArray()).toEqual([[1, 3, 1, 3], [2, 4, 2, 4]]);
    expect(tg.tensor([7, 8]).expand(2, 2).repeat(2, 1).toArray()).toEqual([[7, 8], [7, 8], [7, 8], [7, 8]]);
  });

  it('large inputs: the same as cat of the copies', () => {
    const x = leaf([300, 129], 3);
    const want = tg.cat([tg.cat([x, x, x], 1), tg.cat([x, x, x], 1)], 0);
    expect(Array.from(x.repeat(2, 3).data())).toEqual(Array.from(want.data()));
  });

  it('gradient: each element gets the sum over its tiles', () => {
    const x = tg.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const y = x.repeat(2, 2);
    expect(y.gradFn).toBe('repeat');
    y.backward(tg.tensor([[1, 2, 3, 4], [5, 6, 7, 8]], { dtype: 'float64' }));
    expect(x.grad!.toArray()).toEqual([1 + 3 + 5 + 7, 2 + 4 + 6 + 8]);
    expect(tg.gradcheck((t) => t.repeat(2, 1, 3), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((t) => t.T.repeat(1, 2), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((t) => t.repeat(3), [leaf([])])).toBe(true);
    expect(tg.gradcheck((t) => t.repeat(0, 1), [leaf([2])])).toBe(true);
    expect(tg.gradgradcheck((t) => t.repeat(2, 2).square(), [leaf([2, 3])])).toBe(true);
  });

  it('rejects fewer sizes than dims, negative and non-integer sizes, and overflow', () => {
    const x = tg.zeros([2, 3]);
    expectError(() => x.repeat(2), RangeError,
      /^repeat: sizes must have at least as many entries as the tensor has dims \(2\) for a tensor of shape \[2, 3\], got \[2\]$/);
    expectError(() => x.repeat(-1, 2), RangeError, /^repeat: sizes must hold non-negative integers, got -1 at index 0$/);
    expectError(() => x.repeat(2, 1.5), RangeError, /^repeat: sizes must hold non-negative integers, got 1\.5 at index 1$/);
    expectError(() => x.repeat(2, '1' as unknown as number), TypeError, /^repeat: sizes must hold non-negative integers, got '1' at index 1$/);
    // An empty result too: the size of each dim must be representable.
    expectError(() => tg.zeros([100, 0]).repeat(2 ** 53 - 1, 1), RangeError,
      /^repeat: dim 0 of size 100 repeated 9007199254740991 times has too many elements$/);
    expectError(() => x.repeat(2 ** 30, 2 ** 30), RangeError, /^repeat: shape \[2147483648, 3221225472\] has too many elements$/);
  });
});
