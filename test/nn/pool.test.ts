import { describe, expect, it } from 'vitest';
import { expectClose, leaf, tg } from '../helpers.js';

const F = tg.nn.functional;
// Values below from PyTorch 1.13 on the same programs (F.max_pool2d, F.avg_pool2d).
const image = () =>
  tg.tensor([[[[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]]]], { requiresGrad: true });

describe('maxPool2d', () => {
  it('takes each window\'s largest value and sends its gradient there', () => {
    const x = image();
    const { values, indices } = F.maxPool2d(x, 2, { returnIndices: true });
    expect(values.toArray()).toEqual([[[[5, 8], [9, 7]]]]);
    expect([indices.dtype, indices.toArray()]).toEqual(['int32', [[[[1, 6], [12, 11]]]]]);
    values.mul(tg.tensor([[[[1, 2], [3, 4]]]])).sum().backward();
    expect(x.grad!.toArray()).toEqual([[[[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 4], [3, 0, 0, 0]]]]);
    expect(values.gradFn).toBe('maxPool2d');
  });

  it('stride, padding, ceilMode and dilation as PyTorch; an unbatched input', () => {
    const x = image();
    expect(F.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }).toArray()).toEqual([[[[5, 8, 1], [9, 8, 7], [9, 3, 3]]]]);
    expect(F.maxPool2d(x, 2, { stride: 1, dilation: 2 }).toArray()).toEqual([[[[6, 7], [9, 4]]]]);
    expect(F.maxPool2d(x, 3, { stride: 2, padding: 1 }).shape).toEqual([1, 1, 2, 2]);
    expect(F.maxPool2d(x.reshape([1, 4, 4]), [2, 4]).toArray()).toEqual([[[8], [9]]]);
    expect(F.maxPool2d(x, [1, 2], { stride: [2, 1] }).toArray()).toEqual([[[[5, 5, 2], [2, 6, 7]]]]);
  });

  it('ties go to the first, NaN wins (the last NaN), a window of -Infinity keeps its first tap', () => {
    const t = tg.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]], { requiresGrad: true });
    const y = F.maxPool2d(t, 2);
    y.sum().backward();
    expect([y.toArray(), t.grad!.toArray()]).toEqual([[[[0, 1]]], [[[1, 0, 1, 0], [0, 0, 0, 0]]]]);
    const n = tg.tensor([[[1, NaN, 2, NaN], [NaN, 0, 3, 1]]]);
    const r = F.maxPool2d(n, 2, { returnIndices: true });
    expect([r.values.toArray(), r.indices.toArray()]).toEqual([[[[NaN, NaN]]], [[[4, 3]]]]);
    const inf = F.maxPool2d(tg.full([1, 2, 2], -Infinity), 2, { returnIndices: true });
    expect([inf.values.toArray(), inf.indices.toArray()]).toEqual([[[[-Infinity]]], [[[0]]]]);
  });

  it('picks each window\'s value and index as a reference over rows with ties, NaNs and -Infinity, in both dtypes', () => {
    // Rows wide enough for the vectorised part of the kernels and with a
    // tail past it, on the 2×2 path and the general one; the reference scans
    // each window's in-bounds taps in order: a larger value or a NaN replaces.
    const specials = [NaN, -Infinity, Infinity, 0, -0, 1, 1, 2];
    let seed = 3;
    const pick = (n: number) => Math.floor(Math.abs(Math.sin(seed++ * 12.9898) * 43758.5453) % n);
    for (const dtype of ['float32', 'float64'] as const)
      for (const [H, W, k, s, p] of [[6, 30, 2, 2, 0], [5, 37, 2, 2, 0], [7, 29, 3, 2, 1], [4, 20, 2, 1, 0]]) {
        const planes = 3, xs = Array.from({ length: planes * H * W }, () => (pick(3) === 0 ? specials[pick(8)] : pick(5) - 2));
        const OH = Math.floor((H + 2 * p - k) / s) + 1, OW = Math.floor((W + 2 * p - k) / s) + 1;
        const values: number[] = [], indices: number[] = [];
        for (let q = 0; q < planes; q++)
          for (let oh = 0; oh < OH; oh++)
            for (let ow = 0; ow < OW; ow++) {
              let best = NaN, at = -1;
              for (let i = oh * s - p; i < oh * s - p + k; i++)
                for (let j = ow * s - p; j < ow * s - p + k; j++) {
                  if (i < 0 || i >= H || j < 0 || j >= W) continue;
                  const v = xs[(q * H + i) * W + j];
                  if (at < 0 || v > best || Number.isNaN(v)) [best, at] = [v, i * W + j];
                }
              values.push(best);
              indices.push(at);
            }
        const r = F.maxPool2d(tg.tensor(xs, { dtype }).reshape([1, planes, H, W]), k, { stride: s, padding: p, returnIndices: true });
        const label = `${dtype} ${H}x${W} kernel ${k} stride ${s} padding ${p}`;
        expect(Array.from(r.values.data()), label).toEqual(values);
        expect(Array.from(r.indices.data()), label).toEqual(indices);
      }
  });

  it('gradcheck and gradgradcheck in float64', () => {
    const cases: [number | [number, number], tg.nn.functional.MaxPool2dOptions][] = [
      [2, {}], [3, { stride: 2, padding: 1, ceilMode: true }], [[2, 3], { stride: [1, 2], dilation: [2, 1] }],
    ];
    for (const [k, options] of cases) {
      const f = (x: tg.Tensor) => F.maxPool2d(x, k, options);
      expect(tg.gradcheck(f, [leaf([2, 3, 5, 6], 3)]), JSON.stringify(options)).toBe(true);
      expect(tg.gradgradcheck(f, [leaf([2, 3, 5, 6], 4)]), JSON.stringify(options)).toBe(true);
    }
  });

  it('refuses bad arguments with the op, the argument and what came', () => {
    const x = image();
    expect(() => F.maxPool2d(x, 2, { padding: 2 })).toThrow(
      new RangeError('maxPool2d: padding must be between 0 and half the kernel size, got padding [2, 2] for kernelSize [2, 2]'));
    expect(() => F.maxPool2d(x, 5)).toThrow(/^maxPool2d: the output would be 0x0 for input 4x4, kernelSize \[5, 5\]/);
    expect(() => F.maxPool2d(x, 0)).toThrow(new RangeError('maxPool2d: kernelSize must be positive, got [0, 0]'));
    expect(() => F.maxPool2d(x, 2, { stride: [1, -1] })).toThrow(new RangeError('maxPool2d: stride must be positive, got [1, -1]'));
    expect(() => F.maxPool2d(x, 1.5)).toThrow(/^maxPool2d: kernelSize must be an integer/);
    expect(() => F.maxPool2d(x, [2, 2, 2] as never)).toThrow(
      new TypeError('maxPool2d: kernelSize must be an integer or a pair of integers [h, w], got an array of length 3'));
    expect(() => F.maxPool2d(tg.zeros([1, 1, 4, 4]), [2, '2'] as never)).toThrow(
      new TypeError("maxPool2d: kernelSize must be an integer or a pair of integers [h, w], got '2' at index 1"));
    expect(() => F.maxPool2d(tg.zeros([1, 1, 4, 4]), 2, { stride: [undefined, 1] as never })).toThrow(
      new TypeError('maxPool2d: stride must be an integer or a pair of integers [h, w], got undefined at index 0'));
    expect(() => F.maxPool2d(x, 2, { ceilMode: 1 as never })).toThrow(new TypeError('maxPool2d: ceilMode must be a boolean, got 1'));
    expect(() => F.maxPool2d(x, 2, { pad: 1 } as never)).toThrow(/^maxPool2d: unknown option 'pad'/);
    expect(() => F.maxPool2d(x.reshape([16]), 2)).toThrow(
      new RangeError('maxPool2d: input must be 3-D [C, H, W] or 4-D [N, C, H, W], got shape [16]'));
    expect(() => F.maxPool2d(tg.zeros([1, 0, 4, 4]), 2)).toThrow(
      new RangeError('maxPool2d: input must have non-zero C, H and W (only N may be 0), got shape [1, 0, 4, 4]'));
    expect(() => F.maxPool2d(tg.zeros([1, 4, 4], { dtype: 'int32' }), 2)).toThrow(TypeError);
    expect(F.maxPool2d(tg.zeros([0, 2, 4, 4]), 2).shape).toEqual([0, 2, 2, 2]);
    // Window arguments past int32 (PyTorch: integer out of range): a product of them wrapped to 0 and
    // divided (SIGFPE), or made a tall window one row high (the input came back).
    expect(() => F.maxPool2d(tg.randn([1, 1, 1, 1]), 2 ** 32, { padding: 2 ** 31 })).toThrow(
      new RangeError('maxPool2d: kernelSize must be at most 2147483647, got [4294967296, 4294967296]'));
    expect(() => F.maxPool2d(x, [2 ** 31 - 1, 1], { dilation: [2 ** 33, 1], stride: 1 })).toThrow(/^maxPool2d: dilation must be at most 2147483647/);
    expect(() => F.avgPool2d(tg.ones([1, 1, 1, 1]), [2 ** 32, 2 ** 32], { padding: [2 ** 31, 2 ** 31] })).toThrow(/^avgPool2d: kernelSize must be at most/);
    expect(() => F.maxPool2d(x, 2 ** 31 - 1)).toThrow(/^maxPool2d: the output would be 0x0 for input 4x4/);
    // A window that skips the input (taps at -1 and 1 of a one-row input): refused, as it has no element
    // to take or send a gradient to (its index pointed into the next plane, and backward wrote past the buffer).
    expect(() => F.maxPool2d(tg.randn([2, 1, 1, 3]), [2, 1], { padding: [1, 0], dilation: [2, 1] })).toThrow(
      new RangeError('maxPool2d: the window of output 0 along dim 2 (padding 1, dilation 2) covers no element of the input of size 1'));
    expect(F.maxPool2d(tg.tensor([[[1, 2, 3]]]), [1, 2], { padding: [0, 1], dilation: [1, 2] }).toArray()).toEqual([[[2, 2]]]); // PyTorch 1.13 too
  });
});

