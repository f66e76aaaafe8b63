import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { expectClose, expectSameDigestOnEveryIsa, leaf, runCaseScript, runnableIsas, tg, type Tensor } from '../helpers.js';

const F = tg.nn.functional;
const layerNormCases = path.join(__dirname, 'layer-norm-cases.cjs');
const softmaxCases = path.join(__dirname, 'softmax-cases.cjs');

function ints(values: number[] | number[][], shape?: number[]): Tensor {
  return tg.tensor(values as number[], { dtype: 'int32', ...(shape ? { shape } : {}) });
}
function f64(values: number[] | number[][]): Tensor {
  return tg.tensor(values as number[], { dtype: 'float64' });
}
function flat(t: Tensor): number[] {
  return Array.from(t.data());
}
// Probabilities in (0, 1) from a leaf's values, as a float64 leaf.
function probs(shape: number[], seed: number): Tensor {
  const raw = leaf(shape, seed).detach();
  return tg.tensor(flat(raw).map((v) => 0.15 + 0.35 * (v + 1)), { dtype: 'float64', shape, requiresGrad: true });
}
const logSumExp = (row: number[]) => {
  const m = Math.max(...row);
  return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
};

describe('softmax and logSoftmax', () => {
  it('hand-computed values', () => {
    const x = f64([1, 2, 3]);
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    expectClose(flat(F.softmax(x, 0)), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z], 1e-15);
    expectClose(flat(F.logSoftmax(x, -1)), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)], 1e-15);
  });

  it('is stable for large and infinite inputs', () => {
    const s = F.softmax(tg.tensor([1000, 1001, -Infinity]), 0);
    expectClose(flat(s), [1 / (1 + Math.E), Math.E / (1 + Math.E), 0], 1e-6);
    const l = F.logSoftmax(tg.tensor([1000, 1000]), 0);
    expectClose(flat(l), [-Math.LN2, -Math.LN2], 1e-6);
    expect(flat(F.logSoftmax(tg.tensor([0, -Infinity]), 0))).toEqual([0, -Infinity]);
  });

  it('works along any dim, negative dims, 0-d and non-contiguous inputs', () => {
    const x = leaf([2, 3, 4], 1).detach();
    for (const dim of [0, 1, 2, -1, -2]) {
      const d = dim < 0 ? dim + 3 : dim;
      const s = F.softmax(x, dim);
      expectClose(flat(s.sum(d)), new Array(x.size / x.shape[d]!).fill(1), 1e-12);
      expectClose(flat(F.logSoftmax(x, dim)), flat(s).map(Math.log), 1e-12);
    }
    const t = x.transpose(0, 2);
    expectClose(flat(F.softmax(t, 1)), flat(F.softmax(t.contiguous(), 1)), 1e-15);
    expect(F.softmax(tg.tensor(5), 0).item()).toBe(1);
    expect(F.logSoftmax(tg.tensor(5), -1).item()).toBe(0);
    expect(F.softmax(tg.zeros([2, 0]), 1).shape).toEqual([2, 0]);
  });

  it('gradcheck and gradgradcheck', () => {
    for (const dim of [0, 1, -1]) {
      expect(tg.gradcheck((x) => F.softmax(x, dim), [leaf([3, 4], 2)])).toBe(true);
      expect(tg.gradcheck((x) => F.logSoftmax(x, dim), [leaf([3, 4], 3)])).toBe(true);
    }
    expect(tg.gradcheck((x) => F.softmax(x.transpose(0, 1), 1), [leaf([4, 3], 4)])).toBe(true);
    expect(tg.gradcheck((x) => F.logSoftmax(x, 1).mul(F.softmax(x, 1)), [leaf([2, 3, 2], 5)])).toBe(true);
    expect(tg.gradgradcheck((x) => F.softmax(x, 1), [leaf([2, 3], 6)])).toBe(true);
    expect(tg.gradgradcheck((x) => F.logSoftmax(x, 0), [leaf([3, 2], 7)])).toBe(true);
    expect(tg.gradgradcheck((x) => F.logSoftmax(x.transpose(0, 1), -1), [leaf([3, 2], 8)])).toBe(true);
  });

  it('fused last-dim gradients: second and third order, with the gradient itself a differentiable input', () => {
    // Rows of 19: 16 lanes and a tail. Third order: gradgradcheck of a
    // function that is itself a first-order gradient (createGraph).
    for (const fn of ['softmax', 'logSoftmax'] as const) {
      expect(tg.gradgradcheck((x) => F[fn](x, -1), [leaf([2, 19], 10)]), fn).toBe(true);
      const w = leaf([2, 19], 11).detach();
      const gradOf = (x: Tensor) => tg.grad(F[fn](x, -1).mul(w).sum(), x, { createGraph: true })[0]!;
      expect(tg.gradgradcheck(gradOf, [leaf([2, 19], 12)]), fn).toBe(true);
      // The incoming gradient as an input: the fused op's gradient with respect to it.
      const x = leaf([2, 19], 13);
      const dxOf = (g: Tensor) => tg.grad(F[fn](x, -1), x, { gradOutputs: [g], createGraph: true })[0]!;
      expect(tg.gradcheck(dxOf, [leaf([2, 19], 14)]), fn).toBe(true);
    }
  });

  it('float32 agrees with float64', () => {
    const x = leaf([3, 5], 9, 4).detach();
    expectClose(flat(F.softmax(x.to('float32'), 1)), flat(F.softmax(x, 1)), 1e-6);
    expectClose(flat(F.logSoftmax(x.to('float32'), 1)), flat(F.logSoftmax(x, 1)), 1e-5);
    expect(F.softmax(x.to('float32'), 1).dtype).toBe('float32');
  });

  it('along the last dim and along dim 0 of a transpose, against a float64 reference, on every ISA path', () => {
    // Forward within the exps' rounding (float32) and the sum's order
    // (both), backward of the two paths against each other. The same bits
    // on the paths with FMA; the scalar path rounds the float32 exp's Horner
    // steps separately (basic.inc, mul_add).
    const check = (r: { cases: number }) => expect(r.cases).toBe(40);
    const fused = runnableIsas().filter((isa) => isa !== 'scalar');
    expectSameDigestOnEveryIsa(softmaxCases, [], check, fused);
    expectSameDigestOnEveryIsa(softmaxCases, [], check, ['scalar']);
    // The generic loops (softmax_blocks, the C library's exp) too.
    expect(runCaseScript(softmaxCases, { TAPEGRAD_ELEMENTWISE: 'generic' }).failures).toEqual([]);
  });

  it('along another dim: the same bits as along the last dim of the input with that dim moved last', () => {
    // [N, C, H, W] over the channels, as a segmentation head's, and over dim 0.
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tg.randn([3, 5, 7, 4], { dtype }).mul(3);
      for (const fn of ['softmax', 'logSoftmax'] as const) {
        const byChannels = Array.from(F[fn](x, 1).data());
        const moved = F[fn](x.permute([0, 2, 3, 1]), 3).permute([0, 3, 1, 2]).contiguous();
        expect(byChannels).toEqual(Array.from(moved.data()));
        const byBatch = Array.from(F[fn](x, 0).data());
        expect(byBatch).toEqual(Array.from(F[fn](x.permute([1, 2, 3, 0]), 3).permute([3, 0, 1, 2]).contiguous().data()));
        const sums = F.softmax(x, 1).sum(1).data();
        if (fn === 'softmax') for (const v of sums) expect(Math.abs(v - 1)).toBeLessThan(dtype === 'float32' ? 1e-6 : 1e-14);
      }
    }
  });

  it('rows split across threads give the one-thread bits, forward and backward', () => {
    // 300 rows of 257: several chunks of rows, split at odd positions.
    const x = tg.randn([300, 257]).mul(4);
    const g = tg.randn([300, 257]);
    const threads = tg.getNumThreads();
    const run = (n: number) => {
      tg.setNumThreads(n);
      return [F.softmax, F.logSoftmax].flatMap((f) => {
        const leaf = x.detach().setRequiresGrad(true);
        const y = f(leaf, 1);
        y.backward(g);
        return [Array.from(y.data()), Array.from(leaf.grad!.data())];
      });
    };
    try {
      const one = run(1);
      for (const n of [2, 3]) expect(run(n)).toEqual(one);
    } finally {
      tg.setNumThreads(threads);
    }
  });

  it('rows of up to 64 (each loaded whole, a block of rows at a time) give the long-row loop\'s bits', () => {
    // A row padded with -Infinity to 80 elements takes the loop for long rows:
    // the padding leaves the maximum as it is and adds e^-Infinity = 0 to the
    // sums (and 0·0 or 0 to the gradient's), so the row's own values and
    // gradients must be the same bits. 2000 rows: many blocks, split across
    // threads; a row's whole load reads on into the next rows except at the end.
    const threads = tg.getNumThreads();
    try {
      for (const dtype of ['float32', 'float64'] as const)
        // float64 rows of 33 or more take the loop themselves.
        for (const size of dtype === 'float32' ? [1, 4, 10, 16, 17, 31, 33, 48, 64] : [1, 4, 10, 16, 17, 31, 32]) {
          const rows = 2000;
          const base = tg.randn([rows, size], { dtype }).mul(6);
          const x = tg.where(tg.rand([rows, size]).lt(0.1), -Infinity, base).detach();
          const g = tg.randn([rows, size], { dtype });
          const padded = tg.cat([x, tg.full([rows, 80 - size], -Infinity, { dtype })], 1);
          const paddedG = tg.cat([g, tg.zeros([rows, 80 - size], { dtype })], 1);
          for (const f of [F.softmax, F.logSoftmax]) {
            const run = (input: Tensor, gradOut: Tensor) => {
              const leafIn = input.detach().setRequiresGrad(true);
              const y = f(leafIn, 1);
              const [dx] = tg.grad([y], [leafIn], { gradOutputs: [gradOut] });
              // The bytes, NaNs (rows of size 1 that are -Infinity) as 0: their sign may differ.
              const bits = (t: Tensor) => {
                const d = t.narrow(1, 0, size).contiguous().data().map((v) => (Number.isNaN(v) ? 0 : v));
                return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
              };
              return [bits(y), bits(dx!)];
            };
            tg.setNumThreads(1);
            const long = run(padded, paddedG);
            for (const n of [1, 2]) {
              tg.setNumThreads(n);
              expect(run(x, g)).toEqual(long);
            }
          }
        }
    } finally {
      tg.setNumThreads(threads);
    }
  });

  it('errors', () => {
    expect(() => F.softmax(tg.tensor([1, 2], { dtype: 'int32' }), 0)).toThrow(TypeError);
    expect(() => F.softmax(tg.tensor([1, 2], { dtype: 'int32' }), 0)).toThrow(
      'softmax: input must be a float32 or float64 tensor, got int32',
    );
    expect(() => F.logSoftmax(tg.zeros([2, 3]), 2)).toThrow(RangeError);
    expect(() => F.logSoftmax(tg.zeros([2, 3]), 2)).toThrow('logSoftmax: dim must be in [-2, 1]');
  });
});

