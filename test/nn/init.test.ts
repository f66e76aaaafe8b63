import { describe, expect, it } from 'vitest';
import { tg } from '../helpers.js';

const init = tg.nn.init;

// min, max, mean and standard deviation of every element.
function stats(t: tg.Tensor): { min: number; max: number; mean: number; std: number } {
  const d = Array.from(t.data());
  const mean = d.reduce((s, v) => s + v, 0) / d.length;
  const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
  return { min: Math.min(...d), max: Math.max(...d), mean, std };
}

describe('nn.init', () => {
  it('calculateGain as PyTorch', () => {
    expect(init.calculateGain('linear')).toBe(1);
    expect(init.calculateGain('sigmoid')).toBe(1);
    expect(init.calculateGain('tanh')).toBe(5 / 3);
    expect(init.calculateGain('relu')).toBe(Math.SQRT2);
    expect(init.calculateGain('leaky_relu')).toBe(Math.sqrt(2 / (1 + 0.01 ** 2)));
    expect(init.calculateGain('leaky_relu', 0.2)).toBe(Math.sqrt(2 / 1.04));
    expect(init.calculateGain('selu')).toBe(0.75);
    expect(() => init.calculateGain('swish' as never)).toThrow(
      new RangeError("nn.init.calculateGain: nonlinearity must be 'linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu' or 'selu', got 'swish'"),
    );
    expect(() => init.calculateGain('leaky_relu', '0.2' as never)).toThrow(new TypeError("nn.init.calculateGain: param must be a finite number, got '0.2'"));
  });

  it('refuses arguments it would misuse: unknown modes and nonlinearities, a > b, std < 0, wrong types', () => {
    const w = tg.zeros([3, 4]);
    expect(() => init.kaimingUniform(w, { mode: 'x' as never })).toThrow(
      new RangeError("nn.init.kaimingUniform: mode must be 'fanIn' or 'fanOut', got 'x'"),
    );
    expect(() => init.kaimingNormal(w, { mode: 'fan_out' as never })).toThrow(/^nn.init.kaimingNormal: mode must be 'fanIn' or 'fanOut', got 'fan_out'$/);
    expect(() => init.kaimingUniform(w, { nonlinearity: 'x' as never })).toThrow(/^nn.init.kaimingUniform: nonlinearity must be .*, got 'x'$/);
    expect(() => init.kaimingNormal(w, { nonlinearity: 'gelu' as never })).toThrow(RangeError);
    expect(() => init.kaimingUniform(w, { a: '1' as never })).toThrow(new TypeError("nn.init.kaimingUniform: a must be a finite number, got '1'"));
    expect(() => init.kaimingUniform(w, { fan: 'fanOut' } as never)).toThrow(
      new TypeError("nn.init.kaimingUniform: unknown option 'fan'; the options are a, mode, nonlinearity"),
    );
    expect(() => init.kaimingUniform(w, 'fanOut' as never)).toThrow(/^nn.init.kaimingUniform: options must be an object like .*, got 'fanOut'$/);
    expect(() => init.uniform(w, 1, 0)).toThrow(new RangeError('nn.init.uniform: b must be a finite number >= a (1), got 0'));
    expect(() => init.uniform(w, 0, Infinity)).toThrow(RangeError);
    expect(() => init.uniform(w, '0' as never, 1)).toThrow(new TypeError("nn.init.uniform: a must be a finite number, got '0'"));
    expect(() => init.normal(w, 0, -1)).toThrow(new RangeError('nn.init.normal: std must be a non-negative finite number, got -1'));
    expect(() => init.normal(w, NaN, 1)).toThrow(new RangeError('nn.init.normal: mean must be a finite number, got NaN'));
    expect(() => init.constant(w, '1' as never)).toThrow(new TypeError("nn.init.constant: value must be a number, got '1'"));
    expect(() => init.xavierUniform(w, '2' as never)).toThrow(new TypeError("nn.init.xavierUniform: gain must be a finite number, got '2'"));
    // Nothing was written on the way.
    expect([...w.data()].every((v) => v === 0)).toBe(true);
    // uniform(t, a, a) is a constant fill, as PyTorch allows from == to.
    expect([...init.uniform(w, 2, 2).data()].every((v) => v === 2)).toBe(true);
  });

  it('refuses a tensor argument that is not a tensor it can fill, naming the init function (not rand, copyFrom or fill)', () => {
    const gone = tg.zeros([2, 2]);
    gone.dispose();
    const fns = {
      uniform: (t: tg.Tensor) => init.uniform(t),
      normal: (t: tg.Tensor) => init.normal(t),
      constant: (t: tg.Tensor) => init.constant(t, 1),
      zeros: (t: tg.Tensor) => init.zeros(t),
      ones: (t: tg.Tensor) => init.ones(t),
      xavierUniform: (t: tg.Tensor) => init.xavierUniform(t),
      xavierNormal: (t: tg.Tensor) => init.xavierNormal(t),
      kaimingUniform: (t: tg.Tensor) => init.kaimingUniform(t),
      kaimingNormal: (t: tg.Tensor) => init.kaimingNormal(t),
    };
    for (const [name, fill] of Object.entries(fns)) {
      const op = `nn.init.${name}`;
      // An array has a fill method of its own: it must not be filled in place of a tensor.
      const array = [[0, 0]];
      const cases: [unknown, Error][] = [
        [5, new TypeError(`${op}: tensor must be a Tensor, got 5`)],
        [undefined, new TypeError(`${op}: tensor must be a Tensor, got undefined`)],
        [array, new TypeError(`${op}: tensor must be a Tensor, got an array`)],
        [{ shape: [2, 2] }, new TypeError(`${op}: tensor must be a Tensor, got an object`)],
        [Object.create(tg.Tensor.prototype), new TypeError(`${op}: tensor must be a Tensor, got an object made from Tensor.prototype, not a tensor made by tapegrad`)],
        [gone, new tg.TapegradError(`${op}: tensor is a disposed tensor`)],
      ];
      for (const [arg, error] of cases) expect(() => fill(arg as tg.Tensor), error.message).toThrow(error);
      expect(array).toEqual([[0, 0]]);
      // The random fills need a float tensor (PyTorch's uniform_ and normal_ refuse integer ones); fill takes any.
      const ints = tg.zeros([2, 2], { dtype: 'int32' });
      if (['constant', 'zeros', 'ones'].includes(name)) expect(fill(ints)).toBe(ints);
      else expect(() => fill(ints)).toThrow(new TypeError(`${op}: tensor must be float32 or float64, got int32`));
    }
    expect(() => init.kaimingNormal(tg.zeros([3]))).toThrow(
      new RangeError('nn.init.kaimingNormal: fan in and fan out need a tensor with at least 2 dims, got [3]'),
    );
  });

  it('uniform and normal fill in place with the asked distribution', () => {
    tg.manualSeed(1);
    const u = tg.zeros([200, 100]);
    expect(init.uniform(u, -2, 3)).toBe(u);
    const su = stats(u);
    expect(su.min).toBeGreaterThanOrEqual(-2);
    expect(su.max).toBeLessThan(3);
    expect(su.min).toBeLessThan(-1.99);
    expect(su.max).toBeGreaterThan(2.99);
    expect(su.mean).toBeCloseTo(0.5, 1);
    const n = init.normal(tg.zeros([200, 100], { dtype: 'float64' }), 1, 0.5);
    const sn = stats(n);
    expect(sn.mean).toBeCloseTo(1, 2);
    expect(Math.abs(sn.std / 0.5 - 1)).toBeLessThan(0.02);
  });

  it('constant, zeros and ones', () => {
    const t = tg.zeros([2, 2]);
    expect(init.constant(t, 7).toArray()).toEqual([[7, 7], [7, 7]]);
    expect(init.ones(t).toArray()).toEqual([[1, 1], [1, 1]]);
    expect(init.zeros(t).toArray()).toEqual([[0, 0], [0, 0]]);
  });

  it('xavier: bound gain·sqrt(6 / (fanIn + fanOut)), std gain·sqrt(2 / (fanIn + fanOut))', () => {
    tg.manualSeed(2);
    // fanIn = 30·2·2 = 120, fanOut = 50·2·2 = 200 (conv-style receptive field)
    const w = init.xavierUniform(tg.zeros([50, 30, 2, 2]), 2);
    const bound = 2 * Math.sqrt(6 / 320);
    const s = stats(w);
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeGreaterThan(0.99 * bound);
    const n = stats(init.xavierNormal(tg.zeros([400, 200], { dtype: 'float64' })));
    expect(Math.abs(n.std / Math.sqrt(2 / 600) - 1)).toBeLessThan(0.02);
  });

  it('kaiming: bound gain·sqrt(3 / fan), std gain / sqrt(fan), fan in or fan out', () => {
    tg.manualSeed(3);
    const w = init.kaimingUniform(tg.zeros([300, 100]), { nonlinearity: 'relu' });
    const bound = Math.SQRT2 * Math.sqrt(3 / 100);
    const s = stats(w);
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.max).toBeGreaterThan(0.99 * bound);
    const out = stats(init.kaimingUniform(tg.zeros([300, 100]), { nonlinearity: 'relu', mode: 'fanOut' }));
    expect(out.max).toBeLessThanOrEqual(Math.SQRT2 * Math.sqrt(3 / 300));
    expect(out.max).toBeGreaterThan(0.99 * Math.SQRT2 * Math.sqrt(3 / 300));
    // default: leaky_relu with a = 0, i.e. gain sqrt(2)
    const n = stats(init.kaimingNormal(tg.zeros([400, 200], { dtype: 'float64' })));
    expect(Math.abs(n.std / (Math.SQRT2 / Math.sqrt(200)) - 1)).toBeLessThan(0.02);
    // a = sqrt(5), as Linear uses: bound 1 / sqrt(fanIn)
    const lin = stats(init.kaimingUniform(tg.zeros([100, 64]), { a: Math.sqrt(5) }));
    expect(lin.max).toBeLessThanOrEqual(1 / 8 + 1e-7);
    expect(lin.max).toBeGreaterThan(0.98 / 8);
  });

  it('is reproducible through manualSeed, needs 2 dims for fans, and does not record gradients', () => {
    tg.manualSeed(11);
    const a = init.normal(tg.zeros([5]));
    tg.manualSeed(11);
    const b = init.normal(tg.zeros([5]));
    expect(a.toArray()).toEqual(b.toArray());
    expect(() => init.xavierUniform(tg.zeros([5]))).toThrow(/fan in and fan out need a tensor with at least 2 dims, got \[5\]/);
    const p = tg.zeros([3, 3], { requiresGrad: true });
    init.kaimingUniform(p);
    expect(p.isLeaf).toBe(true);
    expect(p.gradFn).toBe(null);
  });
});
