import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../dist/native.js';
import { expectClose, expectSameDigestOnEveryIsa, leaf, tg } from '../helpers.js';

const F = tg.nn.functional;
const batchNormCases = path.join(__dirname, 'batch-norm-cases.cjs');
// Values from PyTorch 1.13 on the same programs.
const input = () =>
  tg.tensor([[[[1, 2], [3, 4]], [[0, -1], [2, 5]]], [[[2, 0], [1, 1]], [[3, 3], [-2, 0.5]]]], { requiresGrad: true });

describe('BatchNorm2d', () => {
  it('training: batch statistics, running ones updated, gradients as PyTorch', () => {
    const x = input();
    const bn = new tg.nn.BatchNorm2d(2);
    tg.noGrad(() => {
      bn.weight!.copyFrom(tg.tensor([1.5, -0.5]));
      bn.bias!.copyFrom(tg.tensor([0.25, 1]));
    });
    const y = bn.forward(x);
    expectClose(y.toArray(), [[[[-0.68831158, 0.56277061], [1.81385279, 3.06493497]], [[1.29926765, 1.52728117], [0.84324074, 0.1592003]]],
      [[[0.56277061, -1.93939376], [-0.68831158, -0.68831158]], [[0.61522722, 0.61522722], [1.75529456, 1.18526089]]]], 1e-6);
    expectClose(bn.running_mean!.toArray(), [0.175, 0.13125001], 1e-7);
    expectClose(bn.running_var!.toArray(), [1.06428576, 1.44955361], 1e-6);
    expect(bn.num_batches_tracked!.item()).toBe(1);
    y.mul(tg.arange(0, 16, 1, { dtype: 'float32' }).reshape([2, 2, 2, 2])).sum().backward();
    expectClose(x.grad!.toArray(), [[[[-8.51278687, -5.08592463], [-1.6590625, 1.76779938]], [[1.27935743, 1.07060742], [0.78480351, 0.4989996]]],
      [[[3.67165041, 0.57117271], [3.99803495, 5.2491169]], [[-0.60254079, -0.83055425], [-0.96225029, -1.23842251]]]], 1e-5);
    expectClose(bn.weight!.grad!.toArray(), [-16.68109512, -1.48208761], 1e-5);
    expect(bn.bias!.grad!.toArray()).toEqual([44, 76]);
    bn.eval();
    expectClose(bn.forward(x).toArray(), [[[[1.44953823, 2.90352392], [4.35750961, 5.8114953]], [[1.05450678, 1.46979666], [0.22392702, -1.02194262]]],
      [[[2.90352392, -0.00444749], [1.44953823, 1.44953823]], [[-0.19136286, -0.19136286], [1.88508654, 0.84686184]]]], 1e-6);
    expect(bn.num_batches_tracked!.item()).toBe(1);
    expect(Object.keys(bn.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  });

  it('momentum null averages every batch; without running statistics eval normalises by the batch', () => {
    const bn = new tg.nn.BatchNorm1d(2, { momentum: null });
    bn.forward(tg.tensor([[1, 2], [3, 5], [0, -1]]));
    bn.forward(tg.tensor([[4, 0], [2, 2]]));
    expectClose(bn.running_mean!.toArray(), [2.16666675, 1.5], 1e-6);
    expectClose(bn.running_var!.toArray(), [2.16666651, 5.5], 1e-6);
    expect(bn.num_batches_tracked!.item()).toBe(2);
    const free = new tg.nn.BatchNorm1d(2, { trackRunningStats: false, affine: false }).eval();
    expect([free.weight, free.running_mean, free.num_batches_tracked]).toEqual([null, null, null]);
    expectClose(free.forward(tg.tensor([[1, 2], [3, 5], [0, -1]])).toArray(),
      [[-0.26726043, 0], [1.33630192, 1.22474384], [-1.06904161, -1.22474384]], 1e-6);
    expect(String(new tg.nn.BatchNorm2d(4))).toBe('BatchNorm2d(4, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true)');
  });

  it('num_batches_tracked stops at 2^31 - 1 instead of wrapping (it is int32)', () => {
    const bn = new tg.nn.BatchNorm1d(2, { momentum: null });
    bn.num_batches_tracked!.fill(2147483646);
    for (let i = 0; i < 3; i++) bn.forward(tg.tensor([[1, 2], [3, 6]]));
    expect(bn.num_batches_tracked!.item()).toBe(2147483647);
    // 1/count stays a tiny positive momentum: three batches of mean [2, 4] move the running mean by 3/count of it.
    expectClose((bn.running_mean!.toArray() as number[]).map((v) => (v * 2147483647) / 3), [2, 4], 1e-4);
  });

  it('gradcheck and gradgradcheck of F.batchNorm in float64, training and eval, 2-D to 4-D inputs', () => {
    const w = leaf([3], 2), b = leaf([3], 3);
    const stats = () => [tg.zeros([3], { dtype: 'float64' }), tg.ones([3], { dtype: 'float64' }).mul(1.5)];
    // Runs of fewer than 16 elements per channel and sample ([4, 3], [2, 3, 5],
    // [2, 3, 2, 3]) are summed as columns, longer ones in lanes.
    for (const shape of [[4, 3], [2, 3, 5], [2, 3, 2, 3], [2, 3, 17], [2, 3, 4, 5]]) {
      const train = (x: tg.Tensor, wt: tg.Tensor, bs: tg.Tensor) => {
        const [m, v] = stats();
        return F.batchNorm(x, m!, v!, { weight: wt, bias: bs, training: true });
      };
      const evaluate = (x: tg.Tensor, wt: tg.Tensor, bs: tg.Tensor) => {
        const [m, v] = stats();
        return F.batchNorm(x, m!, v!, { weight: wt, bias: bs });
      };
      for (const f of [train, evaluate]) {
        expect(tg.gradcheck(f, [leaf(shape, 4), w, b]), `${f.name} ${shape}`).toBe(true);
        expect(tg.gradgradcheck(f, [leaf(shape, 5), w, b]), `${f.name} ${shape}`).toBe(true);
      }
    }
  });

  it('training is the composed formula, with and without weight and bias, the same bits on 1 and 2 threads', () => {
    for (const shape of [[6, 3], [4, 3, 5], [3, 3, 2, 9], [2, 3, 40]]) {
      for (const affine of [[true, true], [true, false], [false, true], [false, false]]) {
        const x = leaf(shape, 7, 3), w = affine[0] ? leaf([3], 8) : null, b = affine[1] ? leaf([3], 9) : null;
        const dims = shape.map((_, d) => d).filter((d) => d !== 1), along = shape.map((s, d) => (d === 1 ? s : 1));
        const mean = x.mean(dims, true), centered = x.sub(mean);
        let want = centered.mul(centered.mul(centered).mean(dims, true).add(1e-5).rsqrt());
        if (w) want = want.mul(w.reshape(along));
        if (b) want = want.add(b.reshape(along));
        const runningMean = tg.zeros([3], { dtype: 'float64' }), runningVar = tg.ones([3], { dtype: 'float64' });
        const y = F.batchNorm(x, runningMean, runningVar, { training: true, weight: w, bias: b });
        const label = `${shape} ${affine}`;
        expectClose(y.toArray(), want.toArray(), 1e-12);
        expect(y.gradFn, label).toBe('batchNorm');
        const count = x.size / 3;
        expectClose(runningMean.toArray(), mean.reshape([3]).mul(0.1).toArray(), 1e-12);
        expectClose(runningVar.toArray(), centered.mul(centered).sum(dims).div(count - 1).mul(0.1).add(0.9).toArray(), 1e-12);
        const seed = leaf(shape, 10);
        const grads = (out: tg.Tensor) => {
          const params = [x, w, b].filter((t): t is tg.Tensor => t !== null);
          return tg.grad([out.mul(seed).sum()], params).map((t) => t.toArray());
        };
        expectClose(grads(y), grads(want), 1e-11);
      }
    }
    // Each channel is summed whole by one thread: the same bits for any
    // thread count (channels of 2^15 elements: one per task, in lanes; and
    // [2^14, 4] as columns, split likewise).
    for (const shape of [[64, 4, 512], [16384, 4]]) {
      const x = tg.randn(shape).setRequiresGrad(true), w = tg.randn([4]).setRequiresGrad(true);
      const run = (threads: number) => {
        const before = tg.getNumThreads();
        tg.setNumThreads(threads);
        try {
          const y = F.batchNorm(x, null, null, { training: true, weight: w });
          const [gx, gw] = tg.grad([y.mul(y).sum()], [x, w]);
          return [y, gx!, gw!].map((t) => Array.from(t.data()));
        } finally {
          tg.setNumThreads(before);
        }
      };
      expect(run(2)).toEqual(run(1));
    }
  });

  it('short runs ([N, C]) sum each column in row order: mean, variance and bias gradient bit for bit', () => {
    // float64 with spikes, where the order of the additions shows; 21 rows:
    // passes of eight and a tail. Each channel's column in row order: the
    // mean Σ x / N, the variance Σ (x - mean)² / N (seen through running
    // statistics with momentum 1), dbias = Σ g.
    const rows = 21, channels = 5;
    const spiky = (phase: number) =>
      Array.from({ length: rows * channels }, (_, i) => Math.sin(i * 0.37 + phase) * 1.5 + (i % 7 === 0 ? 1e6 : 0));
    const g = spiky(0), xs = spiky(1);
    const x = tg.tensor(xs, { shape: [rows, channels], dtype: 'float64' });
    const b = tg.zeros([channels], { dtype: 'float64' }).setRequiresGrad(true);
    const runningMean = tg.zeros([channels], { dtype: 'float64' }), runningVar = tg.zeros([channels], { dtype: 'float64' });
    const y = F.batchNorm(x, runningMean, runningVar, { training: true, bias: b, momentum: 1 });
    const [db] = tg.grad([y], [b], { gradOutputs: [tg.tensor(g, { shape: [rows, channels], dtype: 'float64' })] });
    const columnSum = (c: number, term: (v: number) => number, of: number[]) => {
      let total = 0;
      for (let r = 0; r < rows; r++) total += term(of[r * channels + c]!);
      return total;
    };
    const columns = Array.from({ length: channels }, (_, c) => c);
    const mean = columns.map((c) => columnSum(c, (v) => v, xs) / rows);
    const variance = columns.map((c) => columnSum(c, (v) => (v - mean[c]!) * (v - mean[c]!), xs) / rows);
    expect(Array.from(runningMean.data())).toEqual(mean);
    expect(Array.from(runningVar.data())).toEqual(variance.map((v) => v * ((1 * rows) / (rows - 1))));
    expect(Array.from(db!.data())).toEqual(columns.map((c) => columnSum(c, (v) => v, g)));
  });

  it('training against a float64 reference, the same bits on every ISA path and thread count', () => {
    expectSameDigestOnEveryIsa(batchNormCases, ['1', '2']);
  }, 120_000);

  it('refuses bad input with the layer or op, the argument and what came', () => {
    expect(() => new tg.nn.BatchNorm1d(2).forward(tg.tensor([[1, 2]]))).toThrow(
      new RangeError('batchNorm: training needs more than one value per channel, got input shape [1, 2]'));
    expect(() => new tg.nn.BatchNorm2d(2).forward(tg.zeros([2, 2, 3]))).toThrow(
      new RangeError('BatchNorm2d: input must be 4-D [N, C, H, W], got shape [2, 2, 3]'));
    expect(() => new tg.nn.BatchNorm1d(2).forward(tg.zeros([2, 2, 3, 1]))).toThrow(
      new RangeError('BatchNorm1d: input must be 2-D [N, C] or 3-D [N, C, L], got shape [2, 2, 3, 1]'));
    expect(() => new tg.nn.BatchNorm1d(3).forward(tg.zeros([4, 2]))).toThrow(
      new RangeError('batchNorm: runningMean must have shape [2] (the input\'s channels), got [3]'));
    expect(() => new tg.nn.BatchNorm1d(0)).toThrow(new RangeError('BatchNorm1d: numFeatures must be a positive integer, got 0'));
    expect(() => new tg.nn.BatchNorm1d(2, { momentum: '0.1' as never })).toThrow(
      new TypeError("BatchNorm1d: momentum must be a finite number or null, got '0.1'"));
    expect(() => new tg.nn.BatchNorm1d(2, { eps: -1 })).toThrow(new RangeError('BatchNorm1d: eps must be a finite non-negative number, got -1'));
    const x = tg.zeros([4, 2]);
    expect(() => F.batchNorm(x, null, null)).toThrow(new TypeError('batchNorm: runningMean and runningVar are needed when not training'));
    expect(() => F.batchNorm(x, tg.zeros([2]), null, { training: true })).toThrow(
      new TypeError('batchNorm: runningMean and runningVar must be given together'));
    expect(() => F.batchNorm(x, null, null, { training: true, weight: tg.zeros([2], { dtype: 'float64' }) })).toThrow(
      new TypeError('batchNorm: weight must have the input\'s dtype float32, got float64'));
    expect(() => F.batchNorm(tg.zeros([4]), null, null, { training: true })).toThrow(
      new RangeError('batchNorm: input must have at least 2 dims [N, C, ...], got shape [4]'));
    expect(() => F.batchNorm(x, null, null, { training: 1 as never })).toThrow(new TypeError('batchNorm: training must be a boolean, got 1'));
    const gone = tg.zeros([2]);
    gone.dispose();
    expect(() => F.batchNorm(x, gone, tg.ones([2]), { training: true })).toThrow(/^batchNorm: runningMean is a disposed tensor$/);
    expect(() => F.batchNorm(gone, null, null, { training: true })).toThrow(/^batchNorm: input is a disposed tensor$/);
    expect(() => new tg.nn.BatchNorm1d(2).forward(gone)).toThrow(/^BatchNorm1d: input is a disposed tensor$/);
    // null is the modules' running average; the function needs this batch's weight.
    expect(() => F.batchNorm(x, tg.zeros([2]), tg.ones([2]), { training: true, momentum: null as never })).toThrow(
      new TypeError('batchNorm: momentum must be a finite number, got null'));
    expect(() => F.batchNorm(x, tg.zeros([2]), tg.ones([2]), { eps: null as never })).toThrow(
      new TypeError('batchNorm: eps must be a finite non-negative number, got null'));
    expect(() => F.batchNorm(x, [0, 0] as never, tg.ones([2]))).toThrow(new TypeError('batchNorm: runningMean must be a Tensor or null, got an array'));
    // Running statistics that cannot take the update are named.
    const shared = tg.ones([1]).expand([2]);
    expect(() => F.batchNorm(x, shared, tg.ones([2]), { training: true })).toThrow(new tg.TapegradError(
      'batchNorm: runningMean cannot take the running update: cannot write in place into an expanded view (shape [2], strides [0]): ' +
      'several of its elements share memory; write into a clone() instead'));
    expect(F.batchNorm(x, shared, shared).shape).toEqual(x.shape);  // only read when not training
    // A runningVar that refuses the update leaves runningMean as it was.
    const meanBefore = tg.tensor([0.5, -2]);
    expect(() => F.batchNorm(x, meanBefore, shared, { training: true })).toThrow(/^batchNorm: runningVar cannot take the running update: /);
    expect(meanBefore.toArray()).toEqual([0.5, -2]);
    // Memory running out names batchNorm (training: one op), and in eval
    // (composed of tensor ops) the step inside.
    const huge = tg.zeros([1, 1, 1]).expand([2 ** 20, 3, 2 ** 20]);
    expect(() => F.batchNorm(huge, null, null, { training: true })).toThrow(
      new RangeError('batchNorm: cannot allocate 13194139533312 bytes (out of memory)'));
    expect(() => F.batchNorm(huge, tg.zeros([3]), tg.ones([3]))).toThrow(
      new RangeError('batchNorm: cannot allocate 13194139533312 bytes (out of memory), in its sub'));
    // The fused op checks its arguments itself too (F.batchNorm checks them
    // first, for eval's composed ops): called directly it refuses them alike.
    const handleOf = (t: tg.Tensor) => (tg.Tensor as unknown as { _handleOf(t: tg.Tensor): bigint })._handleOf(t);
    const fused = (input: tg.Tensor, weight: tg.Tensor | null, eps = 1e-5) =>
      native.batchNorm(handleOf(input), weight === null ? null : handleOf(weight), null, eps);
    const x2 = tg.ones([4, 2]);
    expect(() => fused(x2, tg.ones([3]))).toThrow(
      new RangeError("batchNorm: weight must have shape [2] (the input's channels), got [3]"));
    expect(() => fused(x2, tg.ones([2], { dtype: 'float64' }))).toThrow(
      new TypeError("batchNorm: weight must have the input's dtype float32, got float64"));
    expect(() => fused(x2, null, -1)).toThrow(new RangeError('batchNorm: eps must be a finite non-negative number, got -1'));
    expect(() => fused(tg.ones([4]), null)).toThrow(new RangeError('batchNorm: input must have at least 2 dims [N, C, ...], got shape [4]'));
    expect(() => fused(tg.ones([1, 2]), null)).toThrow(
      new RangeError('batchNorm: training needs more than one value per channel, got input shape [1, 2]'));
  });
});
