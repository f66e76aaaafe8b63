import { describe, expect, it } from 'vitest';
import { expectClose, tg } from '../helpers.js';

const { clipGradNorm, clipGradValue, addPrefix, selectPrefix } = tg.nn.utils;

// A float64 parameter whose .grad is `grad`.
function withGrad(grad: number[], dtype: tg.DType = 'float64'): tg.Tensor {
  const p = tg.zeros([grad.length], { dtype, requiresGrad: true });
  p.grad = tg.tensor(grad, { dtype });
  return p;
}
const gradOf = (p: tg.Tensor) => p.grad!.toArray() as number[];

describe('clipGradNorm', () => {
  it('scales every gradient by maxNorm / (total + 1e-6) and returns the total 2-norm', () => {
    const a = withGrad([3, 4]);
    const b = withGrad([12]);
    // total = sqrt(9 + 16 + 144) = 13
    expect(clipGradNorm([a, b], 6.5)).toBe(13);
    const coef = 6.5 / (13 + 1e-6);
    expectClose(gradOf(a), [3 * coef, 4 * coef], 1e-15);
    expectClose(gradOf(b), [12 * coef], 1e-15);
    // After clipping, the norm is just under maxNorm.
    expect(clipGradNorm([a, b], 100)).toBeCloseTo(6.5, 5);
  });

  it('leaves gradients alone when the total is within maxNorm (the coefficient is clamped to 1)', () => {
    const a = withGrad([3, 4]);
    expect(clipGradNorm(a, 5)).toBe(5); // coef = 5 / (5 + 1e-6) < 1: still scaled, a hair
    expectClose(gradOf(a), [3 * (5 / (5 + 1e-6)), 4 * (5 / (5 + 1e-6))], 1e-15);
    const b = withGrad([3, 4]);
    expect(clipGradNorm(b, 10)).toBe(5);
    expect(gradOf(b)).toEqual([3, 4]);
  });

  it('infinity norm is the largest |g|; other orders combine per-parameter norms', () => {
    const a = withGrad([3, -4]);
    const b = withGrad([-12]);
    expect(clipGradNorm([a, b], 6, { normType: Infinity })).toBe(12);
    expectClose(gradOf(b), [(-12 * 6) / (12 + 1e-6)], 1e-15);
    const c = withGrad([3, -4]);
    const d = withGrad([-12]);
    expect(clipGradNorm([c, d], 100, { normType: 1 })).toBe(19);
    expect(clipGradNorm([c, d], 100, { normType: 3 })).toBeCloseTo(Math.cbrt(27 + 64 + 1728), 12);
  });

  it('accepts model.parameters(), skips parameters without a gradient and returns 0 without any', () => {
    tg.manualSeed(3);
    const m = new tg.nn.Linear(3, 2, { dtype: 'float64' });
    expect(clipGradNorm(m.parameters(), 1)).toBe(0);
    m.forward(tg.ones([4, 3], { dtype: 'float64' })).sum().backward();
    // d sum / d weight = 4 for each of 6 elements, d / d bias = 4 for 2: total sqrt(8 · 16)
    m.bias!.zeroGrad();
    expect(clipGradNorm(m.parameters(), 1000)).toBeCloseTo(Math.sqrt(6 * 16), 12);
    expect(m.bias!.grad).toBe(null);
  });

  it('float32 gradients are scaled in float32', () => {
    const a = withGrad([0.3, -0.4], 'float32');
    const total = clipGradNorm([a], 0.25);
    expect(total).toBeCloseTo(0.5, 6);
    expectClose(gradOf(a), [0.15, -0.2], 1e-6);
    expect(a.grad!.dtype).toBe('float32');
  });

  it('non-finite totals: returned and applied as PyTorch does, or an error with errorIfNonfinite', () => {
    const a = withGrad([Infinity, 1]);
    expect(() => clipGradNorm([a], 1, { errorIfNonfinite: true })).toThrow(tg.TapegradError);
    expect(() => clipGradNorm([a], 1, { errorIfNonfinite: true })).toThrow(/clipGradNorm: the total norm of order 2 of the gradients is Infinity/);
    expect(gradOf(a)).toEqual([Infinity, 1]); // untouched by the failed call
    expect(clipGradNorm([a], 1)).toBe(Infinity);
    // coef = 1 / inf = 0: finite elements become 0, infinite ones NaN
    const g = gradOf(a);
    expect(Number.isNaN(g[0])).toBe(true);
    expect(g[1]).toBe(0);
    const b = withGrad([NaN, 1]);
    const c = withGrad([5]);
    expect(clipGradNorm([b, c], 1)).toBeNaN();
    expect(() => clipGradNorm([withGrad([NaN])], 1, { errorIfNonfinite: true })).toThrow(/is NaN/);
  });

  it('infinity norm in both dtypes: NaN anywhere gives NaN, Infinity and -0 count by magnitude', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      expect(clipGradNorm([withGrad([-0, 0.5, -2.25], dtype)], Infinity, { normType: Infinity })).toBe(2.25);
      expect(clipGradNorm([withGrad([-Infinity, 1], dtype)], Infinity, { normType: Infinity })).toBe(Infinity);
      expect(clipGradNorm([withGrad([1, 2], dtype), withGrad([3, NaN, -Infinity], dtype)], Infinity, { normType: Infinity })).toBeNaN();
      expect(clipGradNorm([withGrad([-0], dtype)], Infinity, { normType: Infinity })).toBe(0);
      // 1001 elements (not a multiple of any vector width), the largest last.
      const values = Array.from({ length: 1001 }, (_, i) => (i % 2 ? -i : i) / 7);
      expect(clipGradNorm([withGrad(values, dtype)], Infinity, { normType: Infinity })).toBe(dtype === 'float32' ? Math.fround(1000 / 7) : 1000 / 7);
    }
  });

  it('sums in double: a float32 gradient of 2^20 ones has norm exactly 1024', () => {
    const p = tg.zeros([1 << 20], { requiresGrad: true });
    p.grad = tg.ones([1 << 20]);
    expect(clipGradNorm(p, Infinity)).toBe(1024);
    expect(clipGradNorm(p, Infinity, { normType: 1 })).toBe(1 << 20);
    expect(clipGradNorm(p, Infinity, { normType: Infinity })).toBe(1);
  });

  it('changes the gradient in place (its version moves), and refuses gradients in use by backwardAsync', async () => {
    const a = withGrad([3, 4]);
    const v = a.grad!.version;
    clipGradNorm(a, 1);
    expect(a.grad!.version).toBe(v + 1);
    tg.manualSeed(11);
    const x = tg.randn([256, 256], { requiresGrad: true });
    let h = x;
    for (let i = 0; i < 20; i++) h = h.mul(h.add(0.5)).div(h.mul(h).add(1)); // long enough to be still running
    const pending = h.sum().backwardAsync();
    expect(() => clipGradNorm([x], 1)).toThrow(/clipGradNorm: parameter 0 is in use by a running async operation/);
    expect(() => clipGradValue([x], 1)).toThrow(/clipGradValue: parameter 0 is in use by a running async operation/);
    await pending;
    expect(clipGradNorm([x], 1)).toBeGreaterThan(0);
  });

  it('creates no lasting tensors and works inside tidy without freeing the gradients', () => {
    const a = withGrad([3, 4]);
    const before = tg.memory().liveTensors;
    tg.tidy(() => clipGradNorm([a], 1));
    clipGradNorm([a], 1);
    expect(tg.memory().liveTensors).toBe(before);
    expectClose(gradOf(a), [0.6, 0.8], 1e-5);
  });

  it('rejects bad arguments', () => {
    const a = withGrad([1]);
    expect(() => clipGradNorm([a], -1)).toThrow(/clipGradNorm: maxNorm must be a non-negative number, got -1/);
    expect(() => clipGradNorm([a], NaN)).toThrow(RangeError);
    expect(() => clipGradNorm([a], 1, { normType: 0 })).toThrow(/normType must be a positive number or Infinity, got 0/);
    expect(() => clipGradNorm([a], 1, { normType: -Infinity })).toThrow(RangeError);
    expect(() => clipGradNorm(5 as unknown as tg.Tensor[], 1)).toThrow(/params must be a Tensor or an iterable of Tensors/);
    expect(() => clipGradNorm([a, 3 as unknown as tg.Tensor], 1)).toThrow(/parameter 1 is not a Tensor/);
  });

  it('refuses options it would ignore: a number (PyTorch\'s positional norm_type), unknown keys, wrong types', () => {
    const a = withGrad([3, 4]);
    expect(() => clipGradNorm([a], 1, Infinity as never)).toThrow(
      new TypeError('clipGradNorm: options must be an object like { normType: Infinity }, got Infinity'),
    );
    expect(() => clipGradNorm([a], 1, { norm_type: 1 } as never)).toThrow(
      new TypeError("clipGradNorm: unknown option 'norm_type'; the options are normType, errorIfNonfinite"),
    );
    expect(() => clipGradNorm([a], 1, { normType: '1' as never })).toThrow(
      new TypeError("clipGradNorm: normType must be a positive number or Infinity, got '1'"),
    );
    expect(() => clipGradNorm([a], '1' as never)).toThrow(new TypeError("clipGradNorm: maxNorm must be a non-negative number, got '1'"));
    expect(() => clipGradNorm([a], 1, { errorIfNonfinite: 'yes' as never })).toThrow(
      new TypeError("clipGradNorm: errorIfNonfinite must be a boolean, got 'yes'"),
    );
    expect(() => tg.nn.utils.clipGradValue([a], '1' as never)).toThrow(new TypeError("clipGradValue: clipValue must be a non-negative number, got '1'"));
    // Nothing was clipped on the way.
    expectClose(gradOf(a), [3, 4]);
  });
});

