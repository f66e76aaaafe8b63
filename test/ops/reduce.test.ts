import { describe, expect, it } from 'vitest';
import { expectClose, leaf, tg, type Tensor } from '../helpers.js';

// logsumexp's backward and the general p-norm's need exp / pow / where from the
// elementwise family; until that family is merged those rules throw, and the
// tests that need them are skipped (they run once it is merged).

type Reduce = (x: Tensor, dim?: number | number[], keepDim?: boolean) => Tensor;

const f64 = (data: unknown, requiresGrad = false): Tensor =>
  tg.tensor(data as number[], { dtype: 'float64', requiresGrad });

/**
 * gradcheck of a dim-taking reduction over the cases every reduction must
 * handle: all dims, one dim, several dims, negative dims, keepDim both ways,
 * size-1 dims, a non-contiguous (transposed) input, the input used twice, 0-d.
 */
function gradcheckDims(f: Reduce, seed = 1): void {
  const x23 = leaf([2, 3], seed);
  const x234 = leaf([2, 3, 4], seed + 1);
  const x312 = leaf([3, 1, 2], seed + 2);
  const x0d = leaf([], seed + 3);
  const check = (fn: (x: Tensor) => Tensor, x: Tensor) => expect(tg.gradcheck(fn, [x])).toBe(true);
  check((x) => f(x), x23);
  check((x) => f(x, undefined, true), x23);
  for (const keep of [false, true]) {
    check((x) => f(x, 1, keep), x23);
    check((x) => f(x, 0, keep), x23);
    check((x) => f(x, [0, 2], keep), x234);
    check((x) => f(x, [-1, -3], keep), x234);
    check((x) => f(x, -2, keep), x234);
    check((x) => f(x, 1, keep), x312);
    check((x) => f(x, [1, 2], keep), x312);
    check((x) => f(x.transpose(0, 2), 1, keep), x234);
    check((x) => f(x.transpose(0, 1), [0, 2], keep), x234);
  }
  check((x) => x.mul(f(x, 1, true)), x23);
  check((x) => f(x, 0).add(f(x, 1).sum()), x23);
  check((x) => f(x), x0d);
  check((x) => f(x, 0), x0d);
}

describe('sum', () => {
  it('computes hand-checked values', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]]);
    expect(x.sum().item()).toBe(21);
    expect(x.sum(0).toArray()).toEqual([5, 7, 9]);
    expect(x.sum(-1, true).toArray()).toEqual([[6], [15]]);
    expect(x.sum([0, 1]).shape).toEqual([]);
    expect(tg.tensor([[1, 2]], { dtype: 'int32' }).sum().dtype).toBe('int32');
  });
  it('gradcheck and gradgradcheck', () => {
    gradcheckDims((x, d, k) => x.sum(d, k));
    expect(tg.gradgradcheck((x) => x.sum(1, true).mul(x.sum(0, true)), [leaf([2, 3])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.mul(x).sum([0, 2]), [leaf([2, 3, 2])])).toBe(true);
  });
  it('throws for an int32 sum that int32 cannot hold (PyTorch gives it in int64)', () => {
    const max = 2 ** 31 - 1;
    const i = tg.tensor([max, max, -max, 1 - max], { dtype: 'int32' });
    expect(i.sum().item()).toBe(1);
    expect(() => tg.full([4], max, { dtype: 'int32' }).sum()).toThrow(
      /sum: the result 8589934588 does not fit in int32 .*x\.to\('float64'\)\.sum\(\)/,
    );
    expect(tg.tensor([[max, -1], [-max, -1]], { dtype: 'int32' }).sum(1).toArray()).toEqual([max - 1, -max - 1]);
    expect(() => tg.full([2, 2], -max, { dtype: 'int32' }).sum(1)).toThrow(/sum: the result -4294967294 does not fit/);
    // A broadcast view's repeats are multiplied in, with the same check.
    const b = tg.tensor([3], { dtype: 'int32' }).expand([2 ** 40]);
    expect(() => b.sum()).toThrow(/sum: the result 3298534883328 does not fit in int32/);
    expect(tg.tensor([0], { dtype: 'int32' }).expand([2 ** 40]).sum().item()).toBe(0);
  });
  it('is 0 over nothing', () => {
    expect(tg.zeros([0]).sum().item()).toBe(0);
    expect(tg.zeros([2, 0]).sum(1).toArray()).toEqual([0, 0]);
  });

  // Column sums (over leading dims): blocks of 256 rows, each summed in row
  // order (eight rows a pass through the kernel, each column in a register),
  // the block sums added in block order.
  it('sum and mean over leading dims: blocks of 256 rows in row order, bitwise the replayed reference on 1 and 2 threads', () => {
    const before = tg.getNumThreads();
    try {
      const cases: [number[], number][] = [[[20, 37], 0], [[255, 64], 0], [[700, 33], 0], [[1300, 9], 0], [[3, 100, 17], 1]];
      for (const [shape, dim] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        // float64, where the order of the additions shows in the last bits.
        const data = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.5 + (i % 5 === 0 ? 1e6 : 0));
        const x = tg.tensor(data, { shape, dtype: 'float64' });
        const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1), group = shape[dim]!;
        const inner = n / (outer * group);
        const want: number[] = [];
        for (let o = 0; o < outer; o++)
          for (let j = 0; j < inner; j++) {
            let total = 0;
            for (let b0 = 0; b0 < group; b0 += 256) {
              let block = 0;
              for (let r = b0; r < Math.min(group, b0 + 256); r++) block += data[(o * group + r) * inner + j]!;
              total = b0 === 0 ? block : total + block;
            }
            want.push(total);
          }
        for (const threads of [1, 2]) {
          tg.setNumThreads(threads);
          const label = `[${shape}] dim ${dim}, ${threads} threads`;
          expect(Array.from(x.sum(dim).data()), `sum ${label}`).toEqual(want);
          expect(Array.from(x.mean(dim).data()), `mean ${label}`).toEqual(want.map((v) => (v * 1) / group));
        }
      }
    } finally {
      tg.setNumThreads(before);
    }
  });
});

