import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClose, leaf, tg } from '../helpers.js';

const nn = tg.nn;
const f64 = (data: tg.NestedArray) => tg.tensor(data, { dtype: 'float64' });

// Runs `fn` with the module's named parameters replaced by `values` (for gradcheck, whose
// finite differences pass fresh tensors), then puts the originals back.
function withParams<T>(m: tg.nn.Module, names: string[], values: tg.Tensor[], fn: () => T): T {
  const slots = names.map((n) => {
    const path = n.split('.');
    let owner = m as unknown as Record<string, unknown>;
    for (const k of path.slice(0, -1)) owner = owner[k] as Record<string, unknown>;
    return { owner, key: path[path.length - 1] as string };
  });
  const saved = slots.map((s) => s.owner[s.key]);
  slots.forEach((s, i) => (s.owner[s.key] = values[i]));
  try {
    return fn();
  } finally {
    slots.forEach((s, i) => (s.owner[s.key] = saved[i]));
  }
}

// gradcheck of m.forward(x) with respect to x and every parameter (the module must be float64).
function gradcheckModule(m: tg.nn.Module, x: tg.Tensor, before?: () => void): void {
  const named = m.namedParameters();
  const names = named.map(([n]) => n);
  const params = named.map(([, p]) => p);
  expect(params.every((p) => p.dtype === 'float64')).toBe(true);
  const inputs = x.dtype === 'int32' ? params : [x, ...params];
  expect(
    tg.gradcheck(
      (...ts) => {
        const ps = x.dtype === 'int32' ? ts : ts.slice(1);
        const xin = x.dtype === 'int32' ? x : (ts[0] as tg.Tensor);
        return withParams(m, names, ps, () => {
          before?.();
          return m.forward(xin);
        });
      },
      inputs,
    ),
  ).toBe(true);
}

// Writes values into a parameter (outside autograd, as an optimizer would).
const setTo = (p: tg.Tensor, v: tg.Tensor) => tg.noGrad(() => p.copyFrom(v));

const shapes = (m: tg.nn.Module) => m.namedParameters().map(([n, p]) => [n, [...p.shape]]);