describe('clipGradValue', () => {
  it('clamps every gradient element to [-clipValue, clipValue] in place', () => {
    const a = withGrad([-3, 0.5, 2]);
    const b = withGrad([-0.25, 7]);
    const grad = a.grad!;
    clipGradValue([a, b], 1);
    expect(gradOf(a)).toEqual([-1, 0.5, 1]);
    expect(gradOf(b)).toEqual([-0.25, 1]);
    expect(grad.toArray()).toEqual([-1, 0.5, 1]); // the same storage, changed in place
    clipGradValue(a, 0);
    expect(gradOf(a).map(Math.abs)).toEqual([0, 0, 0]);
    const c = withGrad([NaN, -Infinity, Infinity], 'float32');
    clipGradValue(c, 2);
    expect(gradOf(c)).toEqual([NaN, -2, 2]);
  });

  it('skips parameters without a gradient and rejects bad clip values', () => {
    const p = tg.zeros([2], { requiresGrad: true });
    clipGradValue([p], 1);
    expect(p.grad).toBe(null);
    expect(() => clipGradValue([p], -0.5)).toThrow(/clipGradValue: clipValue must be a non-negative number, got -0.5/);
  });
});

describe('addPrefix and selectPrefix', () => {
  it('put several state dicts in one file and take them apart', () => {
    const w = tg.ones([2]);
    const s = tg.zeros([1]);
    const both = { ...addPrefix('model.', { weight: w }), ...addPrefix('optimizer.', { step: s }) };
    expect(Object.keys(both)).toEqual(['model.weight', 'optimizer.step']);
    expect(selectPrefix('model.', both)).toEqual({ weight: w });
    expect(selectPrefix('optimizer.', both)).toEqual({ step: s });
    expect(selectPrefix('other.', both)).toEqual({});
  });
});