describe('crossEntropy and nllLoss', () => {
  const logits = [[1, 2, 3], [1, 0, -1]];

  it('a 2x3 case computed by hand', () => {
    // Row losses: logsumexp(row) - row[target].
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)); // 3.4076059644443806
    const l0 = lse - 3; // target 2
    const l1 = Math.log(Math.exp(1) + Math.exp(0) + Math.exp(-1)) - 0; // target 1
    expect(l0).toBeCloseTo(0.40760596444438, 12);
    const x = f64(logits), t = ints([2, 1]);
    expect(F.crossEntropy(x, t).item()).toBeCloseTo((l0 + l1) / 2, 14);
    expect(F.crossEntropy(x, t, { reduction: 'sum' }).item()).toBeCloseTo(l0 + l1, 14);
    expectClose(flat(F.crossEntropy(x, t, { reduction: 'none' })), [l0, l1], 1e-14);
    expect(F.crossEntropy(x.to('float32'), t).item()).toBeCloseTo((l0 + l1) / 2, 6);
    // nllLoss on log-probabilities gives the same
    expect(F.nllLoss(F.logSoftmax(x, 1), t).item()).toBeCloseTo((l0 + l1) / 2, 14);
    expect(F.nllLoss(f64([[-1, -2, -3], [-4, -5, -6]]), t, { reduction: 'none' }).toArray()).toEqual([3, 5]);
  });

  it('the gradient is (softmax - onehot) / N', () => {
    const x = tg.tensor(logits, { dtype: 'float64', requiresGrad: true });
    F.crossEntropy(x, ints([2, 1])).backward();
    const p = F.softmax(x.detach(), 1).toArray() as number[][];
    const expected = p.map((row, n) => row.map((v, c) => (v - (c === [2, 1][n] ? 1 : 0)) / 2));
    expectClose(x.grad!.toArray(), expected, 1e-14);
  });

  it('class weights and ignoreIndex (mean divides by the weights of the kept targets)', () => {
    const x = f64([[1, 2, 3], [1, 0, -1], [0.5, 0.5, 0]]);
    const lp = F.logSoftmax(x, 1).toArray() as number[][];
    const w = f64([0.2, 0.3, 0.5]);
    const t = ints([2, 1, 0]);
    const ws = [0.5, 0.3, 0.2];
    const losses = [-ws[0]! * lp[0]![2]!, -ws[1]! * lp[1]![1]!, -ws[2]! * lp[2]![0]!];
    expect(F.crossEntropy(x, t, { weight: w }).item()).toBeCloseTo((losses[0]! + losses[1]! + losses[2]!) / 1.0, 14);
    expect(F.crossEntropy(x, t, { weight: w, reduction: 'sum' }).item()).toBeCloseTo(losses[0]! + losses[1]! + losses[2]!, 14);
    expectClose(flat(F.crossEntropy(x, t, { weight: w, reduction: 'none' })), losses, 1e-14);
    // ignore the middle sample: divisor 0.5 + 0.2
    const ti = ints([2, -100, 0]);
    expect(F.crossEntropy(x, ti, { weight: w }).item()).toBeCloseTo((losses[0]! + losses[2]!) / 0.7, 14);
    expectClose(flat(F.crossEntropy(x, ti, { weight: w, reduction: 'none' })), [losses[0]!, 0, losses[2]!], 1e-14);
    const t7 = ints([2, 7, 7]);
    expect(F.crossEntropy(x, t7, { ignoreIndex: 7 }).item()).toBeCloseTo(-lp[0]![2]!, 14);
    // every target ignored: the mean is NaN (0/0), as in PyTorch
    expect(F.crossEntropy(x, ints([-100, -100, -100])).item()).toBeNaN();
    expect(F.nllLoss(x, ints([-100, -100, -100]), { reduction: 'sum' }).item()).toBe(0);
  });

  it('label smoothing follows PyTorch', () => {
    const x = f64([[1, 2, 3], [1, 0, -1], [0.5, 0.5, 0]]);
    const lp = F.logSoftmax(x, 1).toArray() as number[][];
    const t = [2, 1, -100];
    const eps = 0.1, C = 3;
    const w = [0.2, 0.3, 0.5];
    for (const weighted of [false, true]) {
      const wc = (c: number) => (weighted ? w[c]! : 1);
      const nll = t.map((c, n) => (c === -100 ? 0 : -wc(c) * lp[n]![c]!));
      const smooth = t.map((c, n) => (c === -100 ? 0 : -lp[n]!.reduce((s, v, k) => s + v * wc(k), 0)));
      const divisor = t.filter((c) => c !== -100).reduce((s, c) => s + wc(c), 0);
      const mean =
        (1 - eps) * (nll.reduce((a, b) => a + b) / divisor) + (eps / C) * (smooth.reduce((a, b) => a + b) / divisor);
      const options = { labelSmoothing: eps, ...(weighted ? { weight: f64(w) } : {}) };
      expect(F.crossEntropy(x, ints(t), options).item()).toBeCloseTo(mean, 14);
      const none = nll.map((v, i) => (1 - eps) * v + (eps / C) * smooth[i]!);
      expectClose(flat(F.crossEntropy(x, ints(t), { ...options, reduction: 'none' })), none, 1e-14);
      expect(F.crossEntropy(x, ints(t), { ...options, reduction: 'sum' }).item()).toBeCloseTo(
        none.reduce((a, b) => a + b),
        14,
      );
    }
  });

  it('label smoothing: ignored rows get gradient 0 even when every target is ignored', () => {
    // PyTorch 1.13: the loss is NaN (0/0 for the mean) but the ignored rows'
    // gradient is 0, so one all-padding batch does not poison the weights.
    for (const dtype of ['float32', 'float64'] as const) {
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const x = tg.tensor([[0.2, -0.3, 0.1], [1, 2, 3]], { dtype, requiresGrad: true });
        const loss = F.crossEntropy(x, ints([-100, -100]), { labelSmoothing: 0.1, reduction });
        if (reduction === 'mean') expect(loss.item()).toBeNaN();
        else expect(flat(loss).every((v) => v === 0)).toBe(true);
        loss.sum().backward();
        expect(flat(x.grad!)).toEqual([0, 0, 0, 0, 0, 0]);
      }
    }
    // Weighted: the kept row's target has weight 0 (PyTorch: that row NaN, the ignored row 0).
    const x = tg.tensor([[0.2, -0.3, 0.1], [1, 2, 3]], { dtype: 'float64', requiresGrad: true });
    F.crossEntropy(x, ints([0, -100]), { labelSmoothing: 0.1, weight: f64([0, 1, 1]) }).backward();
    const g = flat(x.grad!);
    expect(g.slice(0, 3).every(Number.isNaN)).toBe(true);
    expect(g.slice(3)).toEqual([0, 0, 0]);
  });

  it('probability targets', () => {
    const x = f64([[1, 2, 3], [1, 0, -1]]);
    const lp = F.logSoftmax(x, 1).toArray() as number[][];
    const p = [[0.2, 0.3, 0.5], [1, 0, 0]];
    const rows = p.map((r, n) => -r.reduce((s, v, c) => s + v * lp[n]![c]!, 0));
    expect(F.crossEntropy(x, f64(p)).item()).toBeCloseTo((rows[0]! + rows[1]!) / 2, 14);
    expectClose(flat(F.crossEntropy(x, f64(p), { reduction: 'none' })), rows, 1e-14);
    // one-hot probabilities equal class indices
    const oh = F.oneHot(ints([2, 1]), 3).to('float64');
    expect(F.crossEntropy(x, oh).item()).toBeCloseTo(F.crossEntropy(x, ints([2, 1])).item(), 14);
    // smoothing mixes in 1/C; weights scale each class; the mean divides by N
    const eps = 0.3, w = [1, 2, 3];
    const sm = p.map((r, n) => -r.reduce((s, v, c) => s + w[c]! * (v * (1 - eps) + eps / 3) * lp[n]![c]!, 0));
    expect(F.crossEntropy(x, f64(p), { labelSmoothing: eps, weight: f64(w) }).item()).toBeCloseTo((sm[0]! + sm[1]!) / 2, 14);
  });

  it('spatial dims [N, C, d] and unbatched [C] inputs', () => {
    const x = leaf([2, 3, 4], 11).detach();
    const t = ints([[0, 1, 2, 1], [2, 2, 0, -100]]);
    // [N, C, d] equals the [N*d, C] case with rows taken position by position
    const rows = x.permute(0, 2, 1).reshape(8, 3);
    const tr = t.reshape(8);
    for (const reduction of ['mean', 'sum'] as const)
      expect(F.crossEntropy(x, t, { reduction }).item()).toBeCloseTo(F.crossEntropy(rows, tr, { reduction }).item(), 13);
    const none = F.crossEntropy(x, t, { reduction: 'none', labelSmoothing: 0.2 });
    expect(none.shape).toEqual([2, 4]);
    expectClose(flat(none), flat(F.crossEntropy(rows, tr, { reduction: 'none', labelSmoothing: 0.2 })), 1e-14);
    const one = F.crossEntropy(f64([1, 2, 3]), ints([2]).reshape([]));
    expect(one.shape).toEqual([]);
    expect(one.item()).toBeCloseTo(logSumExp([1, 2, 3]) - 3, 14);
  });

  it('gradcheck for every reduction and option', () => {
    const t = ints([2, 0, 1, 1]);
    const ti = ints([2, -100, 1, 0]);
    const w = f64([0.3, 1.2, 0.7]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const x = leaf([4, 3], 12);
      expect(tg.gradcheck((v) => F.crossEntropy(v, t, { reduction }), [x])).toBe(true);
      expect(tg.gradcheck((v) => F.crossEntropy(v, ti, { reduction, weight: w }), [x])).toBe(true);
      expect(tg.gradcheck((v) => F.crossEntropy(v, ti, { reduction, weight: w, labelSmoothing: 0.2 }), [x])).toBe(true);
      expect(tg.gradcheck((v) => F.crossEntropy(v, ti, { reduction, labelSmoothing: 0.1 }), [x])).toBe(true);
      expect(tg.gradcheck((v) => F.nllLoss(v, ti, { reduction, weight: w }), [x])).toBe(true);
      const p = probs([4, 3], 13);
      expect(tg.gradcheck((v, q) => F.crossEntropy(v, q, { reduction, labelSmoothing: 0.1 }), [x, p])).toBe(true);
      expect(tg.gradcheck((v, q) => F.crossEntropy(v, q, { reduction, weight: w }), [x, p])).toBe(true);
      const xs = leaf([2, 3, 2], 14);
      expect(tg.gradcheck((v) => F.crossEntropy(v, ints([[0, 2], [1, -100]]), { reduction }), [xs])).toBe(true);
    }
    expect(tg.gradcheck((v) => F.crossEntropy(v.transpose(0, 1), ints([1, 0])), [leaf([3, 2], 15)])).toBe(true);
    expect(tg.gradcheck((v) => F.crossEntropy(v, ints([2]).reshape([])), [leaf([3], 16)])).toBe(true);
  });

  it('gradgradcheck', () => {
    const ti = ints([2, -100, 1]);
    expect(tg.gradgradcheck((v) => F.crossEntropy(v, ti), [leaf([3, 3], 17)])).toBe(true);
    expect(tg.gradgradcheck((v) => F.crossEntropy(v, ti, { labelSmoothing: 0.2, weight: f64([1, 2, 3]) }), [leaf([3, 3], 18)])).toBe(true);
    expect(tg.gradgradcheck((v, q) => F.crossEntropy(v, q), [leaf([2, 3], 19), probs([2, 3], 20)])).toBe(true);
    expect(tg.gradgradcheck((v) => F.nllLoss(v, ti, { reduction: 'none' }), [leaf([3, 3], 21)])).toBe(true);
  });

  it('errors name the op, the value and the classes', () => {
    const x = tg.zeros([2, 3]);
    expect(() => F.crossEntropy(x, ints([0, 3]))).toThrow(RangeError);
    expect(() => F.crossEntropy(x, ints([0, 3]))).toThrow('crossEntropy: class index 3 is out of range for 3 classes');
    expect(() => F.nllLoss(x, ints([-1, 0]))).toThrow('nllLoss: class index -1 is out of range for 3 classes');
    expect(() => F.crossEntropy(x, ints([-1, 0]), { ignoreIndex: -1 })).not.toThrow();
    expect(() => F.crossEntropy(x, tg.tensor([0, 1]))).toThrow(TypeError);
    expect(() => F.crossEntropy(x, tg.tensor([0, 1]))).toThrow(
      'crossEntropy: a target of shape [2] holds class indices and must be int32, got float32',
    );
    expect(() => F.crossEntropy(x, ints([[0, 1, 0], [1, 0, 0]]))).toThrow(TypeError);
    expect(() => F.crossEntropy(x, tg.zeros([2, 4]))).toThrow(
      "crossEntropy: probability targets must have the input's shape [2, 3], got [2, 4]",
    );
    expect(() => F.nllLoss(x, tg.tensor([0, 1]))).toThrow('nllLoss: target must be an int32 tensor of class indices, got float32');
    expect(() => F.nllLoss(x, ints([0, 1, 2]))).toThrow(
      'nllLoss: expected target of shape [2] for input of shape [2, 3], got [3]',
    );
    expect(() => F.crossEntropy(x, ints([0, 1]), { weight: tg.ones([2]) })).toThrow(
      'crossEntropy: weight must have shape [3] (one value per class), got [2]',
    );
    expect(() => F.crossEntropy(x, ints([0, 1]), { reduction: 'avg' as 'mean' })).toThrow(RangeError);
    expect(() => F.crossEntropy(x, ints([0, 1]), { reduction: 'avg' as 'mean' })).toThrow(
      "crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'",
    );
    expect(() => F.crossEntropy(x, ints([0, 1]), { labelSmoothing: 1.5 })).toThrow(
      'crossEntropy: labelSmoothing must be between 0 and 1, got 1.5',
    );
    expect(() => F.crossEntropy(x, ints([0, 1]), { ignoreIndex: 0.5 })).toThrow(RangeError);
    expect(() => F.crossEntropy(ints([0, 1]), ints(0 as unknown as number[]))).toThrow(TypeError);
    expect(() => F.crossEntropy(tg.tensor(1), ints([0]))).toThrow(RangeError);
    const wg = tg.ones([3], { requiresGrad: true });
    expect(() => F.crossEntropy(x, ints([0, 1]), { weight: wg })).toThrow(tg.TapegradError);
    expect(() => F.crossEntropy(x, ints([0, 1]), { weight: wg })).toThrow(
      'crossEntropy: gradients with respect to weight are not supported; pass weight.detach()',
    );
  });
});