describe('avgPool2d', () => {
  it('averages windows: countIncludePad, ceilMode and divisorOverride as PyTorch', () => {
    const x = image();
    expectClose(F.avgPool2d(x, 3, { stride: 2, padding: 1 }).toArray(), [[[[1.4444444, 2.2222223], [2.1111112, 3.8888888]]]], 1e-6);
    expectClose(F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }).toArray(),
      [[[[3.25, 3.3333333], [3.1666667, 3.8888888]]]], 1e-6);
    expectClose(F.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }).toArray(),
      [[[[3.25, 3.3333333, 0.5], [3.1666667, 3.8888888, 3.6666667], [5, 2.3333333, 3]]]], 1e-6);
    expectClose(F.avgPool2d(x, 2, { divisorOverride: 3 }).toArray(), [[[[4.3333335, 3.6666667], [4, 6.3333335]]]], 1e-6);
    const y = F.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true });
    expectClose(y.toArray(), [[[[1.4444444, 2.2222223, 0.16666667], [2.1111112, 3.8888888, 1.8333334], [1.6666666, 1.1666666, 0.75]]]], 1e-6);
    y.mul(tg.arange(1, 10, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3])).sum().backward();
    expectClose(x.grad!.toArray(), [[[[0.11111111, 0.33333334, 0.22222222, 0.72222221], [0.55555558, 1.3333334, 0.77777779, 2.2777777],
      [0.44444445, 1, 0.55555558, 1.5555556], [1.6111110, 3.5, 1.8888890, 5.1388888]]]], 1e-6);
    expect(y.gradFn).toBe('avgPool2d');
  });

  it('gradcheck and gradgradcheck in float64', () => {
    const cases: [number | [number, number], tg.nn.functional.AvgPool2dOptions][] = [
      [2, {}], [3, { stride: 2, padding: 1, ceilMode: true }], [3, { stride: 2, padding: 1, countIncludePad: false }],
      [[2, 3], { stride: [1, 2], divisorOverride: -4 }],
    ];
    for (const [k, options] of cases) {
      const f = (x: tg.Tensor) => F.avgPool2d(x, k, options);
      expect(tg.gradcheck(f, [leaf([2, 3, 5, 6], 5)]), JSON.stringify(options)).toBe(true);
      expect(tg.gradgradcheck(f, [leaf([2, 3, 5, 6], 6)]), JSON.stringify(options)).toBe(true);
    }
  });

  it('sums each window in order in double, bit for bit, forward and backward, in both dtypes', () => {
    // The reference: each output's in-bounds taps summed row by row in double
    // and divided once; the adjoint adds each output's share into its taps in
    // output order, rounding each add to the dtype.
    const pooled = (size: number, k: number, s: number, p: number, ceil: boolean) => {
      let out = Math.floor((size + 2 * p - k + (ceil ? s - 1 : 0)) / s) + 1;
      if (ceil && (out - 1) * s >= size + p) out--;
      return out;
    };
    let seed = 1;
    const pick = (n: number) => Math.floor(Math.abs(Math.sin(seed++ * 12.9898) * 43758.5453) % n);
    for (let trial = 0; trial < 60; trial++) {
      const dtype = trial % 2 ? 'float64' : 'float32';
      const round = dtype === 'float32' ? Math.fround : (v: number) => v;
      const H = 1 + pick(9), W = 1 + pick(40), kh = 1 + pick(Math.min(H, 4)), kw = 1 + pick(Math.min(W, 5));
      const sh = 1 + pick(3), sw = 1 + pick(3), ph = pick(Math.floor(kh / 2) + 1), pw = pick(Math.floor(kw / 2) + 1);
      const ceilMode = pick(2) === 1, countIncludePad = pick(2) === 1, divisorOverride = pick(3) === 0 ? pick(7) - 3 || 5 : null;
      const OH = pooled(H, kh, sh, ph, ceilMode), OW = pooled(W, kw, sw, pw, ceilMode);
      const planes = 3, xs = Array.from({ length: planes * H * W }, (_, i) => round(Math.sin(trial * 7.1 + i * 1.37) * 3));
      const gs = Array.from({ length: planes * OH * OW }, (_, i) => round(Math.cos(trial * 3.3 + i * 0.91)));
      const y = new Array<number>(planes * OH * OW), dx = new Array<number>(planes * H * W).fill(0);
      for (let q = 0; q < planes; q++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let h0 = oh * sh - ph, w0 = ow * sw - pw;
            let h1 = Math.min(h0 + kh, H + ph), w1 = Math.min(w0 + kw, W + pw);
            const padded = (h1 - h0) * (w1 - w0);
            h0 = Math.max(h0, 0), w0 = Math.max(w0, 0), h1 = Math.min(h1, H), w1 = Math.min(w1, W);
            const divisor = divisorOverride ?? (countIncludePad ? padded : (h1 - h0) * (w1 - w0));
            const o = (q * OH + oh) * OW + ow;
            let sum = 0;
            for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) sum += xs[(q * H + ih) * W + iw]!;
            y[o] = round(sum / divisor);
            const share = round(gs[o]! / divisor);
            for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx[(q * H + ih) * W + iw] = round(dx[(q * H + ih) * W + iw]! + share);
          }
      const x = tg.tensor(xs, { dtype }).reshape([1, planes, H, W]).detach().setRequiresGrad(true);
      const options = { stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number], ceilMode, countIncludePad, divisorOverride };
      const out = F.avgPool2d(x, [kh, kw], options);
      const what = JSON.stringify({ dtype, H, W, kernel: [kh, kw], ...options });
      expect(Array.from(out.data()), what).toEqual(y);
      out.backward(tg.tensor(gs, { dtype }).reshape([1, planes, OH, OW]));
      expect(Array.from(x.grad!.data()), what).toEqual(dx);
    }
  });

  it('refuses bad arguments with the op, the argument and what came', () => {
    const x = image();
    expect(() => F.avgPool2d(x, 2, { divisorOverride: 0 })).toThrow(new RangeError('avgPool2d: divisorOverride must not be 0'));
    expect(() => F.avgPool2d(x, 2, { divisorOverride: 1.5 })).toThrow(/^avgPool2d: divisorOverride must be an integer/);
    expect(() => F.avgPool2d(x, 2, { dilation: 2 } as never)).toThrow(/^avgPool2d: unknown option 'dilation'/);
    expect(() => F.avgPool2d(x, 2, { countIncludePad: 'yes' as never })).toThrow(
      new TypeError("avgPool2d: countIncludePad must be a boolean, got 'yes'"));
    expect(() => F.avgPool2d(x, 3, { padding: 2 })).toThrow(/^avgPool2d: padding must be between 0 and half the kernel size/);
  });
});

