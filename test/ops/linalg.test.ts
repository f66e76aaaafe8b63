import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, leaf, runCaseScript, runnableIsas, tg, type Tensor } from '../helpers.js';

const batchCases = path.join(__dirname, 'matmul-batch-cases.cjs');

// A float64 tensor (no grad) with deterministic values.
function values(shape: number[], seed: number): Tensor {
  return leaf(shape, seed).detach();
}

// Reference matmul on flat arrays with PyTorch's rank rules, written
// independently of the native code: promote vectors, broadcast batch dims,
// then triple loops.
function reference(a: Tensor, b: Tensor): { shape: number[]; data: number[] } {
  const as = [...a.shape];
  const bs = [...b.shape];
  const a2 = as.length === 1 ? [1, as[0]!] : as;
  const b2 = bs.length === 1 ? [bs[0]!, 1] : bs;
  const ba = a2.slice(0, -2), bb = b2.slice(0, -2);
  const nb = Math.max(ba.length, bb.length);
  const pad = (s: number[]) => [...Array(nb - s.length).fill(1), ...s];
  const pa = pad(ba), pb = pad(bb);
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const [n, k] = a2.slice(-2) as [number, number];
  const m = b2[b2.length - 1]!;
  const av = Array.from(a.contiguous().data()), bv = Array.from(b.contiguous().data());
  const count = batch.reduce((x, y) => x * y, 1);
  const out: number[] = [];
  for (let t = 0; t < count; t++) {
    // batch index -> offsets in a and b (size-1 dims broadcast)
    let rest = t, oa = 0, ob = 0, sa = n * k, sb = k * m;
    for (let d = nb - 1; d >= 0; d--) {
      const i = rest % batch[d]!;
      rest = Math.floor(rest / batch[d]!);
      if (pa[d]! > 1) oa += i * sa;
      if (pb[d]! > 1) ob += i * sb;
      sa *= pa[d]!;
      sb *= pb[d]!;
    }
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += av[oa + i * k + p]! * bv[ob + p * m + j]!;
        out.push(s);
      }
  }
  const shape = [...batch, ...(as.length > 1 ? [n] : []), ...(bs.length > 1 ? [m] : [])];
  return { shape, data: out };
}

function expectMatches(a: Tensor, b: Tensor, tol = 1e-12): void {
  const r = reference(a, b);
  const out = a.matmul(b);
  expect(out.shape).toEqual(r.shape);
  expectClose(Array.from(out.data()), r.data, tol);
}