describe('regression losses', () => {
  const x = [0.5, -1, 3, 2];
  const y = [1, 1, 0.5, 2];

  it('hand-computed values for every reduction', () => {
    const d = x.map((v, i) => v - y[i]!); // [-0.5, -2, 2.5, 0]
    const mse = d.map((v) => v * v);
    const l1 = d.map(Math.abs);
    const huber = d.map((v) => (Math.abs(v) < 1 ? 0.5 * v * v : Math.abs(v) - 0.5));
    const huber2 = d.map((v) => (Math.abs(v) < 2 ? 0.5 * v * v : 2 * (Math.abs(v) - 1)));
    expect(mse).toEqual([0.25, 4, 6.25, 0]);
    const cases: [string, (r: 'mean' | 'sum' | 'none') => Tensor, number[]][] = [
      ['mse', (r) => F.mseLoss(f64(x), f64(y), { reduction: r }), mse],
      ['l1', (r) => F.l1Loss(f64(x), f64(y), { reduction: r }), l1],
      ['huber', (r) => F.huberLoss(f64(x), f64(y), { reduction: r }), huber],
      ['huber delta 2', (r) => F.huberLoss(f64(x), f64(y), { reduction: r, delta: 2 }), huber2],
    ];
    for (const [name, f, elems] of cases) {
      const total = elems.reduce((a, b) => a + b, 0);
      expectClose(flat(f('none')), elems, 1e-15, name);
      expect(f('sum').item(), name).toBeCloseTo(total, 15);
      expect(f('mean').item(), name).toBeCloseTo(total / 4, 15);
    }
    expect(F.mseLoss(tg.tensor(x), tg.tensor(y)).item()).toBeCloseTo(10.5 / 4, 6);
    expect(F.mseLoss(tg.zeros([0]), tg.zeros([0])).item()).toBeNaN();
  });

  it('gradients: hand values, gradcheck and gradgradcheck', () => {
    const a = tg.tensor(x, { dtype: 'float64', requiresGrad: true });
    F.l1Loss(a, f64(y), { reduction: 'sum' }).backward();
    expect(a.grad!.toArray()).toEqual([-1, -1, 1, 0]);
    const b = tg.tensor(x, { dtype: 'float64', requiresGrad: true });
    F.huberLoss(b, f64(y), { reduction: 'sum' }).backward();
    expect(b.grad!.toArray()).toEqual([-0.5, -1, 1, 0]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const p = leaf([3, 2], 1, 2), q = leaf([3, 2], 2, 2);
      expect(tg.gradcheck((u, v) => F.mseLoss(u, v, { reduction }), [p, q])).toBe(true);
      expect(tg.gradcheck((u, v) => F.l1Loss(u, v, { reduction }), [p, q])).toBe(true);
      expect(tg.gradcheck((u, v) => F.huberLoss(u, v, { reduction }), [p, q])).toBe(true);
      expect(tg.gradcheck((u, v) => F.huberLoss(u, v, { reduction, delta: 0.5 }), [p, q])).toBe(true);
    }
    const p = leaf([2, 3], 3, 2), q = leaf([3, 2], 4, 2);
    expect(tg.gradcheck((u, v) => F.mseLoss(u, v.transpose(0, 1)), [p, q])).toBe(true);
    expect(tg.gradcheck((u) => F.l1Loss(u, u.mul(0.5)), [p])).toBe(true);
    expect(tg.gradgradcheck((u, v) => F.mseLoss(u, v), [p, leaf([2, 3], 5)])).toBe(true);
    expect(tg.gradgradcheck((u, v) => F.huberLoss(u, v, { delta: 0.7 }), [p, leaf([2, 3], 6, 2)])).toBe(true);
    expect(tg.gradgradcheck((u, v) => F.l1Loss(u, v, { reduction: 'none' }), [p, leaf([2, 3], 7)])).toBe(true);
  });

  // A reduced loss (mean, sum) against its composite, forward and both
  // gradients bit for bit, in both dtypes, on contiguous and transposed
  // inputs of several shapes (xv, tv give the elements by index).
  function expectReducedBits(
    name: string, xv: (i: number) => number, tv: (i: number) => number,
    fused: (a: tg.Tensor, t: tg.Tensor, reduction: 'mean' | 'sum') => tg.Tensor,
    composite: (a: tg.Tensor, t: tg.Tensor) => tg.Tensor,
  ) {
    for (const dtype of ['float32', 'float64'] as const)
      for (const shape of [[5], [3, 7], [300, 70], [2, 40000]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const xs = tg.tensor(Array.from({ length: n }, (_, i) => xv(i)), { shape, dtype });
        const ts = tg.tensor(Array.from({ length: n }, (_, i) => tv(i)), { shape, dtype });
        const views: [string, tg.Tensor, tg.Tensor][] = [['contiguous', xs, ts]];
        if (shape.length === 2) views.push(['transposed', xs.transpose(0, 1), ts.transpose(0, 1)]);
        for (const [layout, a, t] of views)
          for (const reduction of ['mean', 'sum'] as const) {
            const label = `${name} ${dtype} [${shape}] ${layout} ${reduction}`;
            const leafA = a.detach().setRequiresGrad(true), leafT = t.detach().setRequiresGrad(true);
            const out = fused(leafA, leafT, reduction);
            const refA = a.detach().setRequiresGrad(true), refT = t.detach().setRequiresGrad(true);
            const terms = composite(refA, refT);
            // (The losses' mean: the sum rounded, then divided.)
            const ref = reduction === 'mean' ? terms.sum().div(n) : terms.sum();
            expect(out.item(), label).toBe(ref.item());
            out.backward();
            ref.backward();
            expect(Array.from(leafA.grad!.data()), label).toEqual(Array.from(refA.grad!.data()));
            expect(Array.from(leafT.grad!.data()), label).toEqual(Array.from(refT.grad!.data()));
          }
      }
  }

  // Reduced, mseLoss sums (x - t)² in one pass: the bits of the composite
  // sub, square, sum (and divide), and the composite's gradient.
  it('mseLoss reduced: the bits of the composite ops, forward and gradient, contiguous or not', () => {
    expectReducedBits('mseLoss', (i) => Math.sin(i * 0.7) * 3, (i) => Math.cos(i * 0.3),
      (a, t, reduction) => F.mseLoss(a, t, { reduction }), (a, t) => a.sub(t).square());
  });

  it('huberLoss reduced: the bits of the unreduced loss summed, forward and gradient, contiguous or not', () => {
    // Differences in both zones and on the edges |d| = delta.
    for (const delta of [1, 0.5])
      expectReducedBits(`huberLoss delta ${delta}`, (i) => (i % 17 === 0 ? 1.5 : Math.sin(i * 0.7) * 3),
        (i) => (i % 17 === 0 ? 1 : Math.cos(i * 0.3)),
        (a, t, reduction) => F.huberLoss(a, t, { reduction, delta }), (a, t) => F.huberLoss(a, t, { reduction: 'none', delta }));
    // A NaN anywhere makes the sum NaN, as the elementwise terms would.
    expect(F.huberLoss(tg.tensor([0, NaN, 3]), tg.tensor([1, 1, 1])).item()).toBeNaN();
    // By hand: |d| = 0.5 (quadratic, 0.125), 3 (linear, 1·(3 - 0.5) = 2.5), 1 (edge: linear, 0.5).
    expect(F.huberLoss(tg.tensor([0.5, 4, 2]), tg.tensor([0, 1, 1]), { reduction: 'sum' }).item()).toBe(3.125);
  });

  it('mixed float dtypes promote; float32 agrees with float64', () => {
    const out = F.mseLoss(tg.tensor(x), f64(y));
    expect(out.dtype).toBe('float64');
    expect(F.huberLoss(tg.tensor(x), tg.tensor(y)).item()).toBeCloseTo(F.huberLoss(f64(x), f64(y)).item(), 6);
    expect(F.l1Loss(tg.tensor(x), tg.tensor(y)).item()).toBeCloseTo(F.l1Loss(f64(x), f64(y)).item(), 6);
  });

  it('errors', () => {
    expect(() => F.mseLoss(tg.zeros([3, 1]), tg.zeros([3]))).toThrow(RangeError);
    expect(() => F.mseLoss(tg.zeros([3, 1]), tg.zeros([3]))).toThrow(
      'mseLoss: input of shape [3, 1] and target of shape [3] must have the same shape',
    );
    expect(() => F.l1Loss(tg.zeros([3]), ints([1, 2, 3]))).toThrow(TypeError);
    expect(() => F.l1Loss(tg.zeros([3]), ints([1, 2, 3]))).toThrow('l1Loss: target must be a float32 or float64 tensor, got int32');
    expect(() => F.huberLoss(tg.zeros([3]), tg.zeros([3]), { delta: 0 })).toThrow('huberLoss: delta must be positive, got 0');
    expect(() => F.mseLoss(tg.zeros([3]), 3 as unknown as Tensor)).toThrow('mseLoss: target must be a Tensor, got 3');
  });
});

describe('binaryCrossEntropy', () => {
  it('hand-computed values, clamped logs', () => {
    const x = f64([0.2, 0.9]), t = f64([0, 1]);
    expect(F.binaryCrossEntropy(x, t).item()).toBeCloseTo(-(Math.log(0.8) + Math.log(0.9)) / 2, 15);
    expect(F.binaryCrossEntropy(x, f64([0.5, 0.5]), { reduction: 'sum' }).item()).toBeCloseTo(
      -0.5 * (Math.log(0.2) + Math.log(0.8)) - 0.5 * (Math.log(0.9) + Math.log(0.1)),
      14,
    );
    // log(0) is clamped at -100: a confident wrong answer costs 100
    const clamped = F.binaryCrossEntropy(f64([0, 1, 0, 1]), f64([1, 0, 0, 1]), { reduction: 'none' });
    expect(flat(clamped).map((v) => v + 0)).toEqual([100, 100, 0, 0]);
    const w = f64([[2], [3]]);
    const xx = f64([[0.2, 0.9], [0.5, 0.5]]), tt = f64([[0, 1], [1, 0]]);
    const e = [-2 * Math.log(0.8), -2 * Math.log(0.9), -3 * Math.log(0.5), -3 * Math.log(0.5)];
    expectClose(flat(F.binaryCrossEntropy(xx, tt, { weight: w, reduction: 'none' })), e, 1e-14);
    expect(F.binaryCrossEntropy(xx.to('float32'), tt.to('float32')).item()).toBeCloseTo(F.binaryCrossEntropy(xx, tt).item(), 6);
  });

  it('gradient at the clamp as in PyTorch (denominator at least 1e-12); gradcheck and gradgradcheck', () => {
    const a = tg.tensor([0, 0.5, 1], { dtype: 'float64', requiresGrad: true });
    F.binaryCrossEntropy(a, f64([1, 1, 1]), { reduction: 'sum' }).backward();
    // (x - t) / max(x(1 - x), 1e-12 as a float): a confident wrong answer still learns
    expect(flat(a.grad!).map((v) => v + 0)).toEqual([-1 / Math.fround(1e-12), -2, 0]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      expect(tg.gradcheck((u, v) => F.binaryCrossEntropy(u, v, { reduction }), [probs([2, 3], 1), probs([2, 3], 2)])).toBe(true);
      expect(
        tg.gradcheck((u, v, w) => F.binaryCrossEntropy(u, v, { reduction, weight: w }), [probs([2, 3], 3), probs([2, 3], 4), leaf([3], 5)]),
      ).toBe(true);
    }
    expect(tg.gradgradcheck((u, v) => F.binaryCrossEntropy(u, v), [probs([2, 2], 6), probs([2, 2], 7)])).toBe(true);
  });

  // One node: d/dx = (x - t)/max(x·(1 - x), 1e-12) as PyTorch's, d/dt the
  // difference of the clamped logs (PyTorch 1.13 gives ±inf there).
  it('gradients of both inputs by hand, at the clamp, and through createGraph', () => {
    const grads = (xs: number[], ts: number[], gs: number[], dtype: 'float32' | 'float64' = 'float64') => {
      const x = tg.tensor(xs, { dtype, requiresGrad: true }), t = tg.tensor(ts, { dtype, requiresGrad: true });
      F.binaryCrossEntropy(x, t, { reduction: 'none' }).backward(tg.tensor(gs, { dtype }));
      return [flat(x.grad!).map((v) => v + 0), flat(t.grad!).map((v) => v + 0)];
    };
    const dx = (x: number, t: number, g: number) => g * ((1 - t) / (1 - x) - t / x);
    const dt = (x: number, t: number, g: number) => g * (Math.log(1 - x) - Math.log(x));
    const xs = [0.2, 0.9, 0.5, 0.01], ts = [0, 1, 0.25, 0.7], gs = [1, 2, -1, 0.5];
    const [fx, ft] = grads(xs, ts, gs);
    expectClose(fx, xs.map((x, i) => dx(x, ts[i], gs[i])), 1e-14);
    expectClose(ft, xs.map((x, i) => dt(x, ts[i], gs[i])), 1e-14);
    // An x of 0, 1 or 1e-300 clamps a log: d/dx divides by 1e-12 (PyTorch
    // 1.13: -2.5e11, 2.5e11, -5e11), d/dt uses the clamped value, -100.
    const eps = Math.fround(1e-12); // PyTorch's EPSILON, a float in float64 too
    const [cx, ct] = grads([0, 1, 1e-300, ...xs], [0.25, 0.75, 0.5, ...ts], [1, 1, 1, ...gs]);
    expectClose(cx, [-0.25 / eps, 0.25 / eps, -0.5 / eps, ...fx], 1e-14);
    expectClose(ct, [100, -100, 100, ...ft], 1e-14);
    // float32 agrees with float64 to float32 precision; a right answer at
    // the clamp has no gradient.
    const [gx32] = grads([1, 0, ...xs], [1, 0, ...ts], [1, 1, ...gs], 'float32');
    expectClose(gx32, [0, 0, ...fx], 1e-6);
    // Second derivatives through createGraph: d²l/dx² = (x² - 2xt + t) /
    // (x(1 - x))² and d²l/dxdt = -1/(x(1 - x)) inside; at x = 1 the
    // derivatives of the clamped denominator: 1/1e-12 and -1/1e-12 (PyTorch's
    // own second derivative gives 0 and -1e12 there).
    const x = tg.tensor([0.3, 1], { dtype: 'float64', requiresGrad: true });
    const t = tg.tensor([0.5, 1], { dtype: 'float64', requiresGrad: true });
    const [gx] = tg.grad(F.binaryCrossEntropy(x, t, { reduction: 'sum' }), x, { createGraph: true });
    const [gxx, gxt] = tg.grad(gx!.sum(), [x, t]);
    expectClose(flat(gxx!), [0.29 / 0.21 ** 2, 1 / eps], 1e-13);
    expectClose(flat(gxt!), [-1 / 0.21, -1 / eps], 1e-13);
  });

  it('errors', () => {
    expect(() => F.binaryCrossEntropy(tg.tensor([0.5, 1.5]), tg.tensor([0, 1]))).toThrow(RangeError);
    expect(() => F.binaryCrossEntropy(tg.tensor([0.5, 1.5]), tg.tensor([0, 1]))).toThrow(
      'binaryCrossEntropy: input values must be between 0 and 1, got 1.5',
    );
    // The first value out of range (checked through the extrema), NaN and
    // negatives included, printed as JavaScript prints it.
    const bad = (values: number[]) => () => F.binaryCrossEntropy(tg.tensor(values), tg.zerosLike(tg.tensor(values)));
    expect(bad([0.5, NaN, 2])).toThrow('between 0 and 1, got NaN');
    expect(bad([0.25, -0.5, 0.75])).toThrow('between 0 and 1, got -0.5');
    expect(bad([0.25, -Infinity])).toThrow('between 0 and 1, got -Infinity');
    expect(bad([1, Math.fround(1.0000001)])).toThrow(/between 0 and 1, got 1\.0000001$/);
    expect(() =>
      F.binaryCrossEntropy(tg.tensor([0.5, NaN], { dtype: 'float64' }), tg.tensor([0, 1], { dtype: 'float64' })),
    ).toThrow('got NaN');
    expect(() => F.binaryCrossEntropy(tg.tensor([0.5]), ints([1]))).toThrow(TypeError);
    expect(() => F.binaryCrossEntropy(tg.tensor([0.5, 0.5]), tg.tensor([1, 0]), { weight: tg.ones([3]) })).toThrow(RangeError);
  });
});

describe('binaryCrossEntropyWithLogits', () => {
  const sp = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))); // log(1 + e^z)

  it('hand-computed values, posWeight and weight', () => {
    const x = [0, 2, -1, 0.5], t = [0, 1, 0.5, 1];
    const l = x.map((v, i) => (1 - t[i]!) * v + sp(-v));
    expectClose(flat(F.binaryCrossEntropyWithLogits(f64(x), f64(t), { reduction: 'none' })), l, 1e-15);
    expect(F.binaryCrossEntropyWithLogits(f64(x), f64(t)).item()).toBeCloseTo(l.reduce((a, b) => a + b) / 4, 15);
    // equals binaryCrossEntropy of the probabilities
    expect(F.binaryCrossEntropyWithLogits(f64(x), f64(t)).item()).toBeCloseTo(F.binaryCrossEntropy(F.sigmoid(f64(x)), f64(t)).item(), 14);
    const xx = [[0.5, -2], [1, 3]], tt = [[1, 0], [0.3, 1]], pw = [2, 0.5], w = [[1], [3]];
    const e = xx.flatMap((r, n) => r.map((v, c) => w[n]![0]! * ((1 - tt[n]![c]!) * v + (1 + (pw[c]! - 1) * tt[n]![c]!) * sp(-v))));
    expectClose(
      flat(F.binaryCrossEntropyWithLogits(f64(xx), f64(tt), { posWeight: f64(pw), weight: f64(w), reduction: 'none' })),
      e,
      1e-14,
    );
    expect(F.binaryCrossEntropyWithLogits(f64(xx).to('float32'), f64(tt).to('float32'), { posWeight: f64(pw).to('float32') }).item()).toBeCloseTo(
      F.binaryCrossEntropyWithLogits(f64(xx), f64(tt), { posWeight: f64(pw) }).item(),
      6,
    );
  });

  it('is stable for large logits', () => {
    const out = flat(F.binaryCrossEntropyWithLogits(tg.tensor([100, -100, 1000, -1000]), tg.tensor([1, 0, 0, 1]), { reduction: 'none' }));
    expectClose(out, [0, 0, 1000, 1000], 1e-6);
    const a = tg.tensor([1000, -1000], { requiresGrad: true });
    F.binaryCrossEntropyWithLogits(a, tg.tensor([0, 0]), { reduction: 'sum' }).backward();
    expect(flat(a.grad!)).toEqual([1, 0]); // sigmoid(x) - t
  });

  it('gradcheck and gradgradcheck in every argument', () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const x = leaf([2, 3], 1, 2), t = probs([2, 3], 2);
      expect(tg.gradcheck((u, v) => F.binaryCrossEntropyWithLogits(u, v, { reduction }), [x, t])).toBe(true);
      expect(
        tg.gradcheck((u, v, w, p) => F.binaryCrossEntropyWithLogits(u, v, { reduction, weight: w, posWeight: p }), [
          x, t, leaf([2, 1], 3), leaf([3], 4, 0.5).add(1).detach().setRequiresGrad(),
        ]),
      ).toBe(true);
    }
    expect(tg.gradgradcheck((u, v, p) => F.binaryCrossEntropyWithLogits(u, v, { posWeight: p }), [leaf([2, 2], 5), probs([2, 2], 6), leaf([2], 7)])).toBe(true);
  });

  it('errors', () => {
    expect(() => F.binaryCrossEntropyWithLogits(tg.zeros([2]), tg.zeros([3]))).toThrow(RangeError);
    expect(() => F.binaryCrossEntropyWithLogits(tg.zeros([2]), ints([0, 1]))).toThrow(
      'binaryCrossEntropyWithLogits: target must be a float32 or float64 tensor, got int32',
    );
    expect(() => F.binaryCrossEntropyWithLogits(tg.zeros([2, 3]), tg.zeros([2, 3]), { posWeight: tg.ones([2]) })).toThrow(
      'binaryCrossEntropyWithLogits: posWeight of shape [2] cannot be broadcast to the input shape [2, 3]',
    );
  });
});