describe('activation layers', () => {
  const x = f64([-2, -0.5, 0, 1, 3]);

  it('ReLU, Tanh, Sigmoid, SiLU values', () => {
    expectClose(new nn.ReLU().forward(x).toArray(), [0, 0, 0, 1, 3], 0);
    expectClose(new nn.Tanh().forward(x).toArray(), [-2, -0.5, 0, 1, 3].map(Math.tanh), 1e-15);
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    expectClose(new nn.Sigmoid().forward(x).toArray(), [sig(-2), sig(-0.5), 0.5, 0.7310585786300049, sig(3)], 1e-15);
    expectClose(new nn.SiLU().forward(x).toArray(), [-2 * sig(-2), -0.5 * sig(-0.5), 0, 0.7310585786300049, 3 * sig(3)], 1e-15);
  });

  it('LeakyReLU, ELU and Softplus: values by hand, options, printing and errors', () => {
    const x = tg.tensor([-2, -0.5, 0, 3], { dtype: 'float64' });
    expect(new nn.LeakyReLU().forward(x).toArray()).toEqual([-0.02, -0.005, 0, 3]);
    expect(new nn.LeakyReLU(0.2).forward(x).toArray()).toEqual([-0.4, -0.1, 0, 3]);
    expectClose(new nn.ELU().forward(x).toArray(), [Math.expm1(-2), Math.expm1(-0.5), 0, 3], 1e-15);
    expectClose(new nn.ELU(2).forward(x).toArray(), [2 * Math.expm1(-2), 2 * Math.expm1(-0.5), 0, 3], 1e-15);
    expectClose(new nn.Softplus().forward(x).toArray(), [Math.log1p(Math.exp(-2)), Math.log1p(Math.exp(-0.5)), Math.log(2), Math.log1p(Math.exp(3))], 1e-15);
    // beta 2: log(1 + e^(2x)) / 2; past the threshold (2·3 > 5) x itself.
    expectClose(new nn.Softplus(2, 5).forward(x).toArray(), [Math.log1p(Math.exp(-4)) / 2, Math.log1p(Math.exp(-1)) / 2, Math.log(2) / 2, 3], 1e-15);
    expect(String(new nn.LeakyReLU(0.2))).toBe('LeakyReLU(negativeSlope=0.2)');
    expect(String(new nn.ELU())).toBe('ELU(alpha=1)');
    expect(String(new nn.Softplus(2, 5))).toBe('Softplus(beta=2, threshold=5)');
    expect(() => new nn.LeakyReLU(NaN)).toThrow(new RangeError('LeakyReLU: negativeSlope must be a finite number, got NaN'));
    expect(() => new nn.ELU('1' as never)).toThrow(new TypeError("ELU: alpha must be a finite number, got '1'"));
    expect(() => new nn.Softplus(0)).toThrow(new RangeError('Softplus: beta must be a finite nonzero number, got 0'));
    expect(() => new nn.Softplus(1, NaN)).toThrow(new RangeError('Softplus: threshold must be a number, got NaN'));
    expect(new nn.ELU().parameters()).toEqual([]);
  });

  it('GELU exact and tanh approximation', () => {
    const t = f64([1, -0.5, 0]);
    const exact = new nn.GELU();
    expect(exact.approximate).toBe('none');
    expectClose(exact.forward(t).toArray(), [0.8413447460685429, -0.15426876936299344, 0], 1e-14);
    expectClose(new nn.GELU({ approximate: 'tanh' }).forward(t).toArray(), [0.8411919906082768, -0.15428599017485606, 0], 1e-14);
    expect(() => new nn.GELU({ approximate: 'fast' as 'tanh' })).toThrow(RangeError);
    expect(() => new nn.GELU({ approximate: 'fast' as 'tanh' })).toThrow("GELU: approximate must be 'none' or 'tanh', got 'fast'");
    expect(() => new nn.GELU('tanh' as never)).toThrow(new TypeError("GELU: options must be an object like { approximate: 'tanh' }, got 'tanh'"));
    expect(() => new nn.GELU({ approximation: 'tanh' } as never)).toThrow(new TypeError("GELU: unknown option 'approximation'; the options are approximate"));
    expect(() => new nn.GELU({ approximate: true as never })).toThrow(new TypeError("GELU: approximate must be 'none' or 'tanh', got true"));
  });

  it('Softmax and LogSoftmax along a dim, negative dims included', () => {
    const t = f64([[0, Math.log(2), Math.log(3)], [0, 0, 0]]);
    expectClose(new nn.Softmax(1).forward(t).toArray(), [[1 / 6, 2 / 6, 3 / 6], [1 / 3, 1 / 3, 1 / 3]], 1e-15);
    expectClose(new nn.Softmax(-1).forward(t).toArray(), [[1 / 6, 2 / 6, 3 / 6], [1 / 3, 1 / 3, 1 / 3]], 1e-15);
    expectClose(new nn.Softmax(0).forward(t).toArray(), [[0.5, 2 / 3, 3 / 4], [0.5, 1 / 3, 1 / 4]], 1e-15);
    expectClose(new nn.LogSoftmax(1).forward(t).toArray(), [[1 / 6, 2 / 6, 3 / 6].map(Math.log), [1, 1, 1].map(() => -Math.log(3))], 1e-14);
    expect(() => new nn.Softmax(0.5)).toThrow(new RangeError('Softmax: dim must be an integer, got 0.5'));
    expect(() => new nn.Softmax('1' as never)).toThrow(new TypeError("Softmax: dim must be an integer, got '1'"));
    expect(() => new nn.Softmax(3).forward(t)).toThrow(RangeError);
  });

  it('reprs as PyTorch prints them', () => {
    expect(String(new nn.ReLU())).toBe('ReLU()');
    expect(String(new nn.GELU())).toBe("GELU(approximate='none')");
    expect(String(new nn.GELU({ approximate: 'tanh' }))).toBe("GELU(approximate='tanh')");
    expect(String(new nn.Tanh())).toBe('Tanh()');
    expect(String(new nn.Sigmoid())).toBe('Sigmoid()');
    expect(String(new nn.SiLU())).toBe('SiLU()');
    expect(String(new nn.Softmax(-1))).toBe('Softmax(dim=-1)');
    expect(String(new nn.LogSoftmax(1))).toBe('LogSoftmax(dim=1)');
    expect(String(new nn.Dropout(0.25))).toBe('Dropout(p=0.25)');
    expect(String(new nn.Flatten())).toBe('Flatten(startDim=1, endDim=-1)');
    expect(String(new nn.LayerNorm([2, 3]))).toBe('LayerNorm([2, 3], eps=0.00001, elementwiseAffine=true, bias=true)');
    expect(String(new nn.LayerNorm(4, { elementwiseAffine: false }))).toBe('LayerNorm([4], eps=0.00001, elementwiseAffine=false)');
    expect(String(new nn.Embedding(10, 3))).toBe('Embedding(10, 3)');
    expect(String(new nn.Embedding(10, 3, { paddingIdx: -1 }))).toBe('Embedding(10, 3, paddingIdx=9)');
  });

  it('have no parameters, and gradcheck through each', () => {
    const layers = [
      new nn.ReLU(), new nn.GELU(), new nn.GELU({ approximate: 'tanh' }), new nn.Tanh(), new nn.Sigmoid(), new nn.SiLU(),
      new nn.Softmax(1), new nn.LogSoftmax(0), new nn.Flatten(0), new nn.Dropout(0.3).eval(),
    ];
    for (const m of layers) {
      expect(m.parameters()).toEqual([]);
      // Values away from ReLU's kink at 0.
      expect(tg.gradcheck((t) => m.forward(t), [leaf([3, 4], 2)])).toBe(true);
    }
  });
});