describe('mean', () => {
  it('computes hand-checked values', () => {
    const x = f64([[1, 2, 3], [4, 5, 9]]);
    expect(x.mean().item()).toBe(4);
    expect(x.mean(0).toArray()).toEqual([2.5, 3.5, 6]);
    expect(x.mean(1, true).toArray()).toEqual([[2], [6]]);
    expect(x.mean([-1, 0]).item()).toBe(4);
  });
  it('gradcheck and gradgradcheck', () => {
    gradcheckDims((x, d, k) => x.mean(d, k));
    expect(tg.gradgradcheck((x) => x.mul(x).mean(1), [leaf([3, 4])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.mean([0, 2], true).mul(x), [leaf([2, 3, 2])])).toBe(true);
  });
  it('has gradient 1/N', () => {
    const x = f64([[1, 2], [3, 4]], true);
    x.mean().backward();
    expect(x.grad!.toArray()).toEqual([[0.25, 0.25], [0.25, 0.25]]);
  });
  it('is NaN over nothing', () => {
    expect(Number.isNaN(tg.zeros([0]).mean().item())).toBe(true);
    expect(tg.zeros([0, 3]).mean(0).data().every(Number.isNaN)).toBe(true);
  });
  it('rejects int32 input with a TypeError, as PyTorch does', () => {
    const i = tg.tensor([1, 2], { dtype: 'int32' });
    expect(() => i.mean()).toThrow(TypeError);
    expect(() => i.mean()).toThrow(/mean: input must be a float32 or float64 tensor, got int32/);
  });
});

describe('max and min', () => {
  it('computes hand-checked values', () => {
    const x = f64([[1, 5, 3], [7, -2, 7]]);
    expect(x.max().item()).toBe(7);
    expect(x.min().item()).toBe(-2);
    expect(x.max(1).toArray()).toEqual([5, 7]);
    expect(x.min(0, true).toArray()).toEqual([[1, -2, 3]]);
    expect(x.max([0, 1], true).toArray()).toEqual([[7]]);
    const i = tg.tensor([[3, -9], [4, 8]], { dtype: 'int32' });
    expect(i.max(0).toArray()).toEqual([4, 8]);
    expect(i.min().item()).toBe(-9);
    expect(i.max().dtype).toBe('int32');
    expect(tg.tensor([-Infinity, -Infinity]).max().item()).toBe(-Infinity);
    expect(tg.tensor([Infinity]).min().item()).toBe(Infinity);
  });
  it('propagates NaN', () => {
    expect(Number.isNaN(tg.tensor([1, NaN, 3]).max().item())).toBe(true);
    expect(Number.isNaN(tg.tensor([NaN, 1]).min().item())).toBe(true);
  });
  it('gradcheck and gradgradcheck away from ties', () => {
    gradcheckDims((x, d, k) => x.max(d, k), 3);
    gradcheckDims((x, d, k) => x.min(d, k), 4);
    expect(tg.gradgradcheck((x) => x.max(1).mul(x.max(1)), [leaf([3, 4])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.mul(x).min([0, 2]), [leaf([2, 3, 2], 2)])).toBe(true);
  });
  it('splits the gradient evenly among tied extrema', () => {
    const x = f64([[1, 3, 3], [2, 2, 2]], true);
    x.max(1).backward(f64([1, 6]));
    expect(x.grad!.toArray()).toEqual([[0, 0.5, 0.5], [2, 2, 2]]);
    const y = f64([4, 1, 1, 1], true);
    y.min().backward();
    expectClose(y.grad!.toArray(), [0, 1 / 3, 1 / 3, 1 / 3]);
  });
  it('sends the gradient of a NaN extremum to the NaN elements', () => {
    const x = f64([1, NaN, 3], true);
    x.max().backward();
    expect(x.grad!.toArray()).toEqual([0, 1, 0]);
  });
  // Rows and whole tensors find the extremum in 16 lanes (a long row in
  // chunks on the pool), then take the first element equal to it when it is
  // ±0 or NaN: the generic loop's bits.
  it('returns the first of equal signed zeros over rows and whole tensors, long ones too', () => {
    for (const dtype of ['float32', 'float64'] as const)
      for (const n of [5, 17, 200003]) {
        // The first zero (index 1, lane 1) has one sign, every later one
        // the other (lane 0 meets one at index 16).
        const zeros = (lead: number, first: number, later: number) =>
          tg.tensor(Array.from({ length: n }, (_, i) => (i === 0 ? lead : i === 1 ? first : later)), { dtype });
        const below = tg.tensor(Array.from({ length: n }, (_, i) => (i === n - 1 ? -0 : -1 - (i % 5))), { dtype });
        const label = `${dtype} n = ${n}`;
        expect(Object.is(zeros(-1, -0, 0).max().item(), -0), label).toBe(true);
        expect(Object.is(zeros(-1, 0, -0).max().item(), 0), label).toBe(true);
        expect(Object.is(zeros(1, -0, 0).min().item(), -0), label).toBe(true);
        expect(Object.is(zeros(1, 0, -0).min(0).item(), 0), label).toBe(true);
        expect(Object.is(below.max().item(), -0), label).toBe(true);
        expect(Object.is(below.neg().min().item(), 0), label).toBe(true);
        const nan = tg.tensor(Array.from({ length: n }, (_, i) => (i === n >> 1 ? NaN : i)), { dtype });
        expect(Number.isNaN(nan.max().item()) && Number.isNaN(nan.min().item()), label).toBe(true);
        expect(Number.isNaN(nan.reshape([1, n]).max(1).item()), label).toBe(true);
      }
  });
  // Leading, middle and trailing blocks (split across the pool, strided views
  // copied first) and a split block (the generic loop): each group's elements
  // in order, NaN winning and the first of equal values (-0 against 0) kept;
  // argmax and argmin along the single reduced dims too.
  it('max, min (and their gradients), argmax and argmin match an in-order reference on every layout, with NaN and signed-zero ties', () => {
    const cases: [number[], number[], boolean][] = [
      [[40, 3000], [1], false], [[3000, 40], [0], false], [[6, 700, 9], [1], false], [[6, 50, 9, 7], [1, 2], false],
      [[5, 1, 300], [0, 2], false], [[4, 30, 20], [0, 2], false], [[300, 200], [0], true], [[300, 200], [1], true],
      [[3000, 2], [1], false], [[2, 3000], [0], false], [[50, 2, 400], [1], false], [[70, 900], [0, 1], true],
      [[300, 300], [0, 1], false],
    ];
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
    for (const dtype of ['float32', 'float64', 'int32'] as const)
      for (const [shape, dims, transposed] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = Array.from({ length: n }, () => {
          const r = next();
          if (dtype === 'int32') return Math.floor(r * 50) - 25;
          return r < 0.001 ? NaN : r < 0.3 ? (r < 0.15 ? -0 : 0) : Math.round((r - 0.6) * 40);
        });
        // Same logical values; transposed: stored as the transpose, read through a view.
        let x = tg.tensor(data, { dtype, shape });
        if (transposed) x = x.transpose(0, 1).contiguous().transpose(0, 1);
        const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
        const keptShape = shape.map((s, d) => (dims.includes(d) ? 1 : s));
        const keptStrides = keptShape.map((_, d) => keptShape.slice(d + 1).reduce((a, b) => a * b, 1));
        for (const max of [true, false]) {
          const want: number[] = new Array(keptShape.reduce((a, b) => a * b, 1)).fill(undefined);
          for (let i = 0; i < n; i++) {
            let pos = 0;
            for (let d = 0; d < shape.length; d++) pos += dims.includes(d) ? 0 : (Math.floor(i / strides[d]!) % shape[d]!) * keptStrides[d]!;
            const v = Math.fround(data[i]!), a = want[pos];
            const beats = Number.isNaN(v) ? !Number.isNaN(a) : max ? v > a! : v < a!;
            if (a === undefined || beats) want[pos] = v;
          }
          const got = Array.from((max ? x.max(dims) : x.min(dims)).data());
          const label = `${dtype} ${max ? 'max' : 'min'} [${shape}] dims [${dims}]${transposed ? ' transposed' : ''}`;
          expect(got.length, label).toBe(want.length);
          for (let j = 0; j < want.length; j++) if (!Object.is(got[j], want[j])) expect([j, got[j]], label).toEqual([j, want[j]]);
          if (dtype !== 'int32') {
            // The gradient of ones: 1/count on each element equal to its
            // group's extremum (0 and -0 alike; NaN where it is NaN), else 0.
            const count: number[] = new Array(want.length).fill(0);
            const posOf: number[] = [];
            const hit = (v: number, r: number) => (Number.isNaN(r) ? Number.isNaN(v) : v === r);
            for (let i = 0; i < n; i++) {
              let pos = 0;
              for (let d = 0; d < shape.length; d++) pos += dims.includes(d) ? 0 : (Math.floor(i / strides[d]!) % shape[d]!) * keptStrides[d]!;
              posOf.push(pos);
              if (hit(Math.fround(data[i]!), want[pos]!)) count[pos]!++;
            }
            const round = dtype === 'float32' ? Math.fround : (v: number) => v;
            const base = tg.tensor(data, { dtype, shape, requiresGrad: true });
            const view = transposed ? base.transpose(0, 1).contiguous().transpose(0, 1) : base;
            (max ? view.max(dims) : view.min(dims)).backward(tg.ones(keptShape.filter((_, d) => !dims.includes(d)), { dtype }));
            const grad = Array.from(base.grad!.data());
            for (let i = 0; i < n; i++) {
              const w = hit(Math.fround(data[i]!), want[posOf[i]!]!) ? round(1 / count[posOf[i]!]!) : 0;
              if (grad[i] !== w) expect([i, grad[i]], `${label} gradient`).toEqual([i, w]);
            }
          }
          // argmax / argmin along a single reduced dim (of size > 1) or over everything.
          const all = dims.length === shape.length;
          if (!all && dims.length !== 1) continue;
          const along = all ? undefined : dims[0];
          const at: number[] = new Array(along === undefined ? 1 : want.length).fill(-1);
          const best: number[] = new Array(at.length).fill(NaN);
          for (let i = 0; i < n; i++) {
            let pos = 0;
            if (along !== undefined)
              for (let d = 0; d < shape.length; d++) pos += d === along ? 0 : (Math.floor(i / strides[d]!) % shape[d]!) * keptStrides[d]!;
            const v = Math.fround(data[i]!), a = best[pos]!;
            const beats = Number.isNaN(v) ? !Number.isNaN(a) : max ? v > a : v < a;
            if (at[pos] === -1 || beats) {
              best[pos] = v;
              at[pos] = along === undefined ? i : Math.floor(i / strides[along]!) % shape[along]!;
            }
          }
          const arg = along === undefined ? (max ? x.argmax() : x.argmin()) : max ? x.argmax(along) : x.argmin(along);
          expect(Array.from(arg.data()), `arg${label}`).toEqual(at);
        }
      }
  });
  // The reductions that accumulate each group in input order (norm, prod,
  // var over leading or middle dims) walk a block layout contiguously and
  // split the groups across the pool: the same arithmetic, so a JavaScript
  // double reference in the same order matches bit for bit on any thread
  // count. prod over trailing dims multiplies in sum()'s 16 lanes (replayed
  // below), var's is replayed under 'var and std'. The 1- and 2-norms over trailing
  // dims sum as sum() does (replayed below); logsumexp runs the kernel
  // table's rows (lane order) or column strips (row order): the same bits on
  // any thread count too.
  // Σ v² in double in the order of sum()'s blocked path: blocks of 8192,
  // each over 16 interleaved lanes folded pairwise, block sums added
  // pairwise by halving.
  // (|v| for norm(1), in the same order.)
  const laneTerms = (v: number[], term: (x: number) => number) => {
    const acc = new Array(16).fill(0);
    let i = 0;
    for (; i + 16 <= v.length; i += 16) for (let l = 0; l < 16; l++) acc[l] += term(v[i + l]!);
    for (let l = 0; i < v.length; i++, l++) acc[l] += term(v[i]!);
    for (let w = 8; w >= 1; w /= 2) for (let l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0] as number;
  };
  const pairwise = (p: number[], b: number, e: number): number => (e - b === 1 ? p[b]! : pairwise(p, b, b + Math.floor((e - b) / 2)) + pairwise(p, b + Math.floor((e - b) / 2), e));
  const blockedTerms = (v: number[], term: (x: number) => number) => {
    if (v.length <= 8192) return laneTerms(v, term);
    const partial = [];
    for (let b = 0; b < v.length; b += 8192) partial.push(laneTerms(v.slice(b, b + 8192), term));
    return pairwise(partial, 0, partial.length);
  };
  const blockedSquares = (v: number[]) => blockedTerms(v, (x) => x * x);
  const blockedMagnitudes = (v: number[]) => blockedTerms(v, Math.abs);
  it('in-order reductions on block layouts: bitwise the in-order double reference on 1, 2 and 3 threads', () => {
    const before = tg.getNumThreads();
    try {
      const cases: [number[], number[], boolean][] = [
        [[40, 3000], [1], false], [[3000, 40], [0], false], [[6, 700, 9], [1], false], [[300, 200], [0], true],
      ];
      for (const [shape, dims, transposed] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        // float64, where the order of the additions shows in the last bits.
        const data = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.5);
        const near1 = data.map((v) => 1 + v / 64);  // long products stay normal
        const layout = (t: tg.Tensor) => (transposed ? t.transpose(0, 1).contiguous().transpose(0, 1) : t);
        const x = layout(tg.tensor(data, { shape, dtype: 'float64' }));
        const y = layout(tg.tensor(near1, { shape, dtype: 'float64' }));
        const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
        const keptShape = shape.map((s, d) => (dims.includes(d) ? 1 : s));
        const keptStrides = keptShape.map((_, d) => keptShape.slice(d + 1).reduce((a, b) => a * b, 1));
        const outputs = keptShape.reduce((a, b) => a * b, 1);
        const sq = new Array(outputs).fill(0), pr = new Array(outputs).fill(1), mag = new Array(outputs).fill(0);
        for (let i = 0; i < n; i++) {
          let pos = 0;
          for (let d = 0; d < shape.length; d++) pos += dims.includes(d) ? 0 : (Math.floor(i / strides[d]!) % shape[d]!) * keptStrides[d]!;
          sq[pos] += data[i]! * data[i]!;
          pr[pos] *= near1[i]!;
          mag[pos] += Math.abs(data[i]!);
        }
        // The 2-norm over trailing dims sums its squares as sum() does
        // (blocked, lanes): that order, replayed.
        const rows = !transposed && dims.length === 1 && dims[0] === shape.length - 1;
        const rowLength = shape[shape.length - 1]!;
        const eachRow = (f: (v: number[]) => number) => Array.from({ length: n / rowLength }, (_, r) => f(data.slice(r * rowLength, (r + 1) * rowLength)));
        const norms = rows ? eachRow((v) => Math.sqrt(blockedSquares(v))) : sq.map((v) => Math.sqrt(v));
        const norms1 = rows ? eachRow(blockedMagnitudes) : mag;
        // Products of rows: element i into lane i % 16, lanes multiplied pairwise.
        const laneProduct = (v: number[]) => {
          const acc = new Array(16).fill(1);
          v.forEach((x, i) => (acc[i % 16] *= x));
          for (let w = 8; w >= 1; w /= 2) for (let l = 0; l < w; l++) acc[l] *= acc[l + w];
          return acc[0] as number;
        };
        const products = rows ? Array.from({ length: n / rowLength }, (_, r) => laneProduct(near1.slice(r * rowLength, (r + 1) * rowLength))) : pr;
        for (const threads of [1, 2, 3]) {
          tg.setNumThreads(threads);
          const label = `[${shape}] dims [${dims}]${transposed ? ' transposed' : ''}, ${threads} threads`;
          expect(Array.from(x.norm(2, dims).data()), `norm ${label}`).toEqual(norms);
          if (!transposed) expect(x.norm().item(), `whole norm ${label}`).toBe(Math.sqrt(blockedSquares(data)));
          expect(Array.from(x.norm(1, dims).data()), `norm(1) ${label}`).toEqual(norms1);
          if (!transposed) expect(x.norm(1).item(), `whole norm(1) ${label}`).toBe(blockedMagnitudes(data));
          expect(Array.from(y.prod(dims[0]).data()), `prod ${label}`).toEqual(products);
          // The whole tensor: chunks of 2^16 (on the pool), multiplied in order.
          let whole = 1;
          for (let c = 0; c < n; c += 65536) whole *= laneProduct(near1.slice(c, c + 65536));
          if (!transposed) expect(y.prod().item(), `whole prod ${label}`).toBe(whole);
          if (threads === 1) continue;
          tg.setNumThreads(1);
          const one = [x.var(dims), x.logsumexp(dims)].map((t) => Array.from(t.data()));
          tg.setNumThreads(threads);
          expect([x.var(dims), x.logsumexp(dims)].map((t) => Array.from(t.data())), `var, logsumexp ${label}`).toEqual(one);
        }
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('refuses empty reductions with a RangeError naming the op', () => {
    expect(() => tg.zeros([0]).max()).toThrow(RangeError);
    expect(() => tg.zeros([0]).max()).toThrow(/max: cannot reduce over dim 0 of size 0/);
    expect(() => tg.zeros([2, 0]).min(1)).toThrow(/min: cannot reduce over dim 1 of size 0 \(input shape \[2, 0\]\)/);
    // Reducing a non-empty dim of an empty tensor is fine.
    expect(tg.zeros([0, 3]).max(1).shape).toEqual([0]);
  });
});

describe('argmax and argmin', () => {
  it('gives int32 indices, first occurrence on ties', () => {
    const x = tg.tensor([[1, 7, 7], [9, 0, 9]]);
    const a = x.argmax(1);
    expect(a.dtype).toBe('int32');
    expect(a.toArray()).toEqual([1, 0]);
    expect(x.argmin(1).toArray()).toEqual([0, 1]);
    expect(x.argmax(0).toArray()).toEqual([1, 0, 1]);
    expect(x.argmax(-2, true).toArray()).toEqual([[1, 0, 1]]);
    expect(tg.tensor([2, 2, 2]).argmin().item()).toBe(0);
  });
  it('gives the flat index over all elements', () => {
    const x = tg.tensor([[1, 7, 3], [9, 0, 9]]);
    expect(x.argmax().item()).toBe(3);
    expect(x.argmin().item()).toBe(4);
    expect(x.argmax().shape).toEqual([]);
    expect(x.argmax(undefined, true).shape).toEqual([1, 1]);
    // Flat index of the logical (row-major) order, also for a transposed view.
    expect(x.transpose(0, 1).argmax().item()).toBe(1);
    expect(x.transpose(0, 1).argmax(1).toArray()).toEqual([1, 0, 1]);
  });
  it('handles int32, float64, NaN and 0-d inputs', () => {
    expect(tg.tensor([3, -1, 8], { dtype: 'int32' }).argmax().item()).toBe(2);
    expect(f64([0.5, -1]).argmin().item()).toBe(1);
    expect(tg.tensor([1, NaN, 5, NaN]).argmax().item()).toBe(1);
    expect(tg.tensor([1, NaN, -5]).argmin().item()).toBe(1);
    expect(tg.tensor(4).argmax().item()).toBe(0);
    expect(tg.tensor(4).argmax(0).item()).toBe(0);
  });
  it('is not differentiable', () => {
    const x = leaf([2, 3]);
    const a = x.argmax(1);
    expect(a.requiresGrad).toBe(false);
    expect(a.gradFn).toBe(null);
  });
  it('rejects bad dims and empty reductions', () => {
    const x = tg.zeros([2, 3]);
    expect(() => x.argmax(2)).toThrow(/argmax: dim must be in \[-2, 1\] for a tensor with 2 dimensions, got 2/);
    expect(() => x.argmax([0, 1] as unknown as number)).toThrow(TypeError);
    expect(() => x.argmin(0.5)).toThrow(RangeError);
    expect(() => tg.zeros([0]).argmax()).toThrow(/argmax: cannot reduce over dim 0 of size 0/);
    expect(() => tg.zeros([3, 0]).argmin(1)).toThrow(RangeError);
  });
});

describe('var and std', () => {
  it('computes hand-checked values with PyTorch corrections', () => {
    const x = f64([[1, 2, 3, 4], [2, 2, 2, 10]]);
    expectClose(x.var(1).toArray(), [5 / 3, 16]);
    expectClose(x.var(1, { correction: 0 }).toArray(), [1.25, 12]);
    expectClose(x.var(0, { keepDim: true }).toArray(), [[0.5, 0, 0.5, 18]]);
    expectClose(x.std(1).toArray(), [Math.sqrt(5 / 3), 4]);
    expectClose(x.std(undefined, { correction: 0 }).item(), Math.sqrt(57.5 / 8));
    expectClose(x.var(1, { correction: 2 }).toArray(), [2.5, 24]);
    expectClose(x.var([0, 1]).item(), 57.5 / 7);
  });
  it('gives NaN / Infinity where the divisor is 0, as PyTorch', () => {
    expect(Number.isNaN(f64([3]).var().item())).toBe(true);
    expect(f64([1, 2]).var(undefined, { correction: 2 }).item()).toBe(Infinity);
    expect(Number.isNaN(tg.zeros([0]).var().item())).toBe(true);
    expect(Number.isNaN(tg.zeros([0]).std().item())).toBe(true);
  });
  it('stays accurate in float32 when the mean is large', () => {
    const x = tg.tensor([10000.5, 10001.5, 10002.5, 10003.5]);
    expectClose(x.var().item(), 5 / 3, 1e-6);
  });
  // Trailing reduced dims (rows, or the whole tensor) take the kernels'
  // blocked sums: the mean as sum() computes it, then Σ (x - mean)² and
  // Σ (x - mean) over 16 interleaved lanes folded pairwise per block of
  // 8192, block sums added pairwise by halving, and Σd² - (Σd)²/n. Replayed
  // here in double: the same bits on any thread count.
  it('sums rows in the blocked order of sum(): bitwise a replay on 1, 2 and 3 threads', () => {
    const fold = (acc: number[]) => {
      for (let w = 8; w >= 1; w /= 2) for (let l = 0; l < w; l++) acc[l] += acc[l + w]!;
      return acc[0]!;
    };
    const pairwise = (p: number[][], b: number, e: number): number[] => {
      if (e - b === 1) return p[b]!;
      const m = b + Math.floor((e - b) / 2);
      const [l, r] = [pairwise(p, b, m), pairwise(p, m, e)];
      return l.map((v, k) => v + r[k]!);
    };
    const blocked = (v: number[], block: (b: number[]) => number[]) => {
      const parts: number[][] = [];
      for (let b = 0; b < v.length; b += 8192) parts.push(block(v.slice(b, b + 8192)));
      return pairwise(parts, 0, parts.length);
    };
    const replay = (v: number[], correction: number) => {
      const n = v.length;
      const mean =
        blocked(v, (b) => {
          const s = new Array(16).fill(0);
          b.forEach((x, i) => (s[i % 16] += x));
          return [fold(s)];
        })[0]! / n;
      const [sq, dev] = blocked(v, (b) => {
        const s = new Array(16).fill(0), d = new Array(16).fill(0);
        b.forEach((x, i) => {
          s[i % 16] += (x - mean) * (x - mean);
          d[i % 16] += x - mean;
        });
        return [fold(s), fold(d)];
      });
      return (sq! - (dev! * dev!) / n) / Math.max(0, n - correction);
    };
    const before = tg.getNumThreads();
    try {
      // Rows with a tail, rows of several blocks, two trailing dims, the
      // whole tensor (its blocks on the pool), a short row.
      const cases: [number[], number[] | undefined][] = [
        [[7, 3000], [1]], [[3, 20000], [1]], [[5, 4, 33], [1, 2]], [[120, 250], undefined], [[2, 17], [1]],
      ];
      for (const [shape, dims] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        // An offset mean, where the correction term Σd matters.
        const data = Array.from({ length: n }, (_, i) => 1000 + Math.sin(i * 0.37) * 1.5);
        const row = dims ? dims.reduce((a, d) => a * shape[d]!, 1) : n;
        const rows = Array.from({ length: n / row }, (_, r) => data.slice(r * row, (r + 1) * row));
        for (const dtype of ['float64', 'float32'] as const) {
          const round = dtype === 'float32' ? Math.fround : (v: number) => v;
          const x = tg.tensor(data, { shape, dtype });
          const values = rows.map((r) => r.map(round));
          for (const threads of [1, 2, 3]) {
            tg.setNumThreads(threads);
            const label = `[${shape}] dims [${dims}] ${dtype}, ${threads} threads`;
            expect(Array.from(x.var(dims).data()), `var ${label}`).toEqual(values.map((r) => round(replay(r, 1))));
            expect(Array.from(x.std(dims, { correction: 0 }).data()), `std ${label}`).toEqual(
              values.map((r) => round(Math.sqrt(replay(r, 0)))),
            );
          }
        }
      }
    } finally {
      tg.setNumThreads(before);
    }
  });
  it('gives NaN for a row holding NaN or Infinity, and 0 for a constant row', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tg.tensor([[1, NaN, 3], [1, Infinity, 3], [-Infinity, 2, 2], [5, 5, 5]], { dtype });
      const v = Array.from(x.var(1).data());
      expect(v.slice(0, 3).every(Number.isNaN), dtype).toBe(true);
      expect(v[3], dtype).toBe(0);
    }
  });
  it('gradcheck and gradgradcheck', () => {
    // correction 0: the size-1 groups of gradcheckDims would divide by N - 1 = 0.
    gradcheckDims((x, d, k) => x.var(d, { keepDim: k, correction: 0 }), 5);
    gradcheckDims((x, d, k) => x.std(d, { keepDim: k, correction: 0 }), 6);
    for (const correction of [1, 2, 0.5]) {
      expect(tg.gradcheck((x) => x.var([0, 2], { correction }), [leaf([2, 3, 2])])).toBe(true);
      expect(tg.gradcheck((x) => x.std(-1, { correction, keepDim: true }), [leaf([3, 4])])).toBe(true);
      expect(tg.gradcheck((x) => x.transpose(0, 1).var(1, { correction }), [leaf([3, 4])])).toBe(true);
    }
    expect(tg.gradcheck((x) => x.std().mul(x), [leaf([3, 2])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.var(1), [leaf([3, 4])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.var([0, 2], { keepDim: true, correction: 0 }).mul(x), [leaf([2, 3, 2])])).toBe(
      true,
    );
    expect(tg.gradgradcheck((x) => x.std(0), [leaf([4, 2])])).toBe(true);
  });
  it('has gradient 0, not NaN, where std is 0', () => {
    const x = f64([[2, 2, 2], [1, 2, 6]], true);
    x.std(1).sum().backward();
    const g = x.grad!.toArray() as number[][];
    expect(g[0]).toEqual([0, 0, 0]);
    expect(g[1]!.every(Number.isFinite)).toBe(true);
    const y = f64(5, true);
    y.std(undefined, { correction: 0 }).backward();
    expect(y.grad!.item()).toBe(0);
  });
  it('rejects int32 and bad corrections', () => {
    const i = tg.tensor([1, 2], { dtype: 'int32' });
    expect(() => i.var()).toThrow(/var: input must be a float32 or float64 tensor, got int32/);
    expect(() => i.std()).toThrow(TypeError);
    expect(() => tg.ones([2]).var(0, { correction: NaN })).toThrow(/var: correction must be a finite number/);
    expect(() => tg.ones([2]).std(0, { correction: 'x' as unknown as number })).toThrow(TypeError);
  });
  it('refuses options it would ignore: a number (PyTorch\'s positional unbiased) or an unknown key', () => {
    const x = tg.tensor([1, 2, 4]);
    for (const op of ['var', 'std'] as const) {
      expect(() => x[op](0, 0 as never)).toThrow(new TypeError(`${op}: options must be an object like { correction: 0, keepDim: true }, got 0`));
      expect(() => x[op](0, false as never)).toThrow(new TypeError(`${op}: options must be an object like { correction: 0, keepDim: true }, got false`));
      expect(() => x[op](0, { unbiased: false } as never)).toThrow(new TypeError(`${op}: unknown option 'unbiased'; the options are correction, keepDim`));
      expect(() => x[op](0, { keepdim: true } as never)).toThrow(/unknown option 'keepdim'/);
    }
  });
});

describe('prod', () => {
  it('computes hand-checked values', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]]);
    expect(x.prod().item()).toBe(720);
    expect(x.prod(1).toArray()).toEqual([6, 120]);
    expect(x.prod(0, true).toArray()).toEqual([[4, 10, 18]]);
    expect(tg.tensor([[2, -3]], { dtype: 'int32' }).prod().item()).toBe(-6);
  });
  it('throws for an int32 product that int32 cannot hold (PyTorch gives it in int64)', () => {
    const i = (v: number[]) => tg.tensor(v, { dtype: 'int32' });
    expect(i([65536, 32767]).prod().item()).toBe(2147418112);
    expect(i([-65536, 32768]).prod().item()).toBe(-2147483648);
    expect(() => i([65536, 65536]).prod()).toThrow(
      /prod: the result 4294967296 does not fit in int32 .*x\.to\('float64'\)\.prod\(\)/,
    );
    expect(() => i([65536, 32769]).prod()).toThrow(/prod: the result 2147549184 does not fit in int32/);
    expect(() => i([[1, 2], [65536, 65536]]).prod(1)).toThrow(RangeError);
    // Past int32 and back: the exact int64 product is what decides.
    expect(i([65536, 65536, 0]).prod().item()).toBe(0);
    expect(i([65536, 65536, 65536, 65536]).prod().item()).toBe(0); // 2**64 wraps to 0 in int64, as in PyTorch
  });
  it('is 1 over nothing', () => {
    expect(tg.zeros([0]).prod().item()).toBe(1);
    expect(tg.zeros([2, 0]).prod(1).toArray()).toEqual([1, 1]);
  });
  it('gradcheck and gradgradcheck without zeros', () => {
    gradcheckDims((x, d, k) => x.prod(d, k), 7);
    expect(tg.gradgradcheck((x) => x.prod(1), [leaf([2, 3])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.prod([0, 2], true).mul(x), [leaf([2, 3, 2])])).toBe(true);
  });
  it('has the exact gradient with one zero and with several zeros', () => {
    const one = f64([2, 0, 3], true);
    one.prod().backward();
    expect(one.grad!.toArray()).toEqual([0, 6, 0]);
    const two = f64([2, 0, 0, 3], true);
    two.prod().backward();
    expect(two.grad!.toArray()).toEqual([0, 0, 0, 0]);
    const rows = f64([[2, 0, 3], [1, 2, 3], [0, 5, 0]], true);
    rows.prod(1).backward(f64([1, 1, 1]));
    expect(rows.grad!.toArray()).toEqual([[0, 6, 0], [6, 3, 2], [0, 0, 0]]);
    const cols = f64([[2, 0, 3], [1, 2, 3], [0, 5, 0]], true);
    cols.prod(0).backward(f64([1, 1, 1]));
    expect(cols.grad!.toArray()).toEqual([[0, 10, 0], [0, 0, 0], [2, 0, 9]]);
  });
  it('gradcheck with zeros, and exact second derivatives with one zero per group', () => {
    const x = f64([[2, 0, 3, 0.5], [1, 2, 0, 0], [0.5, 1.5, -2, 3]], true);
    for (const d of [0, 1, -1, undefined]) expect(tg.gradcheck((t) => t.prod(d), [x])).toBe(true);
    expect(tg.gradcheck((t) => t.transpose(0, 1).prod(0, true), [x])).toBe(true);
    const y = f64([[2, 0, 3], [1.5, 2, -1]], true);
    expect(tg.gradgradcheck((t) => t.prod(1), [y])).toBe(true);
    expect(tg.gradgradcheck((t) => t.prod(), [f64([0.5, 0, -3], true)])).toBe(true);
  });
});

describe('logsumexp', () => {
  it('computes hand-checked values', () => {
    const x = f64([[0, Math.log(3)], [1, 1]]);
    expectClose(x.logsumexp(1).toArray(), [Math.log(4), 1 + Math.log(2)], 1e-12);
    expectClose(x.logsumexp([0, 1]).item(), Math.log(4 + 2 * Math.E), 1e-12);
    expect(x.logsumexp(0, true).shape).toEqual([1, 2]);
  });
  it('is stable for large values and handles infinities', () => {
    expectClose(tg.tensor([1000, 1000]).logsumexp(0).item(), 1000 + Math.log(2), 1e-6);
    expectClose(f64([-1000, -1000]).logsumexp(0).item(), -1000 + Math.log(2), 1e-12);
    expectClose(tg.tensor([-Infinity, 0]).logsumexp(0).item(), 0);
    expect(tg.tensor([-Infinity, -Infinity]).logsumexp(0).item()).toBe(-Infinity);
    expect(tg.tensor([Infinity, 1]).logsumexp(0).item()).toBe(Infinity);
    expect(Number.isNaN(tg.tensor([NaN, 1]).logsumexp(0).item())).toBe(true);
    expect(tg.zeros([0]).logsumexp(0).item()).toBe(-Infinity);
  });
  // Along trailing dims the kernel table's rows run (sum in lane order,
  // float32's terms by a double exp), along leading or middle dims its column
  // strips (row order), other dims the generic in-order loop.
  it('trailing, leading, middle and split dims agree; float32 is the float64 result rounded', () => {
    const rows = 300, cols = 257;
    const data = Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.61) * 30);
    const x32 = tg.tensor(data, { shape: [rows, cols] });
    const x64 = tg.tensor(Array.from(x32.data()), { shape: [rows, cols], dtype: 'float64' });
    const want = Array.from(x64.logsumexp(1).data());
    expect(Array.from(x32.logsumexp(1).data())).toEqual(want.map(Math.fround));
    // The same groups as columns of the transpose (the column kernel).
    expectClose(Array.from(x64.transpose(0, 1).contiguous().logsumexp(0).data()), want, 1e-15);
    expect(Array.from(x32.transpose(0, 1).contiguous().logsumexp(0).data())).toEqual(want.map(Math.fround));
    // The same groups along a middle dim ([3, 257, 100]) and split around a
    // kept dim (the generic loop).
    const mid = x64.reshape([3, 100, cols]).transpose(1, 2).contiguous();
    expectClose(Array.from(mid.logsumexp(1).data()), want, 1e-15);
    expect(Array.from(mid.to('float32').logsumexp(1).data())).toEqual(want.map(Math.fround));
    // Middle-dim slices wider than a strip of output columns (1024), on 1-3
    // threads: the row kernel's results on the transposed copy.
    const wide = tg.tensor(Array.from({ length: 2 * 9 * 1500 }, (_, i) => Math.cos(i * 0.77) * 20), { shape: [2, 9, 1500], dtype: 'float64' });
    const byRows = Array.from(wide.transpose(1, 2).contiguous().logsumexp(2).data());
    const before = tg.getNumThreads();
    try {
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        expectClose(Array.from(wide.logsumexp(1).data()), byRows, 1e-15);
      }
    } finally {
      tg.setNumThreads(before);
    }
    const split = x64.reshape([3, 100, cols]).permute([1, 0, 2]).contiguous();  // [100, 3, 257]
    expectClose(Array.from(split.logsumexp([0, 2]).data()), [0, 1, 2].map((b) => {
      const m = Math.max(...want.slice(b * 100, b * 100 + 100));
      return m + Math.log(want.slice(b * 100, b * 100 + 100).reduce((a, v) => a + Math.exp(v - m), 0));
    }), 1e-13);
    const specials = tg.tensor([[NaN, 1], [1, NaN], [Infinity, NaN], [NaN, -Infinity], [-Infinity, -Infinity], [Infinity, Infinity], [-Infinity, 3]]);
    for (const t of [specials, specials.to('float64')]) {
      expect(Array.from(t.logsumexp(1).data())).toEqual([NaN, NaN, NaN, NaN, -Infinity, Infinity, 3]);
      expect(Array.from(t.transpose(0, 1).contiguous().logsumexp(0).data())).toEqual([NaN, NaN, NaN, NaN, -Infinity, Infinity, 3]);
    }
    // Constant columns (var over a leading dim: the column kernels) have
    // variance 0 exactly, as along rows, and std's gradient there is 0.
    for (const dtype of ['float32', 'float64'] as const)
      for (const n of [3, 5, 7, 300]) {
        const c = tg.full([n, 3], 0.1, { dtype, requiresGrad: true });
        expect(Array.from(c.var(0).data())).toEqual([0, 0, 0]);
        c.std(0).sum().backward();
        expect(Array.from(c.grad!.data()).every((v) => v === 0)).toBe(true);
        expect(Array.from(c.detach().transpose(0, 1).contiguous().var(1).data())).toEqual([0, 0, 0]);
      }
    // Rows past the short-row kernels, a NaN where row_max's chains, its
    // vector loop or its tail meet it, or a row of NaNs: NaN rows (the
    // maximum passes NaNs over; the sum of the exps brings them back).
    const n = 203, nanAt = [0, 70, 130, 195, 202];
    const rowsOf = nanAt.map((p) => Array.from({ length: n }, (_, i) => (i === p ? NaN : Math.sin(i * 0.3) * 5)));
    rowsOf.push(new Array(n).fill(NaN), Array.from({ length: n }, (_, i) => Math.sin(i * 0.3) * 5));
    const plain = rowsOf[rowsOf.length - 1], m = Math.max(...plain);
    const plainWant = m + Math.log(plain.reduce((a, v) => a + Math.exp(v - m), 0));
    for (const dtype of ['float32', 'float64'] as const) {
      const t = tg.tensor(rowsOf, { dtype });
      const got = Array.from(t.logsumexp(1).data());
      expect(got.slice(0, -1).every(Number.isNaN)).toBe(true);
      expect(got[got.length - 1]).toBeCloseTo(plainWant, 5);
      const soft = Array.from(tg.nn.functional.softmax(t, 1).data());
      expect(soft.slice(0, -n).every(Number.isNaN)).toBe(true);
      expect(soft.slice(-n).some(Number.isNaN)).toBe(false);
    }
    expect(Array.from(tg.zeros([3, 0]).logsumexp(1).data())).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(Array.from(tg.zeros([2, 0, 2]).logsumexp(1).data())).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    expect(tg.zeros([0, 3]).logsumexp(1).shape).toEqual([0]);
  });
  it('computes int32 input in float32, as PyTorch', () => {
    const r = tg.tensor([0, 0], { dtype: 'int32' }).logsumexp(0);
    expect(r.dtype).toBe('float32');
    expectClose(r.item(), Math.log(2));
  });
  it('gradcheck and gradgradcheck', () => {
    gradcheckDims((x, d, k) => x.logsumexp(d ?? [], k), 12);
    expect(tg.gradgradcheck((x) => x.logsumexp(1), [leaf([3, 4])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.logsumexp([0, 2], true).mul(x), [leaf([2, 3, 2], 2, 3)])).toBe(true);
  });
  it('has the softmax as gradient, 0 for -Infinity inputs, and no NaN for an all -Infinity group', () => {
    const x = f64([[0, Math.log(3)], [-Infinity, 2], [-Infinity, -Infinity]], true);
    const out = x.logsumexp(1);
    expect(out.toArray()).toEqual([Math.log(4), 2, -Infinity]);
    out.backward(f64([1, 1, 1]));
    expectClose(x.grad!.toArray(), [[0.25, 0.75], [0, 1], [0, 0]], 1e-12);
    const big = f64([1000, 1000], true);
    big.logsumexp(0).backward();
    expectClose(big.grad!.toArray(), [0.5, 0.5], 1e-12);
  });
  it('requires dim', () => {
    expect(() => (tg.ones([2]) as unknown as { logsumexp(): Tensor }).logsumexp()).toThrow(/logsumexp: dim is required/);
    expect(() => tg.ones([2]).logsumexp(1)).toThrow(/logsumexp: dim must be in \[-1, 0\]/);
  });
});