describe('activations re-exported in nn.functional', () => {
  it('match the Tensor methods', () => {
    const x = leaf([5], 1, 3).detach();
    const same = (a: Tensor, b: Tensor) => expect(flat(a)).toEqual(flat(b));
    same(F.relu(x), x.relu());
    same(F.gelu(x), x.gelu());
    same(F.gelu(x, { approximate: 'tanh' }), x.gelu({ approximate: 'tanh' }));
    same(F.silu(x), x.silu());
    same(F.sigmoid(x), x.sigmoid());
    same(F.tanh(x), x.tanh());
    same(F.leakyRelu(x), x.leakyRelu(0.01));
    same(F.leakyRelu(x, 0.2), x.leakyRelu(0.2));
    same(F.elu(x, 0.5), x.elu(0.5));
    same(F.softplus(x, 2, 1), x.softplus(2, 1));
    expect(flat(F.relu(f64([-1, 2])))).toEqual([0, 2]);
    expect(() => F.relu(3 as unknown as Tensor)).toThrow(TypeError);
    expect(() => F.relu(3 as unknown as Tensor)).toThrow('relu: input must be a Tensor, got 3');
  });
});

describe('layerNorm', () => {
  it('hand-computed values', () => {
    const x = f64([[1, 2, 3, 4], [2, 2, 2, 2]]);
    const s = Math.sqrt(1.25 + 1e-5);
    const row0 = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
    expectClose(F.layerNorm(x, [4]).toArray(), [row0, [0, 0, 0, 0]], 1e-14);
    const w = f64([1, 2, 3, 4]), b = f64([0, 0, 0, 1]);
    expectClose(flat(F.layerNorm(x, 4, w, b).reshape(-1)), [...row0.map((v, i) => v * (i + 1) + (i === 3 ? 1 : 0)), 0, 0, 0, 1], 1e-14);
    const z = F.layerNorm(x, [2, 4], null, null, 0);
    const all = [1, 2, 3, 4, 2, 2, 2, 2];
    const m = 18 / 8, v = all.reduce((a, c) => a + (c - m) ** 2, 0) / 8;
    expectClose(flat(z), all.map((c) => (c - m) / Math.sqrt(v)), 1e-14);
    expect(F.layerNorm(x.to('float32'), [4]).dtype).toBe('float32');
    expectClose(flat(F.layerNorm(x.to('float32'), [4])), flat(F.layerNorm(x, [4])), 1e-5);
  });

  it('gradcheck and gradgradcheck', () => {
    const f = (x: Tensor, w?: Tensor, b?: Tensor) => F.layerNorm(x, [3], w, b);
    expect(tg.gradcheck((x) => f(x), [leaf([2, 3], 1)])).toBe(true);
    expect(tg.gradcheck((x, w, b) => f(x, w, b), [leaf([2, 3], 2), leaf([3], 3), leaf([3], 4)])).toBe(true);
    expect(tg.gradcheck((x, w) => F.layerNorm(x, [2, 3], w), [leaf([2, 2, 3], 5), leaf([2, 3], 6)])).toBe(true);
    expect(tg.gradcheck((x, b) => F.layerNorm(x.transpose(0, 1), [2], null, b), [leaf([2, 3], 7), leaf([2], 8)])).toBe(true);
    expect(tg.gradcheck((w) => F.layerNorm(leaf([2, 3], 9).detach(), [3], w), [leaf([3], 10)])).toBe(true);
    expect(tg.gradgradcheck((x) => f(x), [leaf([2, 3], 11)])).toBe(true);
    expect(tg.gradgradcheck((x, w, b) => f(x, w, b), [leaf([2, 3], 12), leaf([3], 13), leaf([3], 14)])).toBe(true);
  });

  // The first-order gradients as a function of everything they depend on
  // (the fused layerNormBackward op and, through mean and rstd, the stats op).
  const lnGrads = (shape: number[], affine: 'both' | 'weight' | 'bias' | 'none') =>
    (x: Tensor, g: Tensor, w?: Tensor, b?: Tensor): Tensor[] => {
      const wt = affine === 'both' || affine === 'weight' ? w! : null;
      const bt = affine === 'both' || affine === 'bias' ? b! : null;
      const ins = [x, ...(wt ? [wt] : []), ...(bt ? [bt] : [])];
      return tg.grad(F.layerNorm(x, shape, wt, bt), ins, { gradOutputs: g, createGraph: true }) as Tensor[];
    };

  it('fused backward: gradcheck in all its inputs, and second order', () => {
    // Differentiating the gradients checks layerNormBackward's own backward.
    expect(tg.gradcheck(lnGrads([3], 'both'), [leaf([2, 3], 21), leaf([2, 3], 22), leaf([3], 23), leaf([3], 24)])).toBe(true);
    expect(tg.gradcheck(lnGrads([2, 3], 'weight'), [leaf([2, 2, 3], 25), leaf([2, 2, 3], 26), leaf([2, 3], 27)])).toBe(true);
    expect(tg.gradcheck(lnGrads([4], 'bias'), [leaf([3, 4], 28), leaf([3, 4], 29), leaf([4], 30), leaf([4], 31)])).toBe(true);
    expect(tg.gradcheck(lnGrads([5], 'none'), [leaf([2, 5], 32), leaf([2, 5], 33)])).toBe(true);
    // Rows longer than the kernels' 16 lanes.
    expect(tg.gradcheck(lnGrads([19], 'both'), [leaf([2, 19], 34), leaf([2, 19], 35), leaf([19], 36), leaf([19], 37)])).toBe(true);
    expect(tg.gradgradcheck((x, w, b) => F.layerNorm(x, [2, 3], w, b), [leaf([2, 2, 3], 38), leaf([2, 3], 39), leaf([2, 3], 40)])).toBe(true);
    expect(tg.gradgradcheck((x) => F.layerNorm(x, [2, 2]), [leaf([3, 2, 2], 41)])).toBe(true);
    // Third order: the gradients of layerNormBackward's backward.
    expect(tg.gradgradcheck(lnGrads([3], 'both'), [leaf([2, 3], 42), leaf([2, 3], 43), leaf([3], 44), leaf([3], 45)])).toBe(true);
  });

  it('backward: hand-computed values', () => {
    // Row 0: x = [1, 2, 3, 4], mean 2.5, var 1.25, r = 1/√1.25, x̂ = [-1.5, -0.5, 0.5, 1.5]·r;
    // g = [1, 0, 0, 0], w0 = 2: ĝ = [2, 0, 0, 0], mean(ĝ) = 0.5, mean(ĝ·x̂) = -0.75r,
    // dx = r·(ĝ - 0.5 + 0.75r·x̂) = 2r·[0.3, -0.4, -0.1, 0.2].
    // Row 1: x = [0, 0, 4, 4], r = 0.5, x̂ = [-1, -1, 1, 1]; g = [0, 0, 0, 1], w3 = 1:
    // dx = 0.5·([0, 0, 0, 1] - 0.25 - 0.25·x̂) = [0, 0, -0.25, 0.25].
    const r = 1 / Math.sqrt(1.25);
    const x = tg.tensor([[1, 2, 3, 4], [0, 0, 4, 4]], { dtype: 'float64', requiresGrad: true });
    const w = tg.tensor([2, 1, 1, 1], { dtype: 'float64', requiresGrad: true });
    const b = tg.zeros([4], { dtype: 'float64', requiresGrad: true });
    F.layerNorm(x, [4], w, b, 0).backward(f64([[1, 0, 0, 0], [0, 0, 0, 1]]));
    expectClose(x.grad!.toArray(), [[0.6 * r, -0.8 * r, -0.2 * r, 0.4 * r], [0, 0, -0.25, 0.25]], 1e-14);
    expectClose(flat(w.grad!), [-1.5 * r, 0, 0, 1], 1e-14);
    expectClose(flat(b.grad!), [1, 0, 0, 1], 1e-14);
    // A sum's gradient arrives as a broadcast (stride-0) tensor; dx of a sum is 0.
    const x2 = tg.tensor([[1, 5, 2], [3, 3, 9]], { dtype: 'float64', requiresGrad: true });
    F.layerNorm(x2, [3]).sum().backward();
    expectClose(flat(x2.grad!), [0, 0, 0, 0, 0, 0], 1e-15);
  });

  // An input that needs no gradient (an input batch, the output of a frozen
  // embedding) gets no dx: the backward computes only the affine gradients.
  const bits = (t: Tensor | null) => {
    if (t === null) return null;
    const d = t.data();
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  };

  it('an input that needs no gradient: no dx, and the same weight and bias gradients', () => {
    for (const dtype of ['float32', 'float64'] as const)
      for (const affine of ['both', 'weight', 'bias'] as const)
        for (const shape of [[6, 19], [96, 1024]]) {
          const cols = shape[1];
          const x = leaf(shape, 60).detach().to(dtype), g = leaf(shape, 61).detach().to(dtype);
          const run = (xIn: Tensor) => {
            const w = affine !== 'bias' ? leaf([cols], 62).detach().to(dtype).setRequiresGrad(true) : null;
            const b = affine !== 'weight' ? leaf([cols], 63).detach().to(dtype).setRequiresGrad(true) : null;
            F.layerNorm(xIn, [cols], w, b).backward(g);
            return [w && w.grad, b && b.grad].map(bits);
          };
          const withDx = x.clone().setRequiresGrad(true);
          const expected = run(withDx);
          expect(withDx.grad).not.toBeNull();
          expect(run(x)).toEqual(expected);
          expect(x.grad).toBeNull();
        }
  });

  it('after a frozen embedding: the LayerNorm gradients of a trainable one, none for the embedding', () => {
    const emb = new tg.nn.Embedding(10, 24), ln = new tg.nn.LayerNorm(24);
    const idx = ints([[1, 2, 3], [4, 5, 9]]);
    const g = leaf([2, 3, 24], 64).detach().to('float32');
    const run = (frozen: boolean) => {
      emb.weight.setRequiresGrad(!frozen);
      emb.weight.grad = null;
      ln.zeroGrad();
      ln.forward(emb.forward(idx)).backward(g);
      return [ln.weight!.grad, ln.bias!.grad].map(bits);
    };
    const expected = run(false);
    expect(emb.weight.grad).not.toBeNull();
    expect(run(true)).toEqual(expected);
    expect(emb.weight.grad).toBeNull();
  });

  it('without dx, the affine gradients differentiate again in the output gradient', () => {
    const x = leaf([3, 5], 65).detach();
    // dweight = Σ g·x̂ and dbias = Σ g: linear in g, constant in weight and bias.
    const grads = (g: Tensor, w: Tensor, b: Tensor) =>
      tg.grad(F.layerNorm(x, [5], w, b), [w, b], { gradOutputs: g, createGraph: true }) as Tensor[];
    expect(tg.gradcheck(grads, [leaf([3, 5], 66), leaf([5], 67), leaf([5], 68)])).toBe(true);
    const [dw, db] = grads(leaf([3, 5], 69), leaf([5], 70), leaf([5], 71));
    expect(dw.gradFn).toBe('layerNormBackward');
    expect(db.gradFn).toBe('layerNormBackward');
  });

  it('normalizedShape over two trailing dims, and no weight or bias', () => {
    const x = leaf([3, 2, 5], 46).detach();
    const z = F.layerNorm(x, [2, 5]);
    const zr = F.layerNorm(x.reshape([3, 10]), [10]).reshape([3, 2, 5]);
    expectClose(z.toArray(), zr.toArray(), 1e-15);
    const w = leaf([2, 5], 47), b = leaf([2, 5], 48);
    const y = F.layerNorm(x, [2, 5], w, b);
    expectClose(flat(y), flat(z.mul(w).add(b)), 1e-15);
    expect(tg.gradcheck((xx) => F.layerNorm(xx, [2, 5]), [leaf([3, 2, 5], 49)])).toBe(true);
    expect(tg.gradcheck((xx, bb) => F.layerNorm(xx, [5], null, bb), [leaf([4, 5], 50), leaf([5], 51)])).toBe(true);
  });

  it('identical results for 1 and 2 threads', () => {
    const threads = tg.getNumThreads();
    const run = (n: number) => {
      tg.setNumThreads(n);
      try {
        // Large enough that rows and the affine gradients' row blocks are split.
        const x = leaf([96, 1024], 52).detach().to('float32').setRequiresGrad(true);
        const w = leaf([1024], 53).detach().to('float32').setRequiresGrad(true);
        const b = leaf([1024], 54).detach().to('float32').setRequiresGrad(true);
        const y = F.layerNorm(x, [1024], w, b);
        y.backward(leaf([96, 1024], 55).detach().to('float32'));
        return [y, x.grad!, w.grad!, b.grad!].map((t) => Array.from(t.data()));
      } finally {
        tg.setNumThreads(threads);
      }
    };
    const one = run(1), two = run(2);
    for (let i = 0; i < one.length; i++) expect(two[i]).toEqual(one[i]);
  });

  it('accurate, and bitwise identical across ISA paths and thread counts', () => {
    expectSameDigestOnEveryIsa(layerNormCases, ['1', '2']);
  });

  it('errors', () => {
    expect(() => F.layerNorm(tg.zeros([2, 3]), [4])).toThrow(RangeError);
    expect(() => F.layerNorm(tg.zeros([2, 3]), [4])).toThrow(
      'layerNorm: normalizedShape [4] does not match the trailing dims of input shape [2, 3]',
    );
    expect(() => F.layerNorm(tg.zeros([2, 3]), [])).toThrow('layerNorm: normalizedShape must have at least one dim, got []');
    expect(() => F.layerNorm(tg.zeros([2, 3]), [3], tg.ones([2]))).toThrow(
      'layerNorm: weight must have the normalizedShape [3], got [2]',
    );
    expect(() => F.layerNorm(tg.zeros([2, 3]), [3], null, tg.ones([3], { dtype: 'float64' }))).toThrow(TypeError);
    expect(() => F.layerNorm(tg.zeros([2, 3]), [3], null, null, -1)).toThrow(RangeError);
    expect(() => F.layerNorm(ints([1, 2]), [2])).toThrow(TypeError);
  });
});