describe('matmul values', () => {
  it('multiplies a 2x3 by a 3x2 matrix (hand-computed)', () => {
    const a = tg.tensor([[1, 2, 3], [4, 5, 6]]);
    const b = tg.tensor([[7, 8], [9, 10], [11, 12]]);
    expect(a.matmul(b).toArray()).toEqual([[58, 64], [139, 154]]);
    expect(tg.matmul(a, b).toArray()).toEqual([[58, 64], [139, 154]]);
    expect(a.matmul(b).dtype).toBe('float32');
  });

  it('follows the rank rules of PyTorch', () => {
    const v = tg.tensor([1, 2, 3]);
    const w = tg.tensor([4, 5, 6]);
    const out = v.matmul(w);
    expect(out.shape).toEqual([]);
    expect(out.item()).toBe(32);
    const m = tg.tensor([[1, 0, 2], [0, 1, 0]]); // 2x3
    expect(m.matmul(v).toArray()).toEqual([7, 2]); // [2,3]·[3] -> [2]
    expect(tg.tensor([1, 2]).matmul(m).toArray()).toEqual([1, 2, 2]); // [2]·[2,3] -> [3]
    const shapes: [number[], number[], number[]][] = [
      [[3], [3], []],
      [[3], [3, 4], [4]],
      [[2, 3], [3], [2]],
      [[2, 3], [3, 4], [2, 4]],
      [[5, 2, 3], [3], [5, 2]],
      [[3], [5, 3, 4], [5, 4]],
      [[5, 2, 3], [3, 4], [5, 2, 4]],
      [[2, 3], [5, 3, 4], [5, 2, 4]],
      [[5, 2, 3], [5, 3, 4], [5, 2, 4]],
      [[2, 1, 2, 3], [4, 3, 5], [2, 4, 2, 5]],
      [[1, 2, 3], [6, 3, 1], [6, 2, 1]],
    ];
    shapes.forEach(([sa, sb, so], i) => {
      const a = values(sa, i + 1), b = values(sb, i + 50);
      expect(a.matmul(b).shape, `${sa} x ${sb}`).toEqual(so);
      expectMatches(a, b);
    });
  });

  it('reads transposed and sliced operands in place', () => {
    const a = values([4, 3], 2), b = values([5, 4], 3);
    expectMatches(a.transpose(0, 1), b.transpose(0, 1));
    // Batched with a batch dim that is not mergeable into rows: [3,2,4] viewed from [2,3,4].
    const c = values([2, 3, 4], 4).transpose(0, 1);
    expect(c.isContiguous()).toBe(false);
    expectMatches(c, values([4, 5], 5));
    expectMatches(c, values([3, 4, 2], 6));
    // A vector taken with a stride (a column of a matrix).
    const col = values([4, 3], 7).transpose(0, 1).reshape(12).reshape(3, 4).transpose(0, 1);
    expectMatches(values([2, 4], 8), col);
    const permuted = values([4, 2, 3], 9).permute(2, 0, 1); // [3,4,2]
    expectMatches(permuted, values([2, 6], 10));
    expectMatches(permuted.transpose(1, 2), permuted);
  });

  it('handles size-0 dims', () => {
    const z = tg.zeros([2, 0]).matmul(tg.zeros([0, 3]));
    expect(z.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(tg.ones([0, 3]).matmul(tg.ones([3, 2])).shape).toEqual([0, 2]);
    expect(tg.ones([2, 3, 0]).matmul(tg.ones([0, 4])).toArray()).toEqual([
      [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
      [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ]);
    expect(tg.ones([0, 2, 3]).matmul(tg.ones([3, 4])).shape).toEqual([0, 2, 4]);
    expect(tg.ones([0]).matmul(tg.ones([0])).item()).toBe(0);
    const a = leaf([2, 0]), b = leaf([0, 3]);
    a.matmul(b).sum().backward();
    expect(a.grad!.shape).toEqual([2, 0]);
    expect(b.grad!.shape).toEqual([0, 3]);
  });

  it('multiplies int32 matrices with wrapping arithmetic', () => {
    const a = tg.tensor([[1, 2], [3, 4]], { dtype: 'int32' });
    const out = a.matmul(a);
    expect(out.dtype).toBe('int32');
    expect(out.toArray()).toEqual([[7, 10], [15, 22]]);
    const big = tg.tensor([65536, 65536], { dtype: 'int32' });
    expect(big.dot(big).item()).toBe(0); // 2 * 2^32 wraps to 0
    expect(tg.tensor([[2147483647]], { dtype: 'int32' }).matmul(tg.tensor([[2]], { dtype: 'int32' })).item()).toBe(-2);
  });

  it('float32 and float64 agree', () => {
    const a = values([3, 17, 33], 11), b = values([33, 9], 12);
    const b3 = values([3, 33, 9], 13);
    for (const [x, y] of [[a, b], [a, b3], [a.transpose(1, 2).contiguous().transpose(1, 2), b3]] as const) {
      const f64 = Array.from(x.matmul(y).data());
      const f32 = Array.from(x.to('float32').matmul(y.to('float32')).data());
      expectClose(f32, f64, 1e-5);
    }
  });

  it('matches the reference on a larger product (packed GEMM path)', () => {
    tg.manualSeed(3);
    const a = tg.randn([70, 130], { dtype: 'float64' }), b = tg.randn([130, 90], { dtype: 'float64' });
    expectMatches(a, b, 1e-10);
    expectMatches(b.transpose(0, 1), a.transpose(0, 1), 1e-10);
  });
});

describe('batched matmul with a shared operand', () => {
  // W·X and X·W over a batch, with W broadcast over all or some of the batch
  // dims, run on the kernel's batched GEMM, one call per shared matrix (the
  // shared operand packed once per group): each element must be bitwise the
  // 2-D product of its operands, on every ISA path, with the packed path
  // forced or chosen by size, on 1, 2 and 3 threads.
  for (const isa of runnableIsas()) for (const gemmPath of ['auto', 'packed']) {
    it(`${isa}, ${gemmPath} path: bitwise equal to the per-element products`, () => {
      const r = runCaseScript(batchCases, { TAPEGRAD_ISA: isa, TAPEGRAD_GEMM_PATH: gemmPath });
      expect(r.isa).toBe(isa);
      expect(r.path).toBe(gemmPath);
      expect(r.cases).toBeGreaterThan(90);
      expect(r.failures).toEqual([]);
      expect(r.checked).toBeGreaterThan(2400);
    });
  }

  it('broadcast A and B against the reference (float64)', () => {
    tg.manualSeed(5);
    const w = tg.randn([40, 300], { dtype: 'float64' }), x = tg.randn([3, 300, 50], { dtype: 'float64' });
    expectMatches(w, x, 1e-10);
    expectMatches(x.transpose(1, 2), w.transpose(0, 1), 1e-10);
    expectMatches(tg.randn([2, 1, 30, 300], { dtype: 'float64' }), x, 1e-10);
    // Broadcast over some batch dims: W[h]·X[b, h], A[b, 1]·B[1, h], X[b, h]·W[b, 1].
    const xs = tg.randn([2, 3, 60, 30], { dtype: 'float64' });
    expectMatches(tg.randn([3, 20, 60], { dtype: 'float64' }), xs, 1e-10);
    const a21 = tg.randn([2, 1, 20, 60], { dtype: 'float64' }), b13 = tg.randn([1, 3, 60, 30], { dtype: 'float64' });
    expectMatches(a21, b13, 1e-10);
    expectMatches(xs.transpose(2, 3), tg.randn([2, 1, 60, 40], { dtype: 'float64' }), 1e-10);
  });
});

describe('matmul gradients', () => {
  const cases: [number[], number[]][] = [
    [[3], [3]],
    [[3], [3, 2]],
    [[2, 3], [3]],
    [[2, 3], [3, 4]],
    [[2, 2, 3], [3]],
    [[3], [2, 3, 2]],
    [[2, 2, 3], [3, 2]],
    [[2, 3], [2, 3, 2]],
    [[2, 2, 3], [2, 3, 2]],
    [[2, 1, 2, 3], [3, 3, 2]],
    [[1, 2, 3], [2, 3, 1]],
  ];
  it.each(cases)('gradcheck %j x %j', (sa, sb) => {
    const a = leaf(sa, 1), b = leaf(sb, 2);
    expect(tg.gradcheck((x, y) => x.matmul(y), [a, b])).toBe(true);
  });

  it('gradcheck with transposed inputs and one operand without grad', () => {
    const a = leaf([3, 2], 3), b = leaf([4, 3], 4);
    expect(tg.gradcheck((x, y) => x.transpose(0, 1).matmul(y.transpose(0, 1)), [a, b])).toBe(true);
    const c = leaf([2, 3, 4], 5);
    expect(tg.gradcheck((x, y) => x.transpose(0, 1).matmul(y), [c, leaf([4, 2], 6)])).toBe(true);
    expect(tg.gradcheck((x) => x.matmul(values([3, 2], 7)), [leaf([4, 3], 8)])).toBe(true);
    expect(tg.gradcheck((y) => values([4, 3], 9).matmul(y), [leaf([3, 2], 10)])).toBe(true);
  });

  it('gradcheck with the same tensor on both sides', () => {
    const a = leaf([3, 3], 11);
    expect(tg.gradcheck((x) => x.matmul(x), [a])).toBe(true);
    expect(tg.gradcheck((x) => x.matmul(x.transpose(0, 1)), [a])).toBe(true);
    const v = leaf([4], 12);
    expect(tg.gradcheck((x) => x.matmul(x), [v])).toBe(true);
  });

  it('gradients have the hand-computed values', () => {
    const a = tg.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const b = tg.tensor([[5, 6], [7, 8]], { requiresGrad: true });
    a.matmul(b).sum().backward();
    // dA = 1·Bᵀ (row sums of B), dB = Aᵀ·1 (column sums of A broadcast)
    expect(a.grad!.toArray()).toEqual([[11, 15], [11, 15]]);
    expect(b.grad!.toArray()).toEqual([[4, 4], [6, 6]]);
    expect(a.matmul(b).gradFn).toBe('matmul');
  });

  it.each([
    [[2, 3], [3, 2]],
    [[3], [3]],
    [[2, 2, 3], [3, 2]],
    [[2, 1, 2, 3], [3, 3, 2]],
    [[3], [2, 3, 2]],
  ])('gradgradcheck %j x %j', (sa, sb) => {
    expect(tg.gradgradcheck((x, y) => x.matmul(y), [leaf(sa, 13), leaf(sb, 14)])).toBe(true);
  });

  it('float32 gradients agree with float64', () => {
    const a64 = leaf([2, 4, 5], 15), b64 = leaf([5, 3], 16);
    const a32 = a64.detach().to('float32').setRequiresGrad(), b32 = b64.detach().to('float32').setRequiresGrad();
    a64.matmul(b64).mul(a64.matmul(b64)).sum().backward();
    a32.matmul(b32).mul(a32.matmul(b32)).sum().backward();
    expectClose(Array.from(a32.grad!.data()), Array.from(a64.grad!.data()), 1e-5);
    expectClose(Array.from(b32.grad!.data()), Array.from(b64.grad!.data()), 1e-5);
    expect(b32.grad!.dtype).toBe('float32');
  });
});

describe('dot, outer, linear', () => {
  it('dot and outer values', () => {
    expect(tg.tensor([1, 2, 3]).dot(tg.tensor([4, 5, 6])).item()).toBe(32);
    expect(tg.dot(tg.tensor([1, 2]), tg.tensor([3, 4])).item()).toBe(11);
    expect(tg.tensor([1, 2]).outer(tg.tensor([3, 4, 5])).toArray()).toEqual([[3, 4, 5], [6, 8, 10]]);
    expect(tg.outer(tg.tensor([1, 2], { dtype: 'int32' }), tg.tensor([3], { dtype: 'int32' })).toArray()).toEqual([[3], [6]]);
    expect(tg.tensor([1, 2]).dot(tg.tensor([3, 4])).gradFn).toBe(null);
  });

  it('dot and outer gradients', () => {
    expect(tg.gradcheck((x, y) => x.dot(y), [leaf([4], 1), leaf([4], 2)])).toBe(true);
    expect(tg.gradcheck((x, y) => x.outer(y), [leaf([3], 3), leaf([2], 4)])).toBe(true);
    expect(tg.gradgradcheck((x, y) => x.dot(y), [leaf([3], 5), leaf([3], 6)])).toBe(true);
    expect(tg.gradgradcheck((x, y) => x.outer(y), [leaf([3], 7), leaf([2], 8)])).toBe(true);
    const a = tg.tensor([1, 2, 3], { requiresGrad: true });
    a.dot(tg.tensor([4, 5, 6])).backward();
    expect(a.grad!.toArray()).toEqual([4, 5, 6]);
  });

  it('linear computes x·Wᵀ + b (hand-computed)', () => {
    const x = tg.tensor([[1, 2], [3, 4]]);
    const w = tg.tensor([[1, 0], [0, 1], [1, 1]]); // [out 3, in 2]
    const b = tg.tensor([10, 20, 30]);
    expect(tg.nn.functional.linear(x, w, b).toArray()).toEqual([[11, 22, 33], [13, 24, 37]]);
    expect(tg.nn.functional.linear(x, w).toArray()).toEqual([[1, 2, 3], [3, 4, 7]]);
    expect(tg.nn.functional.linear(tg.tensor([1, 2]), w, b).toArray()).toEqual([11, 22, 33]);
    expect(tg.nn.functional.linear(x, tg.tensor([1, 1])).toArray()).toEqual([3, 7]); // 1-D weight
    expect(tg.nn.functional.linear(x, w, tg.tensor(5)).toArray()).toEqual([[6, 7, 8], [8, 9, 12]]);
    const xi = tg.tensor([[1, 2]], { dtype: 'int32' });
    expect(tg.nn.functional.linear(xi, w.to('int32'), b.to('int32')).toArray()).toEqual([[11, 22, 33]]);
  });

  it('linear matches matmul + add for batched and strided inputs', () => {
    const x = values([2, 3, 4], 20), w = values([5, 4], 21), b = values([5], 22);
    const expected = Array.from(x.matmul(w.transpose(0, 1)).add(b).data());
    expectClose(Array.from(tg.nn.functional.linear(x, w, b).data()), expected, 1e-12);
    const xt = values([3, 2, 4], 23).transpose(0, 1);
    const wt = values([4, 5], 24).transpose(0, 1);
    const bb = values([3, 5], 25);
    expectClose(
      Array.from(tg.nn.functional.linear(xt, wt, bb).data()),
      Array.from(xt.matmul(wt.transpose(0, 1)).add(bb).data()),
      1e-12,
    );
    // Biases that broadcast but are not an [out_features] row: a column over a square output, a scalar, a [1, out] row.
    const xs = values([4, 3], 26), ws = values([4, 3], 27);
    for (const bias of [values([4, 1], 28), values([], 29), values([1, 4], 30), values([1, 1], 31)])
      expectClose(
        Array.from(tg.nn.functional.linear(xs, ws, bias).data()),
        Array.from(xs.matmul(ws.transpose(0, 1)).add(bias).data()),
        1e-12,
      );
    // in_features 0: the output is the bias
    const empty = tg.nn.functional.linear(tg.zeros([2, 0]), tg.zeros([3, 0]), tg.tensor([1, 2, 3]));
    expect(empty.toArray()).toEqual([[1, 2, 3], [1, 2, 3]]);
    expect(tg.nn.functional.linear(tg.zeros([2, 0]), tg.zeros([3, 0])).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });

  it('linear gradients', () => {
    const f = tg.nn.functional.linear;
    expect(tg.gradcheck((x, w, b) => f(x, w, b), [leaf([3, 4], 1), leaf([2, 4], 2), leaf([2], 3)])).toBe(true);
    expect(tg.gradcheck((x, w) => f(x, w), [leaf([2, 3, 4], 4), leaf([2, 4], 5)])).toBe(true);
    expect(tg.gradcheck((x, w, b) => f(x, w, b), [leaf([4], 6), leaf([3, 4], 7), leaf([], 8)])).toBe(true);
    expect(tg.gradcheck((x, w, b) => f(x, w, b), [leaf([3, 4], 9), leaf([4], 10), leaf([3], 11)])).toBe(true);
    expect(
      tg.gradcheck((x, w, b) => f(x.transpose(0, 1), w.transpose(0, 1), b), [leaf([4, 3], 12), leaf([4, 2], 13), leaf([3, 2], 14)]),
    ).toBe(true);
    expect(tg.gradcheck((x) => f(x, x), [leaf([3, 3], 15)])).toBe(true);
    expect(tg.gradgradcheck((x, w, b) => f(x, w, b), [leaf([2, 3], 16), leaf([4, 3], 17), leaf([4], 18)])).toBe(true);
    expect(f(leaf([2, 3], 1), leaf([4, 3], 2)).gradFn).toBe('linear');
  });
});

describe('linalg errors', () => {
  it('names both shapes when they cannot be multiplied', () => {
    expect(() => tg.zeros([2, 3]).matmul(tg.zeros([4, 5]))).toThrow(RangeError);
    expect(() => tg.zeros([2, 3]).matmul(tg.zeros([4, 5]))).toThrow(
      'matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 vs 4)',
    );
    expect(() => tg.zeros([3]).matmul(tg.zeros([4]))).toThrow('matmul: shapes [3] and [4] cannot be multiplied (3 vs 4)');
    expect(() => tg.zeros([2, 2, 3]).matmul(tg.zeros([3, 3, 2]))).toThrow(
      'matmul: the batch dims of shapes [2, 2, 3] and [3, 3, 2] cannot be broadcast together (2 vs 3)',
    );
    expect(() => tg.zeros([]).matmul(tg.zeros([3]))).toThrow(
      'matmul: both arguments must be at least 1-D, got shapes [] and [3]',
    );
  });

  it('rejects mixed dtypes and non-tensors', () => {
    expect(() => tg.zeros([2, 2]).matmul(tg.zeros([2, 2], { dtype: 'float64' }))).toThrow(TypeError);
    expect(() => tg.zeros([2, 2]).matmul(tg.zeros([2, 2], { dtype: 'float64' }))).toThrow(
      'matmul: both arguments must have the same dtype, got float32 and float64',
    );
    expect(() => tg.zeros([2]).matmul(3 as unknown as Tensor)).toThrow('matmul: other must be a Tensor, got 3');
    const d = tg.zeros([2]);
    d.dispose();
    expect(() => tg.zeros([2]).dot(d)).toThrow(tg.TapegradError);
  });

  it('dot and outer need 1-D operands', () => {
    expect(() => tg.zeros([2, 3]).dot(tg.zeros([3]))).toThrow(RangeError);
    expect(() => tg.zeros([2, 3]).dot(tg.zeros([3]))).toThrow('dot: both arguments must be 1-D, got shapes [2, 3] and [3]');
    expect(() => tg.zeros([3]).dot(tg.zeros([4]))).toThrow('dot: shapes [3] and [4] cannot be multiplied (3 vs 4)');
    expect(() => tg.zeros([3]).outer(tg.zeros([])),).toThrow('outer: both arguments must be 1-D, got shapes [3] and []');
  });

  it('linear checks its arguments', () => {
    const f = tg.nn.functional.linear;
    expect(() => f(tg.zeros([2, 3]), tg.zeros([4, 5]))).toThrow(RangeError);
    expect(() => f(tg.zeros([2, 3]), tg.zeros([4, 5]))).toThrow(
      'linear: input of shape [2, 3] does not match weight of shape [4, 5] (in_features 3 vs 5)',
    );
    expect(() => f(tg.zeros([2, 3]), tg.zeros([4, 3]), tg.zeros([3]))).toThrow(
      'linear: bias of shape [3] cannot be broadcast to the output shape [2, 4]',
    );
    expect(() => f(tg.zeros([2, 3]), tg.zeros([1, 4, 3]))).toThrow(
      'linear: weight must be 2-D [out_features, in_features] or 1-D, got shape [1, 4, 3]',
    );
    expect(() => f(tg.zeros([]), tg.zeros([4, 3]))).toThrow('linear: input must be at least 1-D, got shape []');
    expect(() => f(tg.zeros([2, 3]), tg.zeros([4, 3], { dtype: 'float64' }))).toThrow(TypeError);
    expect(() => f(tg.zeros([2, 3]), tg.zeros([4, 3]), tg.zeros([4], { dtype: 'float64' }))).toThrow(
      'linear: bias must have the input\'s dtype float32, got float64',
    );
  });
});