describe('norm', () => {
  it('computes hand-checked values', () => {
    const x = f64([[3, -4, 0], [1, -2, 2]]);
    expectClose(x.norm().item(), Math.sqrt(34));
    expectClose(x.norm(2, 1).toArray(), [5, 3]);
    expectClose(x.norm('fro', [0, 1]).item(), Math.sqrt(34));
    expectClose(x.norm(1, 1).toArray(), [7, 5]);
    expectClose(x.norm(Infinity, 1, true).toArray(), [[4], [2]]);
    expectClose(x.norm(-Infinity, 0).toArray(), [1, 2, 0]);
    expectClose(x.norm(0, 1).toArray(), [2, 3]);
    expectClose(x.norm(3, 1).toArray(), [Math.cbrt(91), Math.cbrt(17)]);
    expectClose(x.norm(0.5, 0).toArray(), [(Math.sqrt(3) + 1) ** 2, (2 + Math.sqrt(2)) ** 2, 2]);
  });
  it('is 0 over nothing, and refuses the infinity norms of nothing', () => {
    expect(tg.zeros([0]).norm().item()).toBe(0);
    expect(tg.zeros([0]).norm(1).item()).toBe(0);
    expect(() => tg.zeros([0]).norm(Infinity)).toThrow(RangeError);
    expect(() => tg.zeros([2, 0]).norm(-Infinity, 1)).toThrow(/norm \(p = -Infinity\): cannot reduce over dim 1/);
  });
  it('gradcheck for p = 2, 1, Infinity, -Infinity', () => {
    gradcheckDims((x, d, k) => x.norm(2, d, k), 8);
    gradcheckDims((x, d, k) => x.norm(1, d, k), 9);
    gradcheckDims((x, d, k) => x.norm(Infinity, d, k), 10);
    gradcheckDims((x, d, k) => x.norm(-Infinity, d, k), 11);
    expect(tg.gradgradcheck((x) => x.norm(2, 1), [leaf([3, 4])])).toBe(true);
  });
  it('gradcheck for other p, and gradgradcheck', () => {
    for (const p of [3, 1.5, 0.5, -1]) {
      expect(tg.gradcheck((x) => x.norm(p), [leaf([2, 3], 13)]), `p = ${p}`).toBe(true);
      expect(tg.gradcheck((x) => x.norm(p, [0, -1], true), [leaf([2, 3, 2], 14)]), `p = ${p}`).toBe(true);
      expect(tg.gradcheck((x) => x.transpose(0, 1).norm(p, 1).mul(x.sum()), [leaf([3, 2], 15)]), `p = ${p}`).toBe(true);
    }
    gradcheckDims((x, d, k) => x.norm(3, d, k), 16);
    expect(tg.gradgradcheck((x) => x.norm(3, 1), [leaf([3, 4])])).toBe(true);
    expect(tg.gradgradcheck((x) => x.norm(1.5, 0), [leaf([3, 2], 4)])).toBe(true);
    expect(tg.gradgradcheck((x) => x.norm(1), [leaf([3, 2], 4)])).toBe(true);
    expect(tg.gradgradcheck((x) => x.norm(Infinity, 1), [leaf([3, 2], 4)])).toBe(true);
    expectClose(f64([1, 2]).norm(-1).item(), 2 / 3);
  });
  it('gives finite gradients at zeros for every p', () => {
    for (const p of [2, 3, 1.5, 0.5, 1, 0, -1, Infinity]) {
      const x = f64([[0, 0], [0, 2]], true);
      x.norm(p, 1).sum().backward();
      const g = x.grad!.data();
      expect(Array.from(g).every(Number.isFinite), `p = ${p}: ${Array.from(g)}`).toBe(true);
      expect(g[0], `p = ${p}`).toBe(0);
      expect(g[1], `p = ${p}`).toBe(0);
    }
    const x = f64([0, 2], true);
    x.norm(3).backward();
    expectClose(x.grad!.toArray(), [0, 1]);
    const y = f64([1, 2, 3], true);
    y.norm(0).backward();
    expect(y.grad!.toArray()).toEqual([0, 0, 0]);
  });
  it('has gradient 0 at the zero vector for p = 2, as PyTorch', () => {
    const x = f64([[0, 0], [3, 4]], true);
    x.norm(2, 1).sum().backward();
    expectClose(x.grad!.toArray(), [[0, 0], [0.6, 0.8]]);
    const z = f64([0, 0, 0], true);
    z.norm().backward();
    expect(z.grad!.toArray()).toEqual([0, 0, 0]);
  });
  it('splits the infinity-norm gradient among ties, with the sign of x', () => {
    const x = f64([3, -3, 1], true);
    x.norm(Infinity).backward();
    expect(x.grad!.toArray()).toEqual([0.5, -0.5, 0]);
  });
  it('rejects int32 and bad p', () => {
    expect(() => tg.tensor([1], { dtype: 'int32' }).norm()).toThrow(/norm: input must be a float32 or float64 tensor/);
    expect(() => tg.ones([2]).norm('nuc' as 'fro')).toThrow(/norm: p must be a number or 'fro', got 'nuc'/);
    expect(() => tg.ones([2]).norm(NaN)).toThrow(RangeError);
    expect(() => tg.ones([2]).norm(true as unknown as number)).toThrow(TypeError);
  });
});