describe('dropout', () => {
  it('is the identity when not training or p = 0, zero when p = 1', () => {
    const x = tg.tensor([1, 2, 3]);
    expect(F.dropout(x, 0.5, false).toArray()).toEqual([1, 2, 3]);
    expect(F.dropout(x, 0).toArray()).toEqual([1, 2, 3]);
    expect(F.dropout(x, 1).toArray()).toEqual([0, 0, 0]);
  });

  it('drops about p of the elements, scales the rest, and repeats under a seed', () => {
    tg.manualSeed(7);
    const x = tg.ones([20000], { dtype: 'float64' });
    const a = flat(F.dropout(x, 0.3));
    const kept = a.filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([1 / 0.7]));
    expect(Math.abs(kept.length / a.length - 0.7)).toBeLessThan(0.02);
    tg.manualSeed(7);
    expect(flat(F.dropout(x, 0.3))).toEqual(a);
    expect(flat(F.dropout(x, 0.3))).not.toEqual(a);
  });

  it('the gradient is the mask', () => {
    tg.manualSeed(3);
    const x = tg.tensor([1, 2, 3, 4, 5, 6, 7, 8], { dtype: 'float64', requiresGrad: true });
    const y = F.dropout(x, 0.5);
    y.sum().backward();
    expect(flat(x.grad!)).toEqual(flat(y).map((v, i) => v / (i + 1)));
    expect(flat(x.grad!).every((v) => v === 0 || v === 2)).toBe(true);
    expect(tg.gradcheck((u) => { tg.manualSeed(4); return F.dropout(u, 0.4); }, [leaf([3, 4], 1)])).toBe(true);
    expect(tg.gradgradcheck((u) => { tg.manualSeed(4); return F.dropout(u, 0.4).mul(u); }, [leaf([3], 2)])).toBe(true);
  });

  it('errors', () => {
    expect(() => F.dropout(tg.ones([2]), 1.5)).toThrow(RangeError);
    expect(() => F.dropout(tg.ones([2]), 1.5)).toThrow('dropout: p must be between 0 and 1, got 1.5');
    expect(() => F.dropout(tg.ones([2]), NaN)).toThrow(RangeError);
    expect(() => F.dropout(ints([1]), 0.5)).toThrow(TypeError);
  });
});