describe('Dropout', () => {
  it('is the identity in eval mode and with p = 0', () => {
    const x = leaf([50], 3);
    const d = new nn.Dropout(0.5);
    d.eval();
    expect(d.training).toBe(false);
    expect(d.forward(x).toArray()).toEqual(x.toArray());
    expect(new nn.Dropout(0).forward(x).toArray()).toEqual(x.toArray());
  });

  it('in training zeroes about p of the elements and scales the rest by 1/(1 - p)', () => {
    tg.manualSeed(11);
    const n = 20000;
    const p = 0.3;
    const y = new nn.Dropout(p).forward(tg.ones([n], { dtype: 'float64' })).data();
    let zeros = 0;
    for (const v of y) {
      if (v === 0) zeros++;
      else expect(v).toBeCloseTo(1 / (1 - p), 14);
    }
    // Binomial std is sqrt(n p (1-p)) ≈ 65: allow 5 of them.
    expect(Math.abs(zeros - p * n)).toBeLessThan(330);
    expect(new nn.Dropout(1).forward(tg.ones([10])).toArray()).toEqual(new Array(10).fill(0));
  });

  it('masks are reproducible through tg.manualSeed, and gradcheck with a fixed mask', () => {
    const d = new nn.Dropout(0.4);
    const x = leaf([64], 5);
    tg.manualSeed(7);
    const a = d.forward(x).toArray();
    tg.manualSeed(7);
    expect(d.forward(x).toArray()).toEqual(a);
    expect(d.forward(x).toArray()).not.toEqual(a);
    expect(tg.gradcheck((t) => (tg.manualSeed(9), d.forward(t)), [leaf([4, 5], 1)])).toBe(true);
  });

  it('rejects p outside [0, 1]', () => {
    expect(() => new nn.Dropout(1.5)).toThrow(RangeError);
    expect(() => new nn.Dropout(-0.1)).toThrow('Dropout: p must be a probability in [0, 1], got -0.1');
    expect(() => new nn.Dropout(NaN)).toThrow(RangeError);
    expect(() => new nn.Dropout('0.5' as never)).toThrow(new TypeError("Dropout: p must be a probability in [0, 1], got '0.5'"));
  });
});