describe('adaptiveAvgPool2d', () => {
  it('tiles each plane into outputSize windows, as PyTorch', () => {
    const x = tg.arange(1, 16, 1, { dtype: 'float32' }).reshape([1, 1, 3, 5]).setRequiresGrad(true);
    const y = F.adaptiveAvgPool2d(x, [2, 3]);
    expect(y.toArray()).toEqual([[[[4, 5.5, 7], [9, 10.5, 12]]]]);
    y.mul(tg.tensor([[[[1, 2, 3], [4, 5, 6]]]])).sum().backward();
    expectClose(x.grad!.toArray(), [[[[0.25, 0.58333337, 0.33333334, 1.08333337, 0.75], [1.25, 2.41666675, 1.16666663, 3.41666675, 2.25],
      [1, 1.83333325, 0.83333331, 2.33333325, 1.5]]]], 1e-7);
    expect(F.adaptiveAvgPool2d(x, [null, 2]).toArray()).toEqual([[[[2, 4], [7, 9], [12, 14]]]]);
    expect(F.adaptiveAvgPool2d(x, 1).toArray()).toEqual([[[[8]]]]);
    // To 1×1, each plane's mean as mean() computes it, in both dtypes.
    for (const dtype of ['float32', 'float64'] as const) {
      const planes = tg.randn([3, 5, 7, 7], { dtype });
      expect(F.adaptiveAvgPool2d(planes, 1).data()).toEqual(planes.mean([2, 3], true).data());
    }
    expect(F.adaptiveAvgPool2d(x, [4, 7]).shape).toEqual([1, 1, 4, 7]);
    expect(y.gradFn).toBe('adaptiveAvgPool2d');
    expect(String(new tg.nn.AdaptiveAvgPool2d([1, null]))).toBe('AdaptiveAvgPool2d(outputSize=[1, null])');
  });

  it('gradcheck and gradgradcheck in float64; errors', () => {
    for (const size of [[2, 3], [4, 7], [1, 1]] as [number, number][]) {
      const f = (x: tg.Tensor) => F.adaptiveAvgPool2d(x, size);
      expect(tg.gradcheck(f, [leaf([2, 2, 3, 5], 7)]), String(size)).toBe(true);
      expect(tg.gradgradcheck(f, [leaf([2, 2, 3, 5], 8)]), String(size)).toBe(true);
    }
    expect(() => F.adaptiveAvgPool2d(image(), 0)).toThrow(new RangeError('adaptiveAvgPool2d: outputSize must be from 1 to 2147483647, got [0, 0]'));
    expect(() => F.adaptiveAvgPool2d(image(), [1, 2, 3] as never)).toThrow(
      new TypeError('adaptiveAvgPool2d: outputSize must be an integer or a pair of integers [h, w], got an array of length 3'));
    expect(() => F.adaptiveAvgPool2d(tg.zeros([4, 4]), 2)).toThrow(
      new RangeError('adaptiveAvgPool2d: input must be 3-D [C, H, W] or 4-D [N, C, H, W], got shape [4, 4]'));
  });
});