describe('embedding and oneHot', () => {
  // The forward split by indices, the backward by weight rows (700 rows of
  // 300: a part per thread): each weight row's gradient adds its indices'
  // rows in index order on any thread count.
  it('embedding forward and backward on 1, 2 and 3 threads: the in-order float32 sums, bit for bit', () => {
    const before = tg.getNumThreads();
    try {
      const rows = 700, dim = 300, n = 5000;
      const ids = Array.from({ length: n }, (_, k) => (k * 7919 + (k >> 3)) % rows);
      const wv = Array.from({ length: rows * dim }, (_, i) => Math.fround(Math.sin(i)));
      const gv = Array.from({ length: n * dim }, (_, i) => Math.fround(Math.cos(i * 0.7)));
      const want = new Float32Array(rows * dim);
      for (let k = 0; k < n; k++) for (let j = 0; j < dim; j++) want[ids[k]! * dim + j] += gv[k * dim + j]!;
      for (const threads of [1, 2, 3]) {
        tg.setNumThreads(threads);
        const w = tg.tensor(wv, { shape: [rows, dim], requiresGrad: true });
        const out = F.embedding(tg.tensor(ids, { dtype: 'int32' }), w);
        const got = Array.from(out.data());
        expect(got.every((v, i) => v === wv[ids[Math.floor(i / dim)]! * dim + (i % dim)]), `forward, ${threads} threads`).toBe(true);
        out.backward(tg.tensor(gv, { shape: [n, dim] }));
        expect(Array.from(w.grad!.data()), `backward, ${threads} threads`).toEqual(Array.from(want));
      }
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('embedding picks rows and accumulates gradients of repeated indices', () => {
    const w = tg.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64', requiresGrad: true });
    const idx = ints([[2, 0], [2, 2]]);
    const out = F.embedding(idx, w);
    expect(out.shape).toEqual([2, 2, 2]);
    expect(out.toArray()).toEqual([[[5, 6], [1, 2]], [[5, 6], [5, 6]]]);
    out.sum().backward();
    expect(w.grad!.toArray()).toEqual([[1, 1], [0, 0], [3, 3]]);
    expect(F.embedding(ints([1]).reshape([]), w.detach()).toArray()).toEqual([3, 4]);
    expect(F.embedding(ints([]), w.detach()).shape).toEqual([0, 2]);
    expect(F.embedding(ints([0, 2]), w.detach().transpose(0, 1).contiguous().transpose(0, 1)).toArray()).toEqual([[1, 2], [5, 6]]);
    // Rows of a view that starts past its storage's first element.
    expect(F.embedding(ints([1, 0]), w.detach().narrow(0, 1, 2)).toArray()).toEqual([[5, 6], [3, 4]]);
  });

  it('embedding with paddingIdx: the padding row passes its value but gets no gradient', () => {
    for (const paddingIdx of [1, -2]) {
      const w = tg.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64', requiresGrad: true });
      const out = F.embedding(ints([[1, 0], [1, 2]]), w, { paddingIdx });
      expect(out.toArray()).toEqual([[[3, 4], [1, 2]], [[3, 4], [5, 6]]]);
      out.mul(tg.tensor([2, 3], { dtype: 'float64' })).sum().backward();
      expect(w.grad!.toArray()).toEqual([[2, 3], [0, 0], [2, 3]]);
    }
    // The other rows' gradients are the plain lookup's (no gradcheck: the padding row's value does move the output).
    const idx = ints([[1, 0, 1], [3, 3, 2]]);
    const w = leaf([4, 2], 4), v = leaf([4, 2], 4);
    F.embedding(idx, w, { paddingIdx: 3 }).square().sum().backward();
    F.embedding(idx, v).square().sum().backward();
    expect(flat(w.grad!)).toEqual([...flat(v.grad!).slice(0, 6), 0, 0]);
    // A weight that needs no gradient gets the plain lookup; null is no padding row.
    expect(F.embedding(ints([0, 2]), tg.zeros([3, 2]), { paddingIdx: 0 }).shape).toEqual([2, 2]);
    expect(F.embedding(ints([0]), tg.ones([3, 2]), { paddingIdx: null }).toArray()).toEqual([[1, 1]]);
    const z = tg.zeros([3, 2]);
    expect(() => F.embedding(ints([0]), z, { paddingIdx: 3 })).toThrow(
      new RangeError('embedding: paddingIdx must be in [-3, 2] (weight has 3 rows), got 3'),
    );
    expect(() => F.embedding(ints([0]), z, { paddingIdx: 0.5 })).toThrow(
      new RangeError('embedding: paddingIdx must be an integer, got 0.5'),
    );
    expect(() => F.embedding(ints([0]), z, { padding_idx: 0 } as never)).toThrow(
      new TypeError("embedding: unknown option 'padding_idx'; the options are paddingIdx, maxNorm, normType"),
    );
  });

  it('embedding gradcheck and gradgradcheck', () => {
    const idx = ints([[1, 0, 1], [3, 3, 3]]);
    expect(tg.gradcheck((w) => F.embedding(idx, w), [leaf([4, 2], 1)])).toBe(true);
    expect(tg.gradcheck((w) => F.embedding(idx, w.transpose(0, 1)), [leaf([2, 4], 2)])).toBe(true);
    expect(tg.gradgradcheck((w) => F.embedding(idx, w).mul(F.embedding(idx, w)), [leaf([4, 2], 3)])).toBe(true);
  });

  it('embedding with paddingIdx: gradcheck and gradgradcheck in float64', () => {
    const idx = ints([[1, 0, 3], [3, 2, 3]]);
    // First order: the padding row's value moves the output but gets no gradient by definition, so it is
    // a constant here; the other rows are checked with padding lookups among theirs.
    const pad = tg.tensor([[0.25, -0.5]], { dtype: 'float64' });
    expect(tg.gradcheck((w) => F.embedding(idx, tg.cat([w, pad]), { paddingIdx: 3 }), [leaf([3, 2], 5)])).toBe(true);
    expect(tg.gradcheck((w) => F.embedding(idx, tg.cat([w, pad]).T.contiguous().T, { paddingIdx: -1 }), [leaf([3, 2], 6)])).toBe(true);
    // Second order, with the padding row a leaf: the gradient never depends on the gradient outputs at
    // padding lookups, so the backward's own gradient must be 0 there.
    for (const paddingIdx of [3, -1, 0]) {
      const f = (w: Tensor) => F.embedding(idx, w, { paddingIdx }).mul(F.embedding(idx, w, { paddingIdx }));
      expect(tg.gradgradcheck(f, [leaf([4, 2], 7)]), `paddingIdx ${paddingIdx}`).toBe(true);
      expect(tg.gradgradcheck((w) => F.embedding(idx, w, { paddingIdx }), [leaf([4, 2], 8)]), `paddingIdx ${paddingIdx}`).toBe(true);
    }
  });

  it('oneHot', () => {
    expect(F.oneHot(ints([0, 2, 1])).toArray()).toEqual([[1, 0, 0], [0, 0, 1], [0, 1, 0]]);
    expect(F.oneHot(ints([1]), 4).toArray()).toEqual([[0, 1, 0, 0]]);
    expect(F.oneHot(ints([[1], [0]]), 2).shape).toEqual([2, 1, 2]);
    expect(F.oneHot(ints([0])).dtype).toBe('int32');
    expect(F.oneHot(ints([]), 3).shape).toEqual([0, 3]);
  });

  it('errors', () => {
    const w = tg.zeros([3, 2]);
    expect(() => F.embedding(ints([3]), w)).toThrow(RangeError);
    expect(() => F.embedding(ints([3]), w)).toThrow('embedding: index 3 is out of range for a weight with 3 rows');
    expect(() => F.embedding(ints([-1]), w)).toThrow('embedding: index -1 is out of range for a weight with 3 rows');
    expect(() => F.embedding(tg.tensor([1]), w)).toThrow(TypeError);
    expect(() => F.embedding(tg.tensor([1]), w)).toThrow('embedding: indices must be an int32 tensor, got float32');
    expect(() => F.embedding(ints([1]), tg.zeros([3]))).toThrow(RangeError);
    // An output too large for memory is refused before the indices (here a
    // broadcast view of 2^40 elements) are copied and checked: the error names
    // embedding's output, not the copy.
    const huge = ints([1]).reshape([1, 1]).expand([2 ** 20, 2 ** 20]);
    expect(() => F.embedding(huge, tg.zeros([3, 64]))).toThrow(
      new RangeError('embedding: cannot allocate 281474976710656 bytes (out of memory)'),
    );
    expect(() => F.oneHot(ints([0, 3]), 3)).toThrow(RangeError);
    expect(() => F.oneHot(ints([0, 3]), 3)).toThrow('oneHot: class index 3 is out of range for 3 classes');
    expect(() => F.oneHot(ints([-2]))).toThrow('oneHot: class index -2 is negative');
    expect(() => F.oneHot(ints([]))).toThrow('oneHot: cannot infer numClasses from an empty tensor; pass numClasses');
    expect(() => F.oneHot(tg.tensor([1]))).toThrow(TypeError);
    expect(() => F.oneHot(ints([1]), -3)).toThrow(RangeError);
  });
});

describe('a 2-layer MLP', () => {
  const act = (h: Tensor) => F.tanh(h);
  const mlp = (x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) => F.linear(act(F.linear(x, w1, b1)), w2, b2);

  it('gradcheck and gradgradcheck through linear → activation → linear → mseLoss', () => {
    const x = leaf([4, 3], 1).detach(), y = leaf([4, 2], 2).detach();
    const params = [leaf([5, 3], 3), leaf([5], 4), leaf([2, 5], 5), leaf([2], 6)];
    const loss = (w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) => F.mseLoss(mlp(x, w1, b1, w2, b2), y);
    expect(tg.gradcheck(loss, params)).toBe(true);
    expect(tg.gradgradcheck(loss, params)).toBe(true);
    // and with respect to the input, through crossEntropy
    const t = ints([0, 1, 1, 0]);
    expect(tg.gradcheck((v) => F.crossEntropy(mlp(v, ...(params.map((p) => p.detach()) as [Tensor, Tensor, Tensor, Tensor])), t), [leaf([4, 3], 7)])).toBe(true);
  });

  it('trains: the loss falls with SGD', () => {
    tg.manualSeed(0);
    const x = tg.randn([32, 3]);
    const y = x.matmul(tg.tensor([[1], [-2], [0.5]])).add(0.3);
    const w1 = tg.randn([8, 3]).mul(0.5).setRequiresGrad(), b1 = tg.zeros([8], { requiresGrad: true });
    const w2 = tg.randn([1, 8]).mul(0.5).setRequiresGrad(), b2 = tg.zeros([1], { requiresGrad: true });
    const opt = new tg.optim.SGD([w1, b1, w2, b2], { lr: 0.1 });
    const losses: number[] = [];
    for (let step = 0; step < 200; step++) {
      tg.tidy(() => {
        const loss = F.mseLoss(mlp(x, w1, b1, w2, b2), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses.push(loss.item());
      });
    }
    expect(losses[199]!).toBeLessThan(losses[0]! * 0.05);
  });
});