describe('LayerNorm', () => {
  it('parameters weight (ones) and bias (zeros) of normalizedShape', () => {
    const ln = new nn.LayerNorm([2, 3], { dtype: 'float64' });
    expect(shapes(ln)).toEqual([['weight', [2, 3]], ['bias', [2, 3]]]);
    expect(ln.weight!.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(ln.bias!.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(ln.weight!.dtype).toBe('float64');
    expect(new nn.LayerNorm(4, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
    const plain = new nn.LayerNorm(4, { elementwiseAffine: false });
    expect(plain.parameters()).toEqual([]);
    expect(plain.weight).toBeNull();
    expect(plain.bias).toBeNull();
  });

  it('normalises over the trailing dims with eps, then applies weight and bias', () => {
    const x = f64([[1, 2, 3], [10, 10, 13]]);
    const s = 1 / Math.sqrt(2 / 3 + 1e-5);
    expectClose(new nn.LayerNorm(3, { dtype: 'float64' }).forward(x).toArray(), [[-s, 0, s], [-1 / Math.sqrt(2 + 1e-5), -1 / Math.sqrt(2 + 1e-5), 2 / Math.sqrt(2 + 1e-5)]], 1e-14);
    const ln = new nn.LayerNorm(3, { dtype: 'float64', eps: 0 });
    setTo(ln.weight!, f64([2, 1, -1]));
    setTo(ln.bias!, f64([0.5, 0, 1]));
    const r = Math.sqrt(1.5); // (x - mean) / std for [1, 2, 3] with biased variance 2/3
    expectClose(ln.forward(x.slice(0, 0, 1)).toArray(), [[-2 * r + 0.5, 0, -r + 1]], 1e-14);
    // Normalising over two dims: the whole [2, 2] block shares a mean and variance.
    const ln2 = new nn.LayerNorm([2, 2], { dtype: 'float64', eps: 0 });
    expectClose(ln2.forward(f64([[[0, 2], [4, 6]]])).toArray(), [[[-3, -1], [1, 3]].map((r2) => r2.map((v) => v / Math.sqrt(5)))], 1e-14);
  });

  it('gradcheck through input, weight and bias', () => {
    const ln = new nn.LayerNorm([3], { dtype: 'float64' });
    setTo(ln.weight!, f64([1.5, -0.5, 0.7]));
    setTo(ln.bias!, f64([0.1, 0.2, -0.3]));
    gradcheckModule(ln, leaf([2, 4, 3], 1));
    gradcheckModule(new nn.LayerNorm([2, 3], { dtype: 'float64' }), leaf([2, 2, 3], 4));
  });

  it('rejects bad shapes and eps', () => {
    expect(() => new nn.LayerNorm(0)).toThrow('LayerNorm: normalizedShape[0] must be a positive integer, got 0');
    expect(() => new nn.LayerNorm([])).toThrow(TypeError);
    expect(() => new nn.LayerNorm(3, { eps: -1 })).toThrow(RangeError);
    expect(() => new nn.LayerNorm(3).forward(tg.ones([2, 4]))).toThrow(/layerNorm/);
    expect(() => new nn.LayerNorm(3, { eps: '1e-5' as never })).toThrow(new TypeError("LayerNorm: eps must be a non-negative number, got '1e-5'"));
    expect(() => new nn.LayerNorm(3, { elementwiseAffine: 'no' as never })).toThrow(new TypeError("LayerNorm: elementwiseAffine must be a boolean, got 'no'"));
    expect(() => new nn.LayerNorm(3, { bias: 0 as never })).toThrow(new TypeError('LayerNorm: bias must be a boolean, got 0'));
    expect(() => new nn.LayerNorm(3, { epsilon: 1e-6 } as never)).toThrow(
      new TypeError("LayerNorm: unknown option 'epsilon'; the options are dtype, eps, elementwiseAffine, bias"),
    );
    // A Proxy of an array is an array.
    expect(new nn.LayerNorm(new Proxy([2, 3], {})).normalizedShape).toEqual([2, 3]);
  });
});

describe('Embedding', () => {
  it('looks up rows, any index shape', () => {
    const e = new nn.Embedding(4, 2, { dtype: 'float64' });
    setTo(e.weight, f64([[0, 1], [2, 3], [4, 5], [6, 7]]));
    expect(shapes(e)).toEqual([['weight', [4, 2]]]);
    const idx = tg.tensor([[3, 0], [1, 1]], { dtype: 'int32' });
    expect(e.forward(idx).toArray()).toEqual([[[6, 7], [0, 1]], [[2, 3], [2, 3]]]);
    expect(() => e.forward(tg.tensor([4], { dtype: 'int32' }))).toThrow(RangeError);
  });

  it('initialises N(0, 1) from the seeded generator', () => {
    tg.manualSeed(1);
    const w = new nn.Embedding(1000, 64).weight;
    const mean = w.mean().item();
    const std = w.std().item();
    expect(Math.abs(mean)).toBeLessThan(0.02); // standard error 1/sqrt(64000) ≈ 0.004
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    tg.manualSeed(1);
    expect(new nn.Embedding(1000, 64).weight.toArray()).toEqual(w.toArray());
  });

  it('paddingIdx: the row starts at zero and gets no gradient', () => {
    tg.manualSeed(2);
    const e = new nn.Embedding(5, 3, { paddingIdx: 1, dtype: 'float64' });
    expect(e.weight.slice(0, 1, 2).toArray()).toEqual([[0, 0, 0]]);
    expect(e.weight.slice(0, 0, 1).abs().sum().item()).toBeGreaterThan(0);
    // A padding row changed by hand is still returned as it is.
    tg.noGrad(() => e.weight.slice(0, 1, 2).fill(2));
    const idx = tg.tensor([1, 2, 1, 4, 2], { dtype: 'int32' });
    const y = e.forward(idx);
    expect(y.slice(0, 0, 1).toArray()).toEqual([[2, 2, 2]]);
    y.mul(f64([[1], [2], [3], [4], [5]])).sum().backward();
    expect(e.weight.grad!.toArray()).toEqual([[0, 0, 0], [0, 0, 0], [7, 7, 7], [0, 0, 0], [4, 4, 4]]);
    expect(new nn.Embedding(5, 3, { paddingIdx: -2 }).paddingIdx).toBe(3);
    expect(() => new nn.Embedding(5, 3, { paddingIdx: 5 })).toThrow('Embedding: paddingIdx must be in [-5, 4], got 5');
  });

  it('refuses arguments of the wrong type with a TypeError that shows what came', () => {
    expect(() => new nn.Embedding('5' as never, 3)).toThrow(new TypeError("Embedding: numEmbeddings must be a positive integer, got '5'"));
    expect(() => new nn.Embedding(5, 0)).toThrow(new RangeError('Embedding: embeddingDim must be a positive integer, got 0'));
    expect(() => new nn.Embedding(5, 3, { paddingIdx: '1' as never })).toThrow(new TypeError("Embedding: paddingIdx must be an integer, got '1'"));
    expect(() => new nn.Embedding(5, 3, { padding_idx: 1 } as never)).toThrow(
      new TypeError("Embedding: unknown option 'padding_idx'; the options are dtype, paddingIdx, maxNorm, normType"),
    );
    expect(() => new nn.Embedding(5, 3, { dtype: 'int32' as never })).toThrow(new RangeError("Embedding: dtype must be 'float32' or 'float64', got 'int32'"));
  });

  it('maxNorm: looked-up rows above it are scaled down in place first, as PyTorch 1.13', () => {
    // w = tensor([[3., 4], [.3, .4], [-6, 8], [1, -1]], requires_grad=True)
    // y = F.embedding(tensor([[2, 0], [2, 1]]), w, max_norm=2.)
    // (y * arange(1., 9).reshape(2, 2, 2)).sum().backward()
    const w = tg.tensor([[3, 4], [0.3, 0.4], [-6, 8], [1, -1]], { requiresGrad: true });
    const version = w.version;
    const y = nn.functional.embedding(tg.tensor([[2, 0], [2, 1]], { dtype: 'int32' }), w, { maxNorm: 2 });
    expectClose(y.toArray(), [[[-1.2, 1.6], [1.2, 1.6]], [[-1.2, 1.6], [0.3, 0.4]]], 1e-7);
    expectClose(w.toArray(), [[1.2, 1.6], [0.3, 0.4], [-1.2, 1.6], [1, -1]], 1e-7);
    expect(w.version).toBeGreaterThan(version);
    y.mul(tg.arange(1, 9, 1, { dtype: 'float32' }).reshape([2, 2, 2])).sum().backward();
    expect(w.grad!.toArray()).toEqual([[3, 4], [7, 8], [6, 8], [0, 0]]);
    // Other norms, in float64 (exact: scale = maxNorm / (norm + 1e-7)); rows at or below the bound keep their bits.
    const rows = () => tg.tensor([[3, 4], [0.3, 0.4], [-6, 8], [1, -1]], { dtype: 'float64' });
    const idx = tg.tensor([0, 2, 3], { dtype: 'int32' });
    const scaled = (p: number, maxNorm: number) => {
      const t = rows();
      nn.functional.embedding(idx, t, { maxNorm, normType: p });
      return t.toArray();
    };
    const s3 = (v: number[]) => 1 / ((Math.abs(v[0]!) ** 3 + Math.abs(v[1]!) ** 3) ** (1 / 3) + 1e-7);
    expectClose(scaled(3, 1), [[3 * s3([3, 4]), 4 * s3([3, 4])], [0.3, 0.4], [-6 * s3([6, 8]), 8 * s3([6, 8])],
      [s3([1, 1]), -s3([1, 1])]], 1e-15);
    expectClose(scaled(1, 1.5), [[3 * 1.5 / (7 + 1e-7), 4 * 1.5 / (7 + 1e-7)], [0.3, 0.4],
      [-6 * 1.5 / (14 + 1e-7), 8 * 1.5 / (14 + 1e-7)], [0.75 / (1 + 5e-8), -0.75 / (1 + 5e-8)]], 1e-15);
    expect(scaled(Infinity, 5)).toEqual([[3, 4], [0.3, 0.4], [-6 * 5 / (8 + 1e-7), 8 * 5 / (8 + 1e-7)], [1, -1]]);
    // A graph that saved the weight before the rows changed fails at backward, as PyTorch's.
    const v = tg.tensor([[3, 4], [1, 0]], { requiresGrad: true });
    const saved = v.mul(v).sum();
    nn.functional.embedding(tg.tensor([0], { dtype: 'int32' }), v, { maxNorm: 1 });
    expect(() => saved.backward()).toThrow(/modified by an in-place operation/);
    // The module passes them on.
    const e = new nn.Embedding(3, 2, { maxNorm: 1, dtype: 'float64' });
    setTo(e.weight, f64([[3, 4], [0.6, 0.8], [0, 2]]));
    e.forward(tg.tensor([0, 1], { dtype: 'int32' }));
    expectClose(e.weight.toArray(), [[0.6 / (1 + 2e-8), 0.8 / (1 + 2e-8)], [0.6, 0.8], [0, 2]], 1e-15);
    expect(String(new nn.Embedding(10, 3, { maxNorm: 1, normType: 1 }))).toBe('Embedding(10, 3, maxNorm=1, normType=1)');
    expect(() => new nn.Embedding(5, 3, { maxNorm: -1 })).toThrow(new RangeError('Embedding: maxNorm must be a finite non-negative number, got -1'));
    expect(() => new nn.Embedding(5, 3, { maxNorm: '1' as never })).toThrow(new TypeError("Embedding: maxNorm must be a finite non-negative number, got '1'"));
    expect(() => new nn.Embedding(5, 3, { maxNorm: 1, normType: 0 })).toThrow(
      new RangeError('Embedding: normType must be a positive number (Infinity for the largest magnitude), got 0'));
    const one = tg.tensor([0], { dtype: 'int32' });
    expect(() => nn.functional.embedding(one, rows(), { maxNorm: NaN })).toThrow(/^embedding: maxNorm must be a finite non-negative number, got NaN$/);
    expect(() => nn.functional.embedding(one, rows(), { maxNorm: 1, normType: -2 })).toThrow(
      /^embedding: normType must be a positive number \(Infinity for the largest magnitude\), got -2$/);
    expect(() => nn.functional.embedding(one, rows(), { maxNorm: '1' as never })).toThrow(/^embedding: maxNorm must be a number/);
    // A weight whose rows share memory (an expanded view) is refused, unwritten.
    const shared = tg.tensor([[3, 4]]).expand([4, 2]);
    expect(() => nn.functional.embedding(one, shared, { maxNorm: 1 })).toThrow(/^embedding: maxNorm rescales rows of weight in place/);
    expect(shared.toArray()[0]).toEqual([3, 4]);
  });

  it('gradcheck through the weight', () => {
    const e = new nn.Embedding(5, 3, { dtype: 'float64' });
    gradcheckModule(e, tg.tensor([[0, 4, 4], [2, 1, 0]], { dtype: 'int32' }));
  });
});

describe('Flatten', () => {
  it('flattens startDim..endDim', () => {
    const x = tg.zeros([2, 3, 4, 5]);
    expect(new nn.Flatten().forward(x).shape).toEqual([2, 60]);
    expect(new nn.Flatten(0, 1).forward(x).shape).toEqual([6, 4, 5]);
    expect(new nn.Flatten(1, 2).forward(x).shape).toEqual([2, 12, 5]);
    expect(new nn.Flatten(-2).forward(x).shape).toEqual([2, 3, 20]);
    const t = f64([[[1, 2], [3, 4]]]);
    expect(new nn.Flatten().forward(t).toArray()).toEqual([[1, 2, 3, 4]]);
    expect(() => new nn.Flatten(1.5)).toThrow(RangeError);
  });
});

describe('Linear', () => {
  it('parameter shapes, values and init within ±1/sqrt(inFeatures)', () => {
    tg.manualSeed(3);
    const l = new nn.Linear(200, 50);
    expect(shapes(l)).toEqual([['weight', [50, 200]], ['bias', [50]]]);
    const bound = 1 / Math.sqrt(200);
    for (const p of [l.weight, l.bias!]) {
      expect(p.max().item()).toBeLessThanOrEqual(bound);
      expect(p.min().item()).toBeGreaterThanOrEqual(-bound);
    }
    // Uniform over the whole range: std bound/√3, extremes near the bounds.
    expect(l.weight.max().item()).toBeGreaterThan(0.95 * bound);
    expect(l.weight.min().item()).toBeLessThan(-0.95 * bound);
    expect(Math.abs(l.weight.std().item() - bound / Math.sqrt(3))).toBeLessThan(0.03 * bound);
    expect(new nn.Linear(3, 2, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
  });

  it('computes x·Wᵀ + b and gradchecks', () => {
    const l = new nn.Linear(3, 2, { dtype: 'float64' });
    setTo(l.weight, f64([[1, 2, 3], [-1, 0, 1]]));
    setTo(l.bias!, f64([0.5, -0.5]));
    expect(l.forward(f64([[1, 1, 1], [0, 2, -1]])).toArray()).toEqual([[6.5, -0.5], [1.5, -1.5]]);
    gradcheckModule(l, leaf([4, 3], 1));
  });

  it('refuses options it would misread, and names itself when its weight cannot be allocated', () => {
    expect(() => new nn.Linear('3' as never, 2)).toThrow(new TypeError("Linear: inFeatures must be a positive integer, got '3'"));
    // bias: 'no' would have made a bias (truthy), as would 0.
    expect(() => new nn.Linear(3, 2, { bias: 'no' as never })).toThrow(new TypeError("Linear: bias must be a boolean, got 'no'"));
    expect(() => new nn.Linear(3, 2, { bias: 0 as never })).toThrow(TypeError);
    expect(() => new nn.Linear(3, 2, { useBias: false } as never)).toThrow(new TypeError("Linear: unknown option 'useBias'; the options are dtype, bias"));
    expect(() => new nn.Linear(3, 2, { dtype: 'float16' as never })).toThrow(new RangeError("Linear: dtype must be 'float32' or 'float64', got 'float16'"));
    expect(() => new nn.Linear(3, 2, false as never)).toThrow(/^Linear: options must be an object like .*, got false$/);
    // 2^48 float32 elements: 1 PiB, more than any address space gives.
    const n = 2 ** 24;
    expect(() => new nn.Linear(n, n)).toThrow(RangeError);
    expect(() => new nn.Linear(n, n)).toThrow(
      /^Linear: cannot allocate the weight of shape \[16777216, 16777216\] \(float32, 1125899906842624 bytes\): .*out of memory/,
    );
    expect(() => new nn.Embedding(n, n, { dtype: 'float64' })).toThrow(
      /^Embedding: cannot allocate the weight of shape \[16777216, 16777216\] \(float64, 2251799813685248 bytes\): .*out of memory/,
    );
    expect(() => new nn.LayerNorm([n, n], { dtype: 'float64' })).toThrow(
      /^LayerNorm: cannot allocate the weight of shape \[16777216, 16777216\] \(float64, 2251799813685248 bytes\): .*out of memory/,
    );
  });

  // Shapes past the element limit failed in the factory (zeros, ones), naming no layer.
  it('names the layer, the shape and the bytes when a shape has too many elements', () => {
    const cases: [() => unknown, string][] = [
      [() => new nn.Linear(2 ** 31, 2 ** 31), 'Linear: cannot allocate the weight of shape [2147483648, 2147483648] (float32, 18446744073709551616 bytes): zeros: shape'],
      [() => new nn.Embedding(2 ** 31 - 1, 2 ** 31 - 1), 'Embedding: cannot allocate the weight of shape [2147483647, 2147483647] (float32, 18446744056529682436 bytes): zeros: shape'],
      [() => new nn.LayerNorm([2 ** 31, 2 ** 31]), 'LayerNorm: cannot allocate the weight of shape [2147483648, 2147483648] (float32, 18446744073709551616 bytes): ones: shape'],
      [() => new nn.MultiheadAttention(2 ** 30, 1), 'MultiheadAttention: cannot allocate in_proj_weight of shape [3221225472, 1073741824] (float32, 13835058055282163712 bytes): zeros: shape'],
      [() => new nn.MultiheadAttention(2 ** 30, 1, { kdim: 2, vdim: 2 }),
        'MultiheadAttention: cannot allocate q_proj_weight of shape [1073741824, 1073741824] (float32, 4611686018427387904 bytes): zeros: shape'],
    ];
    for (const [make, start] of cases) {
      expect(make, start).toThrow(RangeError);
      expect(make, start).toThrow(start);
      expect(make, start).toThrow(/has too many elements$/);
    }
  });
});

describe('Sequential: a Linear then a ReLU', () => {
  // Run one after the other: what Sequential must match.
  const stepByStep = (m: tg.nn.Sequential, x: tg.Tensor) => {
    let y = x;
    for (let i = 0; i < m.length; i++) y = (m[i] as tg.nn.Module).forward(y);
    return y;
  };
  const bits = (t: tg.Tensor) => Array.from(t.data());

  it('run as one op with the values and gradients of the two modules, bit for bit, in both dtypes and on 1 and 2 threads', () => {
    const threads = tg.getNumThreads();
    try {
      for (const dtype of ['float32', 'float64'] as const)
        for (const n of [1, 2]) {
          tg.setNumThreads(n);
          tg.manualSeed(3);
          const m = new nn.Sequential(new nn.Linear(6, 40, { dtype }), new nn.ReLU(), new nn.Linear(40, 3, { dtype }), new nn.ReLU());
          // 1000 rows: the first output (40 000 elements) splits across the threads; zero rows
          // give zero products (ReLU at 0).
          const x = tg.cat([tg.randn([990, 6], { dtype }), tg.zeros([10, 6], { dtype })]);
          const g = tg.randn([1000, 3], { dtype });
          const run = (forward: () => tg.Tensor) => {
            m.zeroGrad();
            const y = forward();
            y.backward(g);
            return { y, gradFn: y.gradFn, grads: m.parameters().map((p) => bits(p.grad!)) };
          };
          const fused = run(() => m.forward(x)), apart = run(() => stepByStep(m, x));
          expect([fused.gradFn, apart.gradFn]).toEqual(['linearRelu', 'relu']);
          expect(bits(fused.y)).toEqual(bits(apart.y));
          expect(bits(fused.y).some((v) => v === 0) && bits(fused.y).some((v) => v > 0)).toBe(true);
          expect(fused.grads).toEqual(apart.grads);
        }
    } finally {
      tg.setNumThreads(threads);
    }
    // NaN passes through as relu's does.
    const m = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU());
    const x = tg.tensor([[NaN, 1], [1, -1], [0, 0]]);
    expect(bits(m.forward(x)).filter(Number.isNaN)).toHaveLength(3);
    expect(bits(m.forward(x))).toEqual(bits(stepByStep(m, x)));
  });

  it('gradcheck and gradgradcheck in float64 through the fused op', () => {
    tg.manualSeed(5);
    const m = new nn.Sequential(new nn.Linear(3, 4, { dtype: 'float64' }), new nn.ReLU());
    const x = leaf([5, 3], 7);
    expect(m.forward(x).gradFn).toBe('linearRelu');
    expect(tg.gradcheck((v) => m.forward(v), [x])).toBe(true);
    expect(tg.gradgradcheck((v) => m.forward(v).square(), [x])).toBe(true);
    gradcheckModule(m, leaf([5, 3], 8));
  });

  it('are not fused when either forward is replaced (on the instance or in a subclass): that forward runs', () => {
    const x = tg.tensor([[1, -2]]);
    const linear = () => {
      const l = new nn.Linear(2, 2);
      tg.noGrad(() => {
        l.weight.copyFrom(tg.tensor([[1, 0], [0, 1]]));
        l.bias!.copyFrom(tg.tensor([0, 0]));
      });
      return l;
    };
    const doubled = new nn.ReLU();
    doubled.forward = (t: tg.Tensor) => t.mul(2);
    expect(new nn.Sequential(linear(), doubled).forward(x).toArray()).toEqual([[2, -4]]);
    class Leaky extends nn.ReLU {
      override forward(t: tg.Tensor) { return t.leakyRelu(0.5); }
    }
    expect(new nn.Sequential(linear(), new Leaky()).forward(x).toArray()).toEqual([[1, -1]]);
    class Shifted extends nn.Linear {
      override forward(t: tg.Tensor) { return super.forward(t).add(10); }
    }
    const shifted = new Shifted(2, 2);
    tg.noGrad(() => {
      shifted.weight.copyFrom(tg.tensor([[1, 0], [0, 1]]));
      shifted.bias!.copyFrom(tg.tensor([0, 0]));
    });
    expect(new nn.Sequential(shifted, new nn.ReLU()).forward(x).toArray()).toEqual([[11, 8]]);
    // A subclass that keeps both forwards is fused: it computes the same thing.
    class Named extends nn.ReLU {}
    expect(new nn.Sequential(linear(), new Named()).forward(x).gradFn).toBe('linearRelu');
  });

  it('errors name linear, as the two modules would', () => {
    const m = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU());
    expect(() => m.forward(tg.zeros([4, 5]))).toThrow(
      new RangeError('linear: input of shape [4, 5] does not match weight of shape [2, 3] (in_features 5 vs 3)'));
    expect(() => m.forward(tg.zeros([4, 3], { dtype: 'float64' }))).toThrow(
      new TypeError('linear: input and weight must have the same dtype, got float64 and float32'));
    expect(() => m.forward(3 as never)).toThrow(TypeError);
  });
});

describe('MLP', () => {
  it('is a Sequential with torch-like parameter names and a PyTorch-style tree', () => {
    const m = new nn.MLP([784, 256, 256, 10]);
    expect(m).toBeInstanceOf(nn.Sequential);
    expect(shapes(m)).toEqual([
      ['0.weight', [256, 784]], ['0.bias', [256]],
      ['2.weight', [256, 256]], ['2.bias', [256]],
      ['4.weight', [10, 256]], ['4.bias', [10]],
    ]);
    expect(m.toString()).toBe(
      [
        'MLP(',
        '  (0): Linear(inFeatures=784, outFeatures=256, bias=true)',
        '  (1): ReLU()',
        '  (2): Linear(inFeatures=256, outFeatures=256, bias=true)',
        '  (3): ReLU()',
        '  (4): Linear(inFeatures=256, outFeatures=10, bias=true)',
        ')',
      ].join('\n'),
    );
    const d = new nn.MLP([4, 8, 2], { activation: 'gelu', dropout: 0.1, dtype: 'float64' });
    expect(d.toString()).toBe(
      [
        'MLP(',
        '  (0): Linear(inFeatures=4, outFeatures=8, bias=true)',
        "  (1): GELU(approximate='none')",
        '  (2): Dropout(p=0.1)',
        '  (3): Linear(inFeatures=8, outFeatures=2, bias=true)',
        ')',
      ].join('\n'),
    );
    expect(d.namedParameters().map(([n, p]) => `${n}:${p.dtype}`)).toEqual(['0.weight:float64', '0.bias:float64', '3.weight:float64', '3.bias:float64']);
    expect(new nn.MLP([3, 1]).length).toBe(1);
  });

  it('forward equals the composed layers', () => {
    const m = new nn.MLP([3, 4, 2], { activation: 'tanh', dtype: 'float64' });
    const x = leaf([5, 3], 2);
    const l0 = m[0] as tg.nn.Linear;
    const l2 = m[2] as tg.nn.Linear;
    const expected = tg.nn.functional.linear(tg.nn.functional.linear(x, l0.weight, l0.bias).tanh(), l2.weight, l2.bias);
    expectClose(m.forward(x).toArray(), expected.toArray(), 1e-15);
  });

  it('gradcheck through every activation', () => {
    for (const activation of ['relu', 'gelu', 'tanh', 'silu'] as const) {
      tg.manualSeed(4);
      gradcheckModule(new nn.MLP([3, 5, 4, 2], { activation, dtype: 'float64' }), leaf([3, 3], 6));
    }
  });

  it('same seed, same weights; another seed, other weights', () => {
    const weights = (seed: number) => {
      tg.manualSeed(seed);
      return new nn.MLP([6, 5, 3]).parameters().map((p) => p.toArray());
    };
    expect(weights(42)).toEqual(weights(42));
    expect(weights(42)).not.toEqual(weights(43));
  });

  it('rejects bad sizes, activations and dropout', () => {
    expect(() => new nn.MLP([4])).toThrow(new RangeError('MLP: sizes must be an array of at least 2 layer widths, like [784, 256, 10], got 1'));
    expect(() => new nn.MLP([4, 0, 2])).toThrow('MLP: sizes[1] must be a positive integer, got 0');
    expect(() => new nn.MLP([4, 2], { activation: 'softmax' as 'relu' })).toThrow(
      "MLP: activation must be 'relu', 'gelu', 'tanh' or 'silu', got 'softmax'",
    );
    expect(() => new nn.MLP([4, 2], { dropout: 2 })).toThrow(RangeError);
    expect(() => new nn.MLP([4, 2], { dropout: '0.1' as never })).toThrow(new TypeError("MLP: dropout must be a probability in [0, 1], got '0.1'"));
    expect(() => new nn.MLP('4,2' as never)).toThrow(/^MLP: sizes must be an array of at least 2 layer widths, like \[784, 256, 10\], got '4,2'$/);
    expect(() => new nn.MLP([4, 2], { activations: 'gelu' } as never)).toThrow(
      new TypeError("MLP: unknown option 'activations'; the options are dtype, activation, dropout"),
    );
    expect(new nn.MLP(new Proxy([4, 3, 2], {})).length).toBe(3);
  });
});

describe('state dicts of layers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapegrad-layers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  class Net extends nn.Module {
    emb = new nn.Embedding(10, 4, { paddingIdx: 0 });
    norm = new nn.LayerNorm(4);
    mlp = new nn.MLP([4, 8, 3], { activation: 'silu' });
    forward(idx: tg.Tensor): tg.Tensor {
      return this.mlp.forward(this.norm.forward(this.emb.forward(idx)));
    }
  }

  it('round trips through stateDict/loadStateDict and a safetensors file', () => {
    tg.manualSeed(1);
    const a = new Net();
    tg.manualSeed(2);
    const b = new Net();
    const c = new Net();
    const idx = tg.tensor([[1, 2, 0], [9, 3, 3]], { dtype: 'int32' });
    expect(Object.keys(a.stateDict())).toEqual([
      'emb.weight', 'norm.weight', 'norm.bias', 'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias',
    ]);
    expect(b.forward(idx).toArray()).not.toEqual(a.forward(idx).toArray());
    b.loadStateDict(a.stateDict());
    expect(b.forward(idx).toArray()).toEqual(a.forward(idx).toArray());
    const file = join(dir, 'net.safetensors');
    tg.saveSync(a.stateDict(), file);
    c.loadStateDict(tg.loadSync(file));
    for (const [k, v] of Object.entries(c.stateDict())) expect(v.toArray(), k).toEqual(a.stateDict()[k]!.toArray());
    expect(() => c.loadStateDict({ ...a.stateDict(), 'norm.weight': tg.ones([5]) })).toThrow(RangeError);
  });
});
