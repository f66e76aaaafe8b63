import { describe, expect, it } from 'vitest';
import { leaf, tg } from '../helpers.js';

const F = tg.nn.functional;
// Values from PyTorch 1.13's F.pad on the same programs; the gradient is of
// (y * arange(y.numel()).reshape(y.shape)).sum().
const weighted = (y: tg.Tensor) => y.mul(tg.arange(0, y.size, 1, { dtype: 'float32' }).reshape(y.shape)).sum();

describe('pad', () => {
  it('every mode, values and gradients as PyTorch', () => {
    const want: Record<string, [number[][][], number[][]]> = {
      constant: [[[-1.5, -1.5, -1.5, -1.5, -1.5, -1.5], [-1.5, -1.5, 1, 2, 3, -1.5], [-1.5, -1.5, 4, 5, 6, -1.5], [-1.5, -1.5, -1.5, -1.5, -1.5, -1.5]],
        [[8, 9, 10], [14, 15, 16]]],
      reflect: [[[6, 5, 4, 5, 6, 5], [3, 2, 1, 2, 3, 2], [6, 5, 4, 5, 6, 5], [3, 2, 1, 2, 3, 2]], [[28, 90, 56], [16, 54, 32]]],
      replicate: [[[1, 1, 1, 2, 3, 3], [1, 1, 1, 2, 3, 3], [4, 4, 4, 5, 6, 6], [4, 4, 4, 5, 6, 6]], [[24, 12, 30], [96, 36, 78]]],
      circular: [[[5, 6, 4, 5, 6, 4], [2, 3, 1, 2, 3, 1], [5, 6, 4, 5, 6, 4], [2, 3, 1, 2, 3, 1]], [[62, 54, 58], [38, 30, 34]]],
    };
    for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) {
      const x = tg.tensor([[[1, 2, 3], [4, 5, 6]]], { requiresGrad: true });
      const y = F.pad(x, [2, 1, 1, 1], mode === 'constant' ? { value: -1.5 } : { mode });
      weighted(y).backward();
      expect([y.toArray(), x.grad!.toArray()], mode).toEqual([[want[mode]![0]], [want[mode]![1]]]);
    }
    // Negative widths cut; the int32 dtype is kept.
    expect(F.pad(tg.tensor([[[1, 2, 3], [4, 5, 6]]]), [-1, 2, 0, -1]).toArray()).toEqual([[[2, 3, 0, 0]]]);
    const ints = F.pad(tg.tensor([1, 2], { dtype: 'int32' }), [1, 0], { value: 7 });
    expect([ints.dtype, ints.toArray()]).toEqual(['int32', [7, 1, 2]]);
    expect(F.pad(tg.zeros([2, 0]), [1, 1]).toArray()).toEqual([[0, 0], [0, 0]]);
  });

  it('gradcheck and gradgradcheck in float64, every mode', () => {
    for (const [mode, widths] of [['constant', [1, -1, 2, 0]], ['reflect', [2, 1, 1, 0]], ['replicate', [3, 0, 0, 2]], ['circular', [1, 3, 2, 1]]] as const) {
      const f = (x: tg.Tensor) => F.pad(x, widths, { mode }).mul(F.pad(x, widths, { mode }));
      expect(tg.gradcheck(f, [leaf([2, 3, 4], 9)]), mode).toBe(true);
      expect(tg.gradgradcheck(f, [leaf([2, 3, 4], 10)]), mode).toBe(true);
    }
  });

  it('refuses bad arguments with the op, the argument and what came', () => {
    const x = tg.zeros([2, 3]);
    expect(() => F.pad(x, [1])).toThrow(new RangeError('pad: pad must have an even length (before and after for each dim from the last), got length 1'));
    expect(() => F.pad(x, [1, 1, 1, 1, 1, 1])).toThrow(new RangeError('pad: pad of length 6 pads 3 dims, but the input has shape [2, 3]'));
    expect(() => F.pad(x, [-2, -2])).toThrow(new RangeError('pad: padding (-2, -2) of dim 1 (size 3) leaves a negative size -1'));
    // Cuts past the input into the padding are refused, as PyTorch; a cut of exactly the whole dim is not.
    expect(() => F.pad(tg.tensor([[1], [2]]), [3, -2])).toThrow(new RangeError('pad: padding (3, -2) of dim 1 (size 1) cuts 2 elements from it'));
    expect(() => F.pad(tg.tensor([5]), [-3, 3])).toThrow(new RangeError('pad: padding (-3, 3) of dim 0 (size 1) cuts 3 elements from it'));
    expect(F.pad(tg.tensor([5]), [-1, 3]).toArray()).toEqual([0, 0, 0]);
    expect(() => F.pad(x, [1.5, 0])).toThrow(new RangeError('pad: pad must hold integers, got 1.5 at index 0'));
    expect(() => F.pad(x, 2 as never)).toThrow(new TypeError('pad: pad must be an array of integers (before and after for each dim from the last), got 2'));
    expect(() => F.pad(x, [3, 0], { mode: 'reflect' })).toThrow(new RangeError('pad: reflect padding must be less than the size, got (3, 0) of dim 1 (size 3)'));
    expect(() => F.pad(x, [4, 0], { mode: 'circular' })).toThrow(new RangeError('pad: circular padding must be at most the size, got (4, 0) of dim 1 (size 3)'));
    expect(() => F.pad(x, [-1, 0], { mode: 'replicate' })).toThrow(new RangeError("pad: mode 'replicate' takes non-negative padding, got (-1, 0) of dim 1 (size 3)"));
    expect(() => F.pad(x, [1, 0], { mode: 'reflect', value: 1 })).toThrow(new TypeError("pad: value is only for mode 'constant', got mode 'reflect'"));
    expect(() => F.pad(x, [1, 0], { mode: 'wrap' as never })).toThrow(/^pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'wrap'$/);
    // int32: a fractional value truncates, as PyTorch's; one out of range is refused.
    expect(F.pad(tg.tensor([1, 2], { dtype: 'int32' }), [1, 0], { value: -1.7 }).toArray()).toEqual([-1, 1, 2]);
    expect(() => F.pad(tg.zeros([2], { dtype: 'int32' }), [1, 0], { value: 1e10 })).toThrow(new RangeError('pad: value 10000000000 does not fit in int32'));
    expect(() => F.pad(x, [2 ** 40, 0], { mode: 'replicate' })).toThrow(
      new RangeError("pad: mode 'replicate' pads dim 1 to 1099511627779 elements; at most 2147483647 are supported"));
    // Memory running out in the gather names pad and its step.
    expect(() => F.pad(tg.zeros([1, 1, 1, 1]).expand([2 ** 12, 1, 2 ** 14, 2 ** 14]), [1, 1, 1, 1], { mode: 'replicate' })).toThrow(
      new RangeError('pad: cannot allocate 4398583382016 bytes (out of memory), in its indexSelect'));
    expect(() => F.pad(tg.zeros([1, 1]).expand([2 ** 31 - 1, 2 ** 28]), [3, 3], { mode: 'replicate' })).toThrow(
      new RangeError('pad: shape [2147483647, 268435462] has too many elements, in its indexSelect'));
    const gone = tg.zeros([3]);
    gone.dispose();
    expect(() => F.pad(gone, [1, 0], { mode: 'replicate' })).toThrow(/^pad: input is a disposed tensor$/);
    expect(() => F.pad(gone, [1, 0])).toThrow(/^pad: input is a disposed tensor$/);
  });
});