describe('all reductions', () => {
  const ops: [string, (x: Tensor) => Tensor][] = [
    ['sum', (x) => x.sum([0, 2])],
    ['mean', (x) => x.mean(1)],
    ['prod', (x) => x.prod(-1)],
    ['max', (x) => x.max(0)],
    ['min', (x) => x.min([1, 2], true)],
    ['var', (x) => x.var(2)],
    ['std', (x) => x.std([0, 1])],
    ['logsumexp', (x) => x.logsumexp(1)],
    ['norm', (x) => x.norm(2, 0)],
    ['norm1', (x) => x.norm(1, [0, 2])],
  ];
  it('agree between float32 and float64', () => {
    const base = leaf([3, 4, 5], 3).detach();
    const single = base.to('float32');
    for (const [name, f] of ops) {
      const a = f(single);
      expect(a.dtype, name).toBe('float32');
      const b = f(base);
      expect(b.dtype, name).toBe('float64');
      expectClose(a.toArray(), b.toArray(), 1e-6);
    }
  });
  it('accumulate float32 in double', () => {
    // 2^24 + 1 + 1 + ...: naive float32 accumulation would lose every 1.
    const values = new Float32Array(1001).fill(1);
    values[0] = 16777216;
    const t = tg.tensor(values);
    expect(t.sum().item()).toBe(16777216 + 1000);
    expectClose(t.mean().item(), (16777216 + 1000) / 1001, 1e-7);
  });
  it('are deterministic', () => {
    const x = tg.randn([64, 33]);
    for (const [name, f] of ops.slice(0, 4)) {
      const y = x.reshape(8, 8, 33);
      expect(Array.from(f(y).data()), name).toEqual(Array.from(f(y).data()));
    }
  });
  it('name the op and range for a bad dim, and reject repeated dims', () => {
    const x = tg.zeros([2, 3]);
    const cases: [string, (d: number | number[]) => Tensor][] = [
      ['sum', (d) => x.sum(d)],
      ['mean', (d) => x.mean(d)],
      ['prod', (d) => x.prod(d)],
      ['max', (d) => x.max(d)],
      ['min', (d) => x.min(d)],
      ['var', (d) => x.var(d)],
      ['std', (d) => x.std(d)],
      ['logsumexp', (d) => x.logsumexp(d)],
      ['norm', (d) => x.norm(2, d)],
    ];
    for (const [name, f] of cases) {
      expect(() => f(2), name).toThrow(RangeError);
      expect(() => f(-3), name).toThrow(
        new RegExp(`^${name}: dim must be in \\[-2, 1\\] for a tensor with 2 dimensions, got -3$`),
      );
      expect(() => f([1, -1]), name).toThrow(new RegExp(`^${name}: dim 1 appears more than once`));
      expect(() => f([0.5]), name).toThrow(new RegExp(`^${name}: dims must be integers`));
    }
    expect(() => x.sum('a' as unknown as number)).toThrow(TypeError);
    // Beyond 2^53 a double is no longer an exact integer (and casting 1e300 to int64 would be undefined behaviour).
    expect(() => x.sum([1e300])).toThrow(/^sum: dims must be integers, got 1e\+300 at index 0$/);
    expect(() => x.max(2 ** 60)).toThrow(/^max: dim must be a safe integer \(at most 2\^53 - 1 in magnitude\), got/);
    expect(() => x.max(0, 1 as unknown as boolean)).toThrow(/max: keepDim must be a boolean/);
  });
  it('handle 0-d tensors', () => {
    const s = f64(2.5);
    for (const f of [(t: Tensor) => t.sum(), (t: Tensor) => t.mean(0), (t: Tensor) => t.max(-1), (t: Tensor) => t.prod()])
      expect(f(s).item()).toBe(2.5);
    expect(s.norm().item()).toBe(2.5);
    expect(s.logsumexp(0).item()).toBe(2.5);
    expect(s.var(undefined, { correction: 0 }).item()).toBe(0);
    expect(s.sum(0, true).shape).toEqual([]);
  });
});

