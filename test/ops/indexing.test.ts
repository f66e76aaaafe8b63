import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, tg } from '../helpers.js';
import type { Tensor } from '../helpers.js';

const int = (values: number[] | number[][] | number) => tg.tensor(values, { dtype: 'int32' });
const m23 = () => tg.tensor([[1, 2, 3], [4, 5, 6]]);

describe('indexSelect', () => {
  // Rows split across threads; whole rows copied where the index is one value
  // along the row; a strided input; against JavaScript, element for element.
  it('large inputs on 1, 2 and 3 threads, along either dim and from a transposed view', () => {
    const before = tg.getNumThreads();
    try {
      const rows = 700, cols = 300;
      const data = Array.from({ length: rows * cols }, (_, i) => Math.fround(Math.sin(i)));
      const x = tg.tensor(data, { shape: [rows, cols] }), xt = tg.tensor(data, { shape: [cols, rows] }).transpose(0, 1);
      const pick = Array.from({ length: 900 }, (_, i) => (i * 7919) % rows), pickCols = pick.map((v) => v % cols);
      const at = (r: number, c: number) => data[r * cols + c]!, atT = (r: number, c: number) => data[c * rows + r]!;
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        const byRow = Array.from(x.indexSelect(0, int(pick)).data());
        expect(byRow.every((v, i) => v === at(pick[Math.floor(i / cols)]!, i % cols)), `rows, ${threads} threads`).toBe(true);
        const byCol = Array.from(x.indexSelect(1, int(pickCols)).data());
        expect(byCol.every((v, i) => v === at(Math.floor(i / 900), pickCols[i % 900]!)), `cols, ${threads} threads`).toBe(true);
        const fromView = Array.from(xt.indexSelect(0, int(pick)).data());
        expect(fromView.every((v, i) => v === atT(pick[Math.floor(i / cols)]!, i % cols)), `view, ${threads} threads`).toBe(true);
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('picks entries along a dim, repeats allowed', () => {
    const x = m23();
    expect(x.indexSelect(1, int([2, 0, 2])).toArray()).toEqual([[3, 1, 3], [6, 4, 6]]);
    expect(x.indexSelect(0, int([1])).toArray()).toEqual([[4, 5, 6]]);
    expect(x.indexSelect(-1, int([1])).toArray()).toEqual([[2], [5]]);
    expect(x.indexSelect(0, int(1)).shape).toEqual([1, 3]); // 0-d index, as PyTorch
    expect(x.indexSelect(1, tg.zeros([0], { dtype: 'int32' })).shape).toEqual([2, 0]);
    expect(tg.tensor(5).indexSelect(0, int([0])).shape).toEqual([]);
    expect(tg.arange(6).reshape(2, 3).indexSelect(1, int([1])).toArray()).toEqual([[1], [4]]);
    expect(tg.zeros([0, 3]).indexSelect(1, int([2, 2])).shape).toEqual([0, 2]);
  });

  it('reads non-contiguous inputs and indices through their strides', () => {
    const x = m23().T; // [[1, 4], [2, 5], [3, 6]]
    // The 9s sit between the view's elements and are never read or checked.
    const idx = int([2, 9, 0, 9, 2]).slice(0, 0, null, 2);
    expect(x.indexSelect(0, idx).toArray()).toEqual([[3, 6], [1, 4], [3, 6]]);
    expect(x.indexSelect(1, int([1]).expand(3)).toArray()).toEqual([[4, 4, 4], [5, 5, 5], [6, 6, 6]]);
  });

  it('validates every index before reading', () => {
    const x = m23();
    expectError(() => x.indexSelect(1, int([0, 3])), RangeError, /^indexSelect: index 3 is out of range for dim 1 of size 3$/);
    expectError(() => x.indexSelect(-2, int([-1])), RangeError, /^indexSelect: index -1 is out of range for dim 0 of size 2$/);
    expectError(() => x.indexSelect(0, int([2147483647])), RangeError, /index 2147483647 is out of range/);
    expectError(() => x.indexSelect(0, int([-2147483648])), RangeError, /index -2147483648 is out of range/);
    expectError(() => tg.zeros([0]).indexSelect(0, int([0])), RangeError, /^indexSelect: index 0 is out of range for dim 0 of size 0$/);
    expectError(() => x.indexSelect(0, tg.tensor([0])), TypeError, /^indexSelect: index must be an int32 tensor, got float32$/);
    expectError(() => x.indexSelect(0, tg.tensor([0], { dtype: 'float64' })), TypeError, /got float64/);
    expectError(() => x.indexSelect(0, int([[0]])), RangeError, /^indexSelect: index must be a 0-d or 1-D tensor, got shape \[1, 1\]/);
    expectError(() => x.indexSelect(2, int([0])), RangeError, /^indexSelect: dim must be in \[-2, 1\]/);
    expectError(() => tg.tensor(1).indexSelect(0, int([0, 0])), RangeError, /^indexSelect: a 0-d input takes exactly one index, got 2/);
    expectError(() => x.indexSelect(0, [0] as unknown as Tensor), TypeError, /^indexSelect: index must be a Tensor, got an array/);
  });

  it('backward adds the gradient at each index (repeats accumulate)', () => {
    const x = tg.zeros([3], { requiresGrad: true });
    const y = x.indexSelect(0, int([2, 0, 2]));
    expect(y.gradFn).toBe('indexSelect');
    y.mul(tg.tensor([1, 2, 3])).sum().backward();
    expect(x.grad!.toArray()).toEqual([2, 0, 4]);
    // Rows along dim 0, repeated: whole rows added, in index order.
    const m = tg.zeros([3, 2], { requiresGrad: true });
    m.indexSelect(0, int([2, 0, 2])).backward(tg.tensor([[0.1, 1], [2, 3], [0.2, 5]]));
    expect(m.grad!.toArray()).toEqual([[2, 3], [0, 0], [Math.fround(Math.fround(0.1) + Math.fround(0.2)), 6]]);
  });

  it('gradcheck and gradgradcheck', () => {
    const idx = int([0, 2, 0, 1]);
    expect(tg.gradcheck((x) => x.indexSelect(1, idx), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.T.indexSelect(-1, int([1, 1])), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.indexSelect(0, int([0])).mul(x), [leaf([1, 2])])).toBe(true);
    expect(tg.gradcheck((x) => x.indexSelect(0, int([0])), [leaf([])])).toBe(true);
    expect(tg.gradcheck((x) => x.indexSelect(1, tg.zeros([0], { dtype: 'int32' })).sum().add(x), [leaf([2, 2])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.indexSelect(0, idx.slice(0, 0, 3)).mul(x.indexSelect(0, int([1, 1, 0]))), [leaf([3, 2])])).toBe(true);
  });

  it('a saved index written in place makes backward fail instead of giving a wrong gradient', () => {
    const x = tg.zeros([3], { requiresGrad: true });
    const idx = int([0, 1]);
    const y = x.indexSelect(0, idx).sum();
    idx.fill(2);
    expectError(() => y.backward(), tg.TapegradError, /modified by an in-place operation/);
  });
});

describe('gather', () => {
  it('reads input[i][index[i][j]] along dim 1 and input[index[i][j]][j] along dim 0', () => {
    const x = tg.tensor([[1, 2], [3, 4]]);
    expect(x.gather(1, int([[0, 0], [1, 0]])).toArray()).toEqual([[1, 1], [4, 3]]);
    expect(x.gather(-1, int([[1], [0]])).toArray()).toEqual([[2], [3]]);
    expect(x.gather(0, int([[1, 0]])).toArray()).toEqual([[3, 2]]);
    expect(x.gather(0, int([[1, 1], [0, 0], [1, 0]])).toArray()).toEqual([[3, 4], [1, 2], [3, 2]]);
    const wide = tg.arange(12).reshape(3, 4);
    expect(wide.gather(1, int([[3], [0]])).toArray()).toEqual([[3], [4]]); // index smaller in dim 0
    expect(wide.T.gather(0, int([[2, 1, 0]])).toArray()).toEqual([[2, 5, 8]]);
    expect(tg.tensor(5).gather(0, int(0)).item()).toBe(5);
    expect(x.gather(1, tg.zeros([2, 0], { dtype: 'int32' })).shape).toEqual([2, 0]);
  });

  it('validates every index before reading', () => {
    const x = tg.tensor([[1, 2], [3, 4]]);
    expectError(() => x.gather(1, int([[0, 2]])), RangeError, /^gather: index 2 is out of range for dim 1 of size 2$/);
    expectError(() => x.gather(0, int([[0, -1]])), RangeError, /^gather: index -1 is out of range for dim 0 of size 2$/);
    expectError(() => x.gather(1, tg.tensor([[0]])), TypeError, /^gather: index must be an int32 tensor, got float32$/);
    expectError(() => x.gather(1, int([0])), RangeError, /^gather: index must have as many dims as the input \(2\), got shape \[1\]/);
    expectError(() => x.gather(1, int([[0], [0], [0]])), RangeError,
      /^gather: index of shape \[3, 1\] is larger than the input of shape \[2, 2\] in dim 0 \(only dim 1 may be larger\)/);
    expectError(() => x.gather(2, int([[0]])), RangeError, /^gather: dim must be in \[-2, 1\]/);
    // Long rows (each tested whole first) and a transposed index: the first
    // bad value in the index's own order is named.
    const wide = tg.zeros([3, 1000]);
    const good = Array.from({ length: 3000 }, (_, i) => i % 1000);
    expect(wide.gather(1, int(good).reshape([3, 1000])).shape).toEqual([3, 1000]);
    const bad = good.map((v, i) => (i === 1500 ? 1000 : i === 2500 ? -7 : v));
    expectError(() => wide.gather(1, int(bad).reshape([3, 1000])), RangeError, /^gather: index 1000 is out of range for dim 1 of size 1000$/);
    // Transposed to [1000, 3]: element (500, 2) (storage 2500) comes before (999, 1) (storage 1999).
    const badT = good.map((v, i) => (i === 2500 ? -7 : i === 1999 ? 1000 : v % 3));
    expectError(() => tg.zeros([1000, 3]).gather(1, int(badT).reshape([3, 1000]).T), RangeError, /^gather: index -7 is out of range for dim 1 of size 3$/);
  });

  it('backward scatters the gradient back, adding at repeated indices', () => {
    const x = tg.zeros([2, 3], { requiresGrad: true });
    x.gather(1, int([[2, 2], [0, 1]])).mul(tg.tensor([[1, 2], [3, 4]])).sum().backward();
    expect(x.grad!.toArray()).toEqual([[0, 0, 3], [3, 4, 0]]);
  });

  it('gradcheck and gradgradcheck', () => {
    const idx = int([[0, 2, 2], [1, 0, 0]]);
    expect(tg.gradcheck((x) => x.gather(1, idx), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.T.gather(0, int([[1, 0], [1, 1]])), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.gather(0, int([[0], [0], [0]])).mul(x.slice(1, 0, 1).gather(0, int([[1], [0], [1]]))), [leaf([2, 2])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.gather(-1, idx).mul(x), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.gather(1, tg.zeros([2, 0], { dtype: 'int32' })), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((x) => x.gather(0, int([[0, 0]])), [leaf([1, 2])])).toBe(true);
  });
});

describe('scatterAdd', () => {
  it('adds src at the indexed places, out of place', () => {
    const self = tg.ones([2, 2]);
    const src = tg.tensor([[10, 20], [30, 40]]);
    const out = self.scatterAdd(1, int([[0, 0], [1, 0]]), src);
    expect(out.toArray()).toEqual([[31, 1], [41, 31]]);
    expect(self.toArray()).toEqual([[1, 1], [1, 1]]);
    // Index smaller than src: only the covered src elements are added.
    const z = tg.zeros([3, 2]).scatterAdd(0, int([[2, 0]]), src);
    expect(z.toArray()).toEqual([[0, 20], [0, 0], [10, 0]]);
    expect(tg.zeros([3]).scatterAdd(-1, int([1, 1, 1]), tg.tensor([1, 2, 3])).toArray()).toEqual([0, 6, 0]);
    const i = tg.arange(3).scatterAdd(0, int([0, 0]), int([5, 6]));
    expect(i.dtype).toBe('int32');
    expect(i.toArray()).toEqual([11, 1, 2]);
    // int32 sums wrap as in PyTorch, without undefined behaviour.
    expect(int([2147483647]).scatterAdd(0, int([0]), int([1])).toArray()).toEqual([-2147483648]);
    expect(tg.tensor(1).scatterAdd(0, int(0), tg.tensor(2)).item()).toBe(3);
    // An index constant along rows (expanded) adds whole rows at once: same sums, wrapping too.
    const rows = int([[1], [1], [0]]).expand([3, 3]);
    const summed = tg.zeros([2, 3], { dtype: 'int32' }).scatterAdd(0, rows, int([[2147483647, 1, 2], [1, 10, 20], [7, 8, 9]]));
    expect(summed.toArray()).toEqual([[7, 8, 9], [-2147483648, 11, 22]]);
  });

  it('large sums split across threads add each element in index order: bit for bit on 1, 2 and 3 threads', () => {
    // float64 with spikes, where the order of the additions shows, and
    // indices that repeat: the walk splits along a dim other than the
    // scatter dim (rows for dim 1, columns of wide rows for dim 0, the
    // batch dim of a 3-D walk), each output element summed in the order of
    // its src elements along the scatter dim, as the row-major reference.
    const before = tg.getNumThreads();
    try {
      const cases: [number[], number[], number][] = [
        [[300, 200], [300, 400], 1],
        [[50, 2100], [90, 2100], 0],
        [[8, 20, 600], [8, 30, 600], 1],
        [[300, 4, 100], [300, 4, 150], 2],
        [[4096, 64], [4096, 64], 0],  // rows too short to split: one thread
      ];
      for (const [shape, srcShape, dim] of cases) {
        const n = srcShape.reduce((a, b) => a * b, 1);
        const srcValues = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + (i % 11 === 0 ? 1e15 : 0));
        const indexValues = Array.from({ length: n }, (_, i) => ((i * 2654435761) >>> 7) % shape[dim]!);
        const src = tg.tensor(srcValues, { shape: srcShape, dtype: 'float64' });
        const index = tg.tensor(indexValues, { shape: srcShape, dtype: 'int32' });
        const self = tg.zeros(shape, { dtype: 'float64' });
        const want = new Float64Array(self.size);
        const outStrides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
        for (let i = 0; i < n; i++) {
          let rest = i, at = 0;
          for (let d = srcShape.length - 1; d >= 0; d--) {
            const coord = rest % srcShape[d]!;
            rest = Math.floor(rest / srcShape[d]!);
            at += (d === dim ? indexValues[i]! : coord) * outStrides[d]!;
          }
          want[at] += srcValues[i]!;
        }
        for (const threads of [1, 2, 3]) {
          tg.setNumThreads(threads);
          const got = self.scatterAdd(dim, index, src).data();
          expect(Array.from(got), `${shape} from ${srcShape} along ${dim}, ${threads} threads`).toEqual(Array.from(want));
        }
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('the gradients of indexSelect and gather split the same way: bit for bit on 1 and 2 threads', () => {
    const before = tg.getNumThreads();
    try {
      const rows = 40, cols = 3000;
      const spiky = (n: number, phase: number) =>
        tg.tensor(Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase) + (i % 7 === 0 ? 1e15 : 0)), { dtype: 'float64' });
      const picks = int(Array.from({ length: 60 }, (_, i) => (i * 17) % rows));
      const seed = spiky(60 * cols, 1).reshape([60, cols]);
      const x = spiky(rows * cols, 2).reshape([rows, cols]).setRequiresGrad(true);
      const gatherIndex = int(Array.from({ length: rows * 2000 }, (_, i) => (i * 2654435761 >>> 9) % cols)).reshape([rows, 2000]);
      const run = (threads: number) => {
        tg.setNumThreads(threads);
        // indexSelect's gradient adds whole rows (its index is one value along each row).
        const [viaSelect] = tg.grad([x.indexSelect(0, picks)], [x], { gradOutputs: [seed] });
        const [viaGather] = tg.grad([x.gather(1, gatherIndex)], [x], { gradOutputs: [spiky(rows * 2000, 3).reshape([rows, 2000])] });
        return [viaSelect!, viaGather!].map((t) => Array.from(t.data()));
      };
      const one = run(1);
      expect(run(2)).toEqual(one);
      // Against a row-major reference: each element's adds in pick order.
      const want = new Float64Array(rows * cols), src = seed.data();
      picks.data().forEach((r, k) => {
        for (let j = 0; j < cols; j++) want[r * cols + j] += src[k * cols + j]!;
      });
      expect(one[0]).toEqual(Array.from(want));
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('validates every index and shape before writing', () => {
    const self = tg.zeros([3, 2]);
    const src = tg.ones([2, 2]);
    expectError(() => self.scatterAdd(0, int([[0, 3]]), src), RangeError, /^scatterAdd: index 3 is out of range for dim 0 of size 3$/);
    expectError(() => self.scatterAdd(1, int([[-1]]), src), RangeError, /^scatterAdd: index -1 is out of range for dim 1 of size 2$/);
    expectError(() => self.scatterAdd(0, tg.tensor([[0]]), src), TypeError, /^scatterAdd: index must be an int32 tensor, got float32$/);
    expectError(() => self.scatterAdd(0, int([[0]]), src.to('float64')), TypeError, /^scatterAdd: src must have the input's dtype \(float32\), got float64$/);
    expectError(() => self.scatterAdd(0, int([0]), src), RangeError, /^scatterAdd: input, index and src must have the same number of dims, got shapes \[3, 2\], \[1\] and \[2, 2\]/);
    expectError(() => self.scatterAdd(0, int([[0], [0], [0]]), src), RangeError, /^scatterAdd: index of shape \[3, 1\] is larger than src of shape \[2, 2\] in dim 0/);
    expectError(() => tg.zeros([1, 2]).scatterAdd(1, int([[0], [0]]), src), RangeError,
      /^scatterAdd: index of shape \[2, 1\] is larger than the input of shape \[1, 2\] in dim 0 \(only dim 1 may be larger\)/);
    expectError(() => self.scatterAdd(0, int([[0]]), 'x' as unknown as Tensor), TypeError, /^scatterAdd: src must be a Tensor, got 'x'/);
  });

  it('backward: identity for the input, a gather for src (zero where no index points)', () => {
    const self = tg.zeros([3], { requiresGrad: true });
    const src = tg.zeros([4], { requiresGrad: true });
    const out = self.scatterAdd(0, int([2, 2, 0]), src);
    expect(out.gradFn).toBe('scatterAdd');
    out.mul(tg.tensor([5, 6, 7])).sum().backward();
    expect(self.grad!.toArray()).toEqual([5, 6, 7]);
    expect(src.grad!.toArray()).toEqual([7, 7, 5, 0]);
  });

  it('gradcheck and gradgradcheck, in self and src, the same tensor as both', () => {
    const idx = int([[0, 1, 1], [0, 0, 1]]);
    expect(tg.gradcheck((s, x) => s.scatterAdd(0, idx, x), [leaf([2, 3]), leaf([2, 3], 2)])).toBe(true);
    expect(tg.gradcheck((s, x) => s.scatterAdd(1, int([[2], [0]]), x), [leaf([2, 3]), leaf([3, 2], 3)])).toBe(true);
    expect(tg.gradcheck((x) => x.scatterAdd(0, idx, x.mul(x)), [leaf([2, 3])])).toBe(true);
    expect(tg.gradcheck((s, x) => s.T.scatterAdd(-1, int([[1], [1], [0]]), x.T), [leaf([2, 3]), leaf([2, 3], 4)])).toBe(true);
    expect(tg.gradgradcheck((s, x) => s.scatterAdd(0, idx, x.mul(s)), [leaf([2, 3]), leaf([2, 3], 5)])).toBe(true);
  });
});

describe('float32 and float64 agree', () => {
  it('through indexing ops and their gradients', () => {
    const run = (dtype: 'float32' | 'float64') => {
      const x = tg.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], { dtype, requiresGrad: true });
      const y = x.indexSelect(1, int([2, 0])).gather(0, int([[1, 0]])).scatterAdd(1, int([[1, 1]]), x.slice(1, 0, 2).slice(0, 0, 1));
      const loss = y.mul(y).sum();
      loss.backward();
      return [loss.item(), x.grad!.toArray()] as const;
    };
    const [v32, g32] = run('float32');
    const [v64, g64] = run('float64');
    expectClose(v32, v64, 1e-6);
    expectClose(g32, g64, 1e-6);
    // By hand: indexSelect -> [[x02, x00], [x12, x10]]; gather(0, [[1, 0]]) -> [[x12, x00]];
    // scatterAdd adds x00 + x01 at column 1 -> y = [[x12, 2 x00 + x01]] = [[0.6, 0.4]].
    expectClose(v64, 0.36 + 0.16, 1e-12);
    expectClose(g64, [[1.6, 0.8, 0], [0, 0, 1.2]], 1e-12);
  });
});