describe('MaxPool2d and AvgPool2d modules', () => {
  it('apply the functions with their options, in a Sequential', () => {
    const x = image();
    const net = new tg.nn.Sequential(new tg.nn.MaxPool2d(2, { stride: 1 }), new tg.nn.AvgPool2d([1, 3]));
    expectClose(net.forward(x).toArray(), F.avgPool2d(F.maxPool2d(x, 2, { stride: 1 }), [1, 3]).toArray(), 0);
    expect(String(new tg.nn.MaxPool2d(3, { stride: 2, padding: 1 }))).toBe('MaxPool2d(kernelSize=3, stride=2, padding=1, dilation=1, ceilMode=false)');
    expect(String(new tg.nn.AvgPool2d([2, 3], { countIncludePad: false }))).toBe(
      'AvgPool2d(kernelSize=[2, 3], stride=[2, 3], padding=0, ceilMode=false, countIncludePad=false)');
    // Sizes are checked when the layer is made, naming it.
    expect(() => new tg.nn.MaxPool2d(0)).toThrow(new RangeError('MaxPool2d: kernelSize must be a positive integer or a pair of them, got 0'));
    expect(() => new tg.nn.AvgPool2d(2, { padding: -1 })).toThrow(new RangeError('AvgPool2d: padding must be a non-negative integer or a pair of them, got -1'));
    expect(() => new tg.nn.AvgPool2d(2, { divisorOverride: 0 })).toThrow(new RangeError('AvgPool2d: divisorOverride must be a nonzero integer or null, got 0'));
    expect(() => new tg.nn.AdaptiveAvgPool2d('x' as never)).toThrow(
      new TypeError("AdaptiveAvgPool2d: outputSize must be a positive integer or a pair of them (or null), got 'x'"));
    expect(() => new tg.nn.MaxPool2d(2, { returnIndices: true } as never)).toThrow(/^MaxPool2d: unknown option 'returnIndices'/);
    // The layer keeps its own copy of the sizes.
    const stride: [number, number] = [1, 1];
    const pool = new tg.nn.MaxPool2d(2, { stride });
    stride[0] = 2;
    expect(pool.forward(x).shape).toEqual([1, 1, 3, 3]);
    // A bad returnIndices is refused before anything is computed (the results leaked).
    const before = tg.memory().liveTensors;
    for (let i = 0; i < 3; i++) expect(() => F.maxPool2d(x, 2, { returnIndices: 'yes' as never })).toThrow(TypeError);
    expect(tg.memory().liveTensors).toBe(before);
  });
});