describe('reductions over broadcast views', () => {
  // Each reduction reads a value repeated along a reduced dim (stride 0) once
  // and accounts for its repeats; it must give what it gives on a copy.
  const cases: [string, (x: Tensor) => Tensor][] = [
    ['max', (x) => x.max()], ['max(1)', (x) => x.max(1)], ['min([0, 2])', (x) => x.min([0, 2], true)],
    ['argmax', (x) => x.argmax()], ['argmin', (x) => x.argmin()], ['argmax(1)', (x) => x.argmax(1)],
    ['argmin(0, keepDim)', (x) => x.argmin(0, true)], ['argmax(2)', (x) => x.argmax(2)],
    ['prod', (x) => x.prod()], ['prod(1)', (x) => x.prod(1)], ['prod([1, 2])', (x) => x.prod([1, 2])],
    ['var', (x) => x.var()], ['var(1)', (x) => x.var(1)], ['std([0, 1])', (x) => x.std([0, 1], { correction: 0 })],
    ['norm', (x) => x.norm()], ['norm(1, 1)', (x) => x.norm(1, 1)], ['norm(3)', (x) => x.norm(3)],
    ['norm(0)', (x) => x.norm(0)], ['norm(Inf, 1)', (x) => x.norm(Infinity, 1)], ['norm(-Inf)', (x) => x.norm(-Infinity)],
    ['logsumexp([0, 1, 2])', (x) => x.logsumexp([0, 1, 2])], ['logsumexp(1)', (x) => x.logsumexp(1)],
  ];
  // [3, 1, 4] seen as [3, 5, 4]; a [4] row seen as [3, 5, 4]; a 0-d value as [3, 5, 4];
  // ties and NaN included, so first-occurrence indices are checked.
  const base = [[[0.5, -2, 0.5, 1.25]], [[-1.5, 3, 0, 3]], [[2, -0.25, 3, -3]]];
  const views = (dtype: 'float32' | 'float64'): [string, Tensor][] => [
    ['[3,1,4]', tg.tensor(base, { dtype }).expand([3, 5, 4])],
    ['[4]', tg.tensor([0.75, -1, 2, 2], { dtype }).expand([3, 5, 4])],
    ['0-d', tg.tensor(-1.5, { dtype }).expand([3, 5, 4])],
    ['[3,1,1] transposed', tg.tensor([[[1.5]], [[-0.5]], [[1.5]]], { dtype }).expand([3, 5, 4]).transpose(0, 2)],
    ['with NaN', tg.tensor([[[1, NaN, 2, NaN]]], { dtype }).expand([3, 5, 4])],
  ];
  it('give what they give on a contiguous copy, float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const)
      for (const [name, view] of views(dtype)) {
        const copy = view.contiguous();
        for (const [op, f] of cases) {
          const got = f(view), want = f(copy);
          const where = `${op} of ${name} (${dtype})`;
          expect(got.shape, where).toEqual(want.shape);
          expect(got.dtype, where).toBe(want.dtype);
          if (got.dtype === 'int32' || op.startsWith('max') || op.startsWith('min') || op.includes('Inf')) expect(got.toArray(), where).toEqual(want.toArray());
          else expectClose(got.toArray(), want.toArray(), dtype === 'float32' ? 2e-7 : 1e-14, where);
        }
      }
  });
  it('have the gradients of the whole view (gradcheck through expand)', () => {
    // Every repeat of a value ties with the others: moving the value moves them all.
    const x = tg.tensor([[[0.7, -1.3, 0.4]], [[1.1, 0.6, -0.8]]], { dtype: 'float64', requiresGrad: true });
    const fs: [string, (v: Tensor) => Tensor][] = [
      ['max', (v) => v.max()], ['min(1)', (v) => v.min(1)], ['prod', (v) => v.prod()], ['prod(1)', (v) => v.prod(1)],
      ['var', (v) => v.var()], ['std(1)', (v) => v.std(1)], ['norm', (v) => v.norm()], ['norm(3, [0, 1])', (v) => v.norm(3, [0, 1])],
      ['norm(Inf)', (v) => v.norm(Infinity)], ['logsumexp([0, 1, 2])', (v) => v.logsumexp([0, 1, 2])], ['logsumexp(1)', (v) => v.logsumexp(1)],
    ];
    for (const [name, f] of fs) expect(tg.gradcheck((v) => f(v.expand([2, 4, 3])), [x]), name).toBe(true);
  });
  it('give int32 sums, products and extrema of broadcast views', () => {
    const v = tg.tensor([[3], [-2], [1]], { dtype: 'int32' }).expand([3, 7]);
    expect(v.prod(1).toArray()).toEqual([2187, -128, 1]);
    expect(v.sum(1).toArray()).toEqual([21, -14, 7]);
    expect(v.max(1).toArray()).toEqual([3, -2, 1]);
    expect(v.argmin().item()).toBe(7);
    expect(v.transpose(0, 1).argmin().item()).toBe(1);
    expect(() => tg.tensor([-2], { dtype: 'int32' }).expand([32]).prod()).toThrow(/prod: the result 4294967296 does not fit in int32/);
    expect(tg.tensor([-2], { dtype: 'int32' }).expand([31]).prod().item()).toBe(-2147483648);
    expect(tg.tensor([-1], { dtype: 'int32' }).expand([2 ** 40 + 1]).prod().item()).toBe(-1);
    // logsumexp computes in float32; the view was cast whole first (2**40 elements).
    const l = tg.tensor([[1], [2]], { dtype: 'int32' }).expand([2, 2 ** 40]).logsumexp(1);
    expect(l.dtype).toBe('float32');
    expectClose(l.toArray(), [1 + 40 * Math.LN2, 2 + 40 * Math.LN2], 1e-6);
    expect(v.logsumexp(1).toArray()).toEqual(v.to('float32').contiguous().logsumexp(1).toArray());
  });
  it('take no longer over 2**40 repeats than over the value (each walked every element before)', () => {
    const one = (v: number) => tg.tensor([v], { dtype: 'float64' }).expand([2 ** 20, 2 ** 20]);
    expect(one(2).max().item()).toBe(2);
    expect(one(2).min(1).shape).toEqual([2 ** 20]);
    expect(one(-1).prod().item()).toBe(1);
    expect(one(-1).expand([3, 2 ** 20, 2 ** 20]).prod([0, 1, 2]).item()).toBe(1);
    expect(one(-0.5).prod().item()).toBe(0);
    expect(one(3).var().item()).toBe(0);
    expect(one(3).std().item()).toBe(0);
    expect(one(2).norm(1).item()).toBe(2 ** 41);
    expect(one(2).norm().item()).toBe(2 ** 21);
    expect(one(2).norm(Infinity).item()).toBe(2);
    expect(one(5).norm(0).item()).toBe(2 ** 40);
    expectClose(one(1).logsumexp([0, 1]).item(), 1 + 40 * Math.LN2, 1e-15);
    expect(one(1).argmax(1).shape).toEqual([2 ** 20]);
    expect(tg.tensor([[1, 4]], { dtype: 'float64' }).expand([2 ** 30, 2]).argmax().item()).toBe(1);
    expect(() => one(1).argmax()).toThrow(/argmax: the reduced size 1099511627776 is too large for int32 indices/);
  });
});
