import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClose, leaf, tg, type Tensor, torchAvailable } from '../helpers.js';

const F = tg.nn.functional;
const nn = tg.nn;
const sdpa = F.scaledDotProductAttention;
const f64 = (data: tg.NestedArray) => tg.tensor(data, { dtype: 'float64' });

// The same attention written with separate ops: the reference for values.
function reference(q: Tensor, k: Tensor, v: Tensor, mask?: Tensor, scale?: number): Tensor {
  const s = scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1] as number);
  let scores = q.matmul(k.transpose(-1, -2)).mul(s);
  if (mask) scores = scores.add(mask);
  return F.softmax(scores, -1).matmul(v);
}

describe('scaledDotProductAttention values', () => {
  it('matches a hand-computed case', () => {
    // One query [1, 0] against keys [1, 0] and [0, 1]: scores 1/√2 and 0.
    const q = f64([[1, 0]]), k = f64([[1, 0], [0, 1]]), v = f64([[1, 2], [3, 4]]);
    const a = Math.exp(1 / Math.SQRT2);
    const p = a / (a + 1);
    expectClose(sdpa(q, k, v).toArray(), [[p * 1 + (1 - p) * 3, p * 2 + (1 - p) * 4]], 1e-15);
    // scale 2: scores 2 and 0.
    const b = Math.exp(2) / (Math.exp(2) + 1);
    expectClose(sdpa(q, k, v, { scale: 2 }).toArray(), [[b + (1 - b) * 3, 2 * b + (1 - b) * 4]], 1e-15);
    // An additive mask of [0, ln 3] triples the second key's weight.
    const c = a / (a + 3);
    expectClose(sdpa(q, k, v, { attnMask: f64([[0, Math.log(3)]]) }).toArray(), [[c + (1 - c) * 3, 2 * c + (1 - c) * 4]], 1e-14);
    // A boolean mask keeping only key 0 returns value 0.
    const keep = tg.tensor([[1, 0]], { dtype: 'int32' });
    expectClose(sdpa(q, k, v, { attnMask: keep }).toArray(), [[1, 2]], 0);
  });

  it('isCausal lets query i see keys 0..i only (top-left aligned)', () => {
    const q = f64([[1, 0], [0, 1], [1, 1]]), k = f64([[1, 0], [0, 1], [1, 1], [2, 0]]), v = f64([[1], [10], [100], [1000]]);
    const y = sdpa(q, k, v, { isCausal: true }).toArray() as number[][];
    expect(y[0]![0]).toBe(1); // only key 0
    const e = (x: number) => Math.exp(x / Math.SQRT2);
    const row1 = (e(0) * 1 + e(1) * 10) / (e(0) + e(1));
    const row2 = (e(1) * 1 + e(1) * 10 + e(2) * 100) / (2 * e(1) + e(2));
    expectClose(y[1]![0], row1, 1e-14);
    expectClose(y[2]![0], row2, 1e-14);
    const tri = tg.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]], { dtype: 'int32' });
    expectClose(y, sdpa(q, k, v, { attnMask: tri }).toArray(), 1e-15);
  });

  it('agrees with softmax(QKᵀ·scale + mask)·V for broadcast batch dims and strided views', () => {
    const q = leaf([2, 1, 3, 4], 1), k = leaf([3, 5, 4], 2), v = leaf([5, 2], 3), m = leaf([3, 1, 5], 4);
    const y = sdpa(q, k, v, { attnMask: m });
    expect(y.shape).toEqual([2, 3, 3, 2]);
    expectClose(y.toArray(), reference(q, k, v, m).toArray(), 1e-14);
    // Head-split views, as MultiheadAttention makes them: [N, L, H, D] permuted to [N, H, L, D].
    const x = leaf([2, 5, 3 * 6], 5);
    const [qs, ks, vs] = x.chunk(3, -1).map((t) => t.reshape(2, 5, 2, 3).permute(0, 2, 1, 3)) as [Tensor, Tensor, Tensor];
    expect(qs.isContiguous()).toBe(false);
    const ys = sdpa(qs, ks, vs, { isCausal: true });
    // Stored as [N, L, H, D], so merging the heads back is a view.
    expect(ys.permute(0, 2, 1, 3).isContiguous()).toBe(true);
    // Contiguous operands give a contiguous result.
    expect(sdpa(qs.contiguous(), ks, vs).isContiguous()).toBe(true);
    expectClose(ys.toArray(),
      reference(qs, ks, vs, tg.tensor([...Array(25)].map((_, i) => (i % 5 > Math.floor(i / 5) ? -Infinity : 0)), { shape: [5, 5], dtype: 'float64' })).toArray(),
      1e-14);
  });

  it('long sequences with few batch elements (split into row blocks) keep the mask and causal rows aligned', () => {
    const q = leaf([1, 100, 4], 31), k = leaf([1, 90, 4], 32), v = leaf([1, 90, 3], 33), m = leaf([100, 90], 34);
    expectClose(sdpa(q, k, v, { attnMask: m }).toArray(), reference(q, k, v, m).toArray(), 1e-14);
    const tri = tg.tensor(Array.from({ length: 100 * 90 }, (_, i) => (i % 90 > Math.floor(i / 90) ? -Infinity : 0)), { shape: [100, 90], dtype: 'float64' });
    expectClose(sdpa(q, k, v, { isCausal: true }).toArray(), reference(q, k, v, tri).toArray(), 1e-14);
    // The same bits whatever the thread count.
    const q32 = q.detach().to('float32'), k32 = k.detach().to('float32'), v32 = v.detach().to('float32');
    const before = tg.getNumThreads();
    try {
      tg.setNumThreads(1);
      const one = Array.from(sdpa(q32, k32, v32, { isCausal: true }).data());
      tg.setNumThreads(2);
      expect(Array.from(sdpa(q32, k32, v32, { isCausal: true }).data())).toEqual(one);
    } finally {
      tg.setNumThreads(before);
    }
  });

  it('float32 agrees with float64', () => {
    const q = leaf([2, 3, 6, 8], 6), k = leaf([2, 3, 7, 8], 7), v = leaf([2, 3, 7, 5], 8), m = leaf([6, 7], 9);
    // scale 6 spreads the scores over about ±30, so the exponentials span many binades.
    for (const scale of [undefined, 6]) {
      const y64 = sdpa(q, k, v, { attnMask: m, scale }).data();
      const y32 = sdpa(q.to('float32'), k.to('float32'), v.to('float32'), { attnMask: m.to('float32'), scale });
      expect(y32.dtype).toBe('float32');
      const d = y32.data();
      for (let i = 0; i < d.length; i++) expect(Math.abs((d[i] as number) - (y64[i] as number))).toBeLessThan(1e-5);
    }
  });

  it('a fully masked row is NaN, as PyTorch; the other rows are unaffected', () => {
    const q = leaf([2, 3], 1), k = leaf([4, 3], 2), v = leaf([4, 2], 3);
    const keep = tg.tensor([[0, 0, 0, 0], [1, 0, 1, 1]], { dtype: 'int32' });
    const y = sdpa(q, k, v, { attnMask: keep }).toArray() as number[][];
    expect(y[0]!.every(Number.isNaN)).toBe(true);
    const ref = reference(q, k, v, tg.tensor([[0, -Infinity, 0, 0]], { dtype: 'float64' })).toArray() as number[][];
    expectClose(y[1], ref[1], 1e-14);
  });

  it('float32: a NaN input makes its row NaN; huge negative scores weigh exactly 0', () => {
    const q = tg.tensor([[Number.NaN, 0], [1, 0], [0, 1]]), k = tg.tensor([[1, 0], [0, 1], [1, 1]]), v = tg.tensor([[1], [2], [4]]);
    const y = sdpa(q, k, v).toArray() as number[][];
    expect(Number.isNaN(y[0]![0])).toBe(true);
    expectClose(y.slice(1), (reference(q.to('float64'), k.to('float64'), v.to('float64')).toArray() as number[][]).slice(1), 1e-6);
    // A NaN in the mask (a negative-signed NaN, as 0·∞ gives) also spreads to its row only.
    const m = tg.tensor([[0, 0, 0], [0, -1e30, -100], [0, 0, 0]]).add(tg.tensor([[0, 0, 0], [0, 0, 0], [0, 0, Infinity]]).mul(tg.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 0]])));
    const z = sdpa(tg.tensor([[0, 0], [1, 0], [0, 1]]), k, v, { attnMask: m }).toArray() as number[][];
    expect(z[1]![0]).toBe(1); // keys 1 and 2 weighed down by -1e30 and -100 (e^-100 vanishes next to 1 in float32)
    expect(Number.isNaN(z[2]![0])).toBe(true);
    expect(Number.isNaN(z[0]![0])).toBe(false);
  });

  it('handles empty sizes', () => {
    expect(sdpa(leaf([0, 2, 3], 1), leaf([0, 4, 3], 2), leaf([0, 4, 2], 3)).shape).toEqual([0, 2, 2]);
    // No keys: an empty sum of values (zeros), as the matmul of an empty softmax.
    expect(sdpa(leaf([2, 3], 1), leaf([0, 3], 2), leaf([0, 2], 3)).toArray()).toEqual([[0, 0], [0, 0]]);
  });
});

describe('scaledDotProductAttention gradients (float64)', () => {
  const check = (fn: (...t: Tensor[]) => Tensor, inputs: Tensor[]) => {
    expect(tg.gradcheck(fn, inputs)).toBe(true);
    expect(tg.gradgradcheck(fn, inputs)).toBe(true);
  };

  it('query, key, value and an additive mask', () => {
    check((q, k, v, m) => sdpa(q!, k!, v!, { attnMask: m! }), [leaf([2, 3, 4], 1), leaf([2, 5, 4], 2), leaf([2, 5, 3], 3), leaf([3, 5], 4)]);
  });

  it('causal, a boolean mask and a custom scale', () => {
    check((q, k, v) => sdpa(q!, k!, v!, { isCausal: true }), [leaf([2, 4, 3], 5), leaf([2, 4, 3], 6), leaf([2, 4, 2], 7)]);
    const keep = tg.tensor([[1, 0, 1], [1, 1, 0]], { dtype: 'int32' });
    check((q, k, v) => sdpa(q!, k!, v!, { attnMask: keep, scale: 0.7 }), [leaf([2, 2], 8), leaf([3, 2], 9), leaf([3, 2], 10)]);
  });

  it('broadcast batch dims (gradients summed back to each shape)', () => {
    check((q, k, v, m) => sdpa(q!, k!, v!, { attnMask: m! }),
      [leaf([2, 1, 3, 4], 11), leaf([3, 5, 4], 12), leaf([5, 2], 13), leaf([3, 1, 5], 14)]);
  });

  it('non-contiguous inputs (transposed and sliced views)', () => {
    check((q, k, v) => sdpa(q!.transpose(0, 1), k!.slice(1, 0, 6, 2), v!.transpose(-1, -2)),
      [leaf([3, 2, 4], 15), leaf([2, 6, 4], 16), leaf([2, 3, 3], 17)]);
  });

  it('only some inputs require grad', () => {
    const q = leaf([2, 3], 18), k = leaf([4, 3], 19).detach(), v = leaf([4, 2], 20);
    check((a, c) => sdpa(a!, k, c!), [q, v]);
  });

  it('gives bitwise identical gradients on repeated runs (float32, broadcast summed)', () => {
    const q = tg.randn([3, 4, 16, 8]).setRequiresGrad(true), k = tg.randn([4, 20, 8]).setRequiresGrad(true);
    const v = tg.randn([4, 20, 8]).setRequiresGrad(true);
    const run = () => tg.grad([sdpa(q, k, v, { isCausal: true }).square().sum()], [q, k, v]).map((g) => Array.from(g!.data()));
    const first = run();
    for (let i = 0; i < 3; i++) expect(run()).toEqual(first);
  });

  it('the fused backward equals the backward of the composed ops', () => {
    const q = leaf([2, 2, 5, 4], 21), k = leaf([2, 2, 6, 4], 22), v = leaf([2, 2, 6, 3], 23), m = leaf([5, 6], 24);
    const g = leaf([2, 2, 5, 3], 25).detach();
    const fused = tg.grad([sdpa(q, k, v, { attnMask: m })], [q, k, v, m], { gradOutputs: [g] });
    const composed = tg.grad([reference(q, k, v, m)], [q, k, v, m], { gradOutputs: [g] });
    fused.forEach((t, i) => expectClose(t!.toArray(), composed[i]!.toArray(), 1e-13));
  });
});

describe('scaledDotProductAttention errors', () => {
  const q = leaf([2, 3, 4], 1), k = leaf([2, 5, 4], 2), v = leaf([2, 5, 3], 3);
  it('names the op, the argument, the expected and the given shapes', () => {
    expect(() => sdpa(q, leaf([2, 5, 3], 4), v)).toThrow(
      new RangeError('scaledDotProductAttention: key must be [..., S, E] with the query\'s E = 4, got shape [2, 5, 3] (query shape [2, 3, 4])'),
    );
    expect(() => sdpa(q, k, leaf([2, 4, 3], 5))).toThrow(
      new RangeError('scaledDotProductAttention: value must be [..., S, Ev] with the key\'s S = 5, got shape [2, 4, 3] (key shape [2, 5, 4])'),
    );
    expect(() => sdpa(q, leaf([3, 5, 4], 6), v)).toThrow(/the batch dims of query \[2, 3, 4\], key \[3, 5, 4\] and value \[2, 5, 3\] cannot be broadcast together/);
    expect(() => sdpa(leaf([4], 7), k, v)).toThrow(new RangeError('scaledDotProductAttention: query must be at least 2-D [..., L, E], got shape [4]'));
    expect(() => sdpa(q, k, v, { attnMask: leaf([4, 5], 8) })).toThrow(
      new RangeError("scaledDotProductAttention: attnMask of shape [4, 5] cannot be broadcast to the attention weights' shape [2, 3, 5]"),
    );
  });

  it('rejects wrong dtypes, a mask with isCausal, a bad scale and non-tensors', () => {
    expect(() => sdpa(q, k.to('float32'), v)).toThrow(new TypeError("scaledDotProductAttention: key must have the query's dtype float64, got float32"));
    expect(() => sdpa(tg.zeros([2, 2], { dtype: 'int32' }), k, v)).toThrow(TypeError);
    expect(() => sdpa(q, k, v, { attnMask: tg.zeros([3, 5]) })).toThrow(/attnMask must be int32 \(a boolean mask\) or the query's dtype float64/);
    expect(() => sdpa(q, k, v, { attnMask: leaf([3, 5], 9), isCausal: true })).toThrow(/attnMask and isCausal cannot both be given/);
    expect(() => sdpa(q, k, v, { scale: Number.NaN })).toThrow(/scale must be a finite number/);
    const empty = (shape: number[]) => tg.zeros(shape, { dtype: 'float64' });
    expect(() => sdpa(empty([2, 0]), empty([3, 0]), empty([3, 4]))).toThrow(
      new RangeError('scaledDotProductAttention: the query and key have an empty last dim (E = 0, query shape [2, 0]), so the default scale 1/sqrt(E) is undefined; pass scale'),
    );
    expect(() => sdpa(q, [1, 2] as unknown as Tensor, v)).toThrow(TypeError);
    expect(() => sdpa(q, k, v, { is_causal: true } as never)).toThrow(
      new TypeError("scaledDotProductAttention: unknown option 'is_causal'; the options are attnMask, isCausal, scale"),
    );
    expect(() => sdpa(q, k, v, 'causal' as never)).toThrow(/^scaledDotProductAttention: options must be an object like \{ isCausal: true \}, got 'causal'$/);
  });
});

describe('MultiheadAttention', () => {
  it('has PyTorch\'s parameter names and shapes', () => {
    const m = new nn.MultiheadAttention(8, 2);
    expect(Object.entries(m.stateDict()).map(([k, t]) => [k, t.shape])).toEqual([
      ['in_proj_weight', [24, 8]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
    ]);
    const cross = new nn.MultiheadAttention(8, 2, { kdim: 3, vdim: 5, bias: false });
    expect(Object.entries(cross.stateDict()).map(([k, t]) => [k, t.shape])).toEqual([
      ['q_proj_weight', [8, 8]], ['k_proj_weight', [8, 3]], ['v_proj_weight', [8, 5]], ['out_proj.weight', [8, 8]],
    ]);
    const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
    expect(Object.keys(layer.stateDict())).toEqual([
      'self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight', 'self_attn.out_proj.bias',
      'linear1.weight', 'linear1.bias', 'linear2.weight', 'linear2.bias', 'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias',
    ]);
  });

  it('gives the same output with and without the weights, and weights that are probabilities', () => {
    const m = new nn.MultiheadAttention(6, 3, { batchFirst: true, dtype: 'float64' });
    const x = leaf([2, 4, 6], 1).detach();
    const pad = tg.tensor([[0, 0, 0, 1], [0, 0, 0, 0]], { dtype: 'int32' });
    const [a, w] = m.forward(x, x, x, { keyPaddingMask: pad });
    const [b, none] = m.forward(x, x, x, { keyPaddingMask: pad, needWeights: false });
    expect(none).toBeNull();
    expectClose(a.toArray(), b.toArray(), 1e-14);
    expect(w!.shape).toEqual([2, 4, 4]);
    expectClose(w!.sum(-1).toArray(), [[1, 1, 1, 1], [1, 1, 1, 1]], 1e-14);
    // The padded key gets no weight in batch element 0.
    expect((w!.toArray() as number[][][])[0]!.map((r) => r[3])).toEqual([0, 0, 0, 0]);
    // Unbatched input: the batch dim left out of output and weights.
    const [u, uw] = m.forward(x.narrow(0, 1, 1).squeeze(0), x.narrow(0, 1, 1).squeeze(0), x.narrow(0, 1, 1).squeeze(0));
    expect(u.shape).toEqual([4, 6]);
    expect(uw!.shape).toEqual([4, 4]);
    expectClose(u.toArray(), (b.toArray() as number[][][])[1], 1e-14);
  });

  it('drops attention weights out in training mode only, reproducibly under a seed', () => {
    const m = new nn.MultiheadAttention(4, 2, { dropout: 0.5, dtype: 'float64' });
    const x = leaf([3, 2, 4], 3).detach();
    const run = () => m.forward(x, x, x, { needWeights: false })[0].toArray();
    m.eval();
    const evalOut = run();
    m.train();
    tg.manualSeed(5);
    const a = run();
    tg.manualSeed(5);
    expect(run()).toEqual(a);
    expect(a).not.toEqual(evalOut);
    m.eval();
    expect(run()).toEqual(evalOut);
  });

  it('gradcheck through the projections (float64)', () => {
    const m = new nn.MultiheadAttention(4, 2, { dtype: 'float64' });
    const params = m.parameters();
    const x = leaf([3, 2, 4], 2);
    expect(tg.gradcheck((xin) => m.forward(xin!, xin!, xin!, { needWeights: false, isCausal: true })[0], [x])).toBe(true);
    const out = m.forward(x, x, x, { needWeights: false })[0].square().sum();
    out.backward();
    expect(params.every((p) => p.grad !== null)).toBe(true);
  });

  it('rejects bad arguments with messages that name them', () => {
    expect(() => new nn.MultiheadAttention(6, 4)).toThrow(new RangeError('MultiheadAttention: embedDim must be divisible by numHeads, got embedDim 6 and numHeads 4'));
    const m = new nn.MultiheadAttention(4, 2);
    const x = tg.zeros([3, 2, 4]);
    expect(() => m.forward(x, tg.zeros([3, 2, 5]), x)).toThrow(/key must be \[seq, batch, features\] with the query's batch size and 4 features, got shape \[3, 2, 5\]/);
    expect(() => m.forward(x, x, x, { attnMask: tg.zeros([2, 2]) })).toThrow(/attnMask must be \[3, 3\] or \[4, 3, 3\]/);
    expect(() => m.forward(x, x, x, { keyPaddingMask: tg.zeros([3, 2], { dtype: 'int32' }) })).toThrow(/keyPaddingMask must be \[2, 3\]/);
    expect(() => new nn.TransformerEncoderLayer(4, 2, { activation: 'tanh' as 'relu' })).toThrow(RangeError);
  });

  it('refuses options it would misread: unknown keys, strings for booleans and numbers', () => {
    const m = new nn.MultiheadAttention(4, 2);
    const x = tg.zeros([3, 2, 4]);
    // needWeights: 'false' was truthy (weights computed); need_weights was ignored.
    expect(() => m.forward(x, x, x, { needWeights: 'false' as never })).toThrow(new TypeError("MultiheadAttention: needWeights must be a boolean, got 'false'"));
    expect(() => m.forward(x, x, x, { need_weights: false } as never)).toThrow(
      new TypeError("MultiheadAttention: unknown option 'need_weights'; the options are attnMask, keyPaddingMask, needWeights, averageAttnWeights, isCausal"),
    );
    expect(() => m.forward(x, x, x, { isCausal: 1 as never })).toThrow(new TypeError('MultiheadAttention: isCausal must be a boolean, got 1'));
    expect(() => m.forward(x, x, x, 5 as never)).toThrow(/^MultiheadAttention: options must be an object like .*, got 5$/);
    expect(() => m.forward(x, 5 as never, x)).toThrow(new TypeError('MultiheadAttention: key must be a Tensor, got 5'));
    expect(() => new nn.MultiheadAttention(4, 2, { batch_first: true } as never)).toThrow(
      new TypeError("MultiheadAttention: unknown option 'batch_first'; the options are dtype, bias, batchFirst, kdim, vdim, dropout"),
    );
    expect(() => new nn.MultiheadAttention(4, 2, { batchFirst: 'yes' as never })).toThrow(new TypeError("MultiheadAttention: batchFirst must be a boolean, got 'yes'"));
    expect(() => new nn.MultiheadAttention(4, 2, { dropout: '0.1' as never })).toThrow(
      new TypeError("MultiheadAttention: dropout must be a probability in [0, 1], got '0.1'"),
    );
    expect(() => new nn.TransformerEncoderLayer(4, 2, { norm_first: true } as never)).toThrow(/^TransformerEncoderLayer: unknown option 'norm_first'/);
    expect(() => new nn.TransformerEncoderLayer(4, 2, { normFirst: 'true' as never })).toThrow(new TypeError("TransformerEncoderLayer: normFirst must be a boolean, got 'true'"));
    expect(() => new nn.TransformerEncoderLayer(4, 2, { layerNormEps: '1e-5' as never })).toThrow(
      new TypeError("TransformerEncoderLayer: layerNormEps must be a non-negative number, got '1e-5'"),
    );
    expect(() => new nn.TransformerEncoderLayer(4, 2, { activation: 5 as never })).toThrow(new TypeError("TransformerEncoderLayer: activation must be 'relu' or 'gelu', got 5"));
    const layer = new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 });
    expect(() => layer.forward(x, { src_mask: null } as never)).toThrow(
      new TypeError("TransformerEncoderLayer: unknown option 'src_mask'; the options are srcMask, srcKeyPaddingMask, isCausal"),
    );
    expect(() => layer.forward('x' as never)).toThrow(new TypeError("TransformerEncoderLayer: src must be a Tensor, got 'x'"));
  });
});

// ---- against PyTorch ------------------------------------------------------------

// Reads our safetensors file (state.* = the module's state dict, input.* =
// inputs), builds the same torch module in float64, loads the state dict
// strictly (so every name must match PyTorch's), runs forward and the
// backward of sum(output · cotangent), and prints outputs and gradients.
const TORCH_SCRIPT = String.raw`
import json, struct, sys, torch
cfg = json.loads(sys.argv[2])
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n]); base = 8 + n
types = {'F64': torch.float64, 'I32': torch.int32}
tensors = {}
for name, e in header.items():
    if name == '__metadata__': continue
    a, b = e['data_offsets']
    tensors[name] = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=types[e['dtype']]).reshape(e['shape'])
state = {k[6:]: v for k, v in tensors.items() if k.startswith('state.')}
inp = {k[6:]: v for k, v in tensors.items() if k.startswith('input.')}
def mask(name):
    t = inp.get(name)
    return None if t is None else (t != 0 if t.dtype == torch.int32 else t)
if cfg['kind'] == 'mha':
    m = torch.nn.MultiheadAttention(cfg['embedDim'], cfg['numHeads'], bias=cfg['bias'], batch_first=cfg['batchFirst'],
                                    kdim=cfg.get('kdim'), vdim=cfg.get('vdim')).double()
else:
    m = torch.nn.TransformerEncoderLayer(cfg['dModel'], cfg['nhead'], dim_feedforward=cfg['dimFeedforward'], dropout=0.0,
                                         activation=cfg['activation'], norm_first=cfg['normFirst'],
                                         batch_first=cfg['batchFirst'], layer_norm_eps=cfg['eps']).double()
m.load_state_dict(state, strict=True)
m.train()
xs = {k: inp[k].clone().requires_grad_(True) for k in ('query', 'key', 'value', 'src') if k in inp}
# Self-attention: one tensor is query, key and value (saved once).
for k in ('key', 'value'):
    if 'query' in xs and k not in xs: xs[k] = xs['query']
if cfg['kind'] == 'mha':
    am = mask('attnMask')
    if cfg.get('causal'):
        L, S = xs['query'].shape[-2 if cfg['batchFirst'] else 0], xs['key'].shape[-2 if cfg['batchFirst'] else 0]
        am = torch.full((L, S), float('-inf'), dtype=torch.float64).triu(1)
    out, w = m(xs['query'], xs['key'], xs['value'], attn_mask=am, key_padding_mask=mask('keyPaddingMask'),
               need_weights=cfg['needWeights'])
else:
    sm = mask('srcMask')
    if cfg.get('causal'):
        L = xs['src'].shape[1 if cfg['batchFirst'] else 0]
        sm = torch.full((L, L), float('-inf'), dtype=torch.float64).triu(1)
    out = m(xs['src'], src_mask=sm, src_key_padding_mask=mask('srcKeyPaddingMask'))
    w = None
(out * inp['cotangent']).sum().backward()
res = {'out': out.tolist(), 'weights': None if w is None else w.tolist(),
       'inputGrads': {k: v.grad.tolist() for k, v in xs.items()},
       'paramGrads': {k: p.grad.tolist() for k, p in m.named_parameters()}}
print(json.dumps(res))
`;

describe.runIf(torchAvailable())('attention layers against PyTorch (float64)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapegrad-attn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let fileNo = 0;

  // Runs the same module and inputs in PyTorch; compares outputs, weights and every gradient.
  function compare(
    m: tg.nn.Module, cfg: Record<string, unknown>, inputs: Record<string, Tensor>,
    run: () => [Tensor, Tensor | null],
  ): void {
    const [out, weights] = run();
    const cot = leaf(out.shape as number[], 99).detach();
    const file = join(dir, `case${fileNo++}.safetensors`);
    const named: Record<string, Tensor> = { 'input.cotangent': cot };
    for (const [k, t] of Object.entries(m.stateDict())) named[`state.${k}`] = t;
    for (const [k, t] of Object.entries(inputs)) named[`input.${k}`] = t;
    tg.saveSync(named, file);
    const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, file, JSON.stringify(cfg)], { encoding: 'utf8' }));
    expectClose(out.toArray(), ref.out, 1e-12);
    if (cfg.needWeights) expectClose(weights!.toArray(), ref.weights, 1e-12);
    m.zeroGrad();
    const diff = Object.entries(inputs).filter(([, t]) => t.requiresGrad);
    diff.forEach(([, t]) => (t.grad = null));
    out.mul(cot).sum().backward();
    for (const [k, t] of diff) expectClose(t.grad!.toArray(), ref.inputGrads[k], 1e-11);
    const params = m.namedParameters();
    expect(params.map(([k]) => k).sort()).toEqual(Object.keys(ref.paramGrads).sort());
    for (const [k, p] of params) expectClose(p.grad!.toArray(), ref.paramGrads[k], 1e-11);
  }

  it('MultiheadAttention, self-attention, sequence first, float attnMask and int32 keyPaddingMask, weights', () => {
    const m = new nn.MultiheadAttention(8, 2, { dtype: 'float64' });
    const x = leaf([5, 3, 8], 1);
    const attnMask = leaf([5, 5], 2).detach();
    const keyPaddingMask = tg.tensor([[0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 0, 1, 0]], { dtype: 'int32' });
    const cfg = { kind: 'mha', embedDim: 8, numHeads: 2, bias: true, batchFirst: false, needWeights: true };
    compare(m, cfg, { query: x, key: x, value: x, attnMask, keyPaddingMask },
      () => m.forward(x, x, x, { attnMask, keyPaddingMask }));
  });

  it('MultiheadAttention, cross-attention with kdim/vdim, batch first, per-head int32 attnMask, fused path', () => {
    const m = new nn.MultiheadAttention(6, 3, { dtype: 'float64', batchFirst: true, kdim: 4, vdim: 5 });
    const q = leaf([2, 3, 6], 3), k = leaf([2, 4, 4], 4), v = leaf([2, 4, 5], 5);
    const vals = Array.from({ length: 6 * 3 * 4 }, (_, i) => (i % 7 === 3 ? 1 : 0));
    const attnMask = tg.tensor(vals, { shape: [6, 3, 4], dtype: 'int32' });
    const cfg = { kind: 'mha', embedDim: 6, numHeads: 3, bias: true, batchFirst: true, kdim: 4, vdim: 5, needWeights: false };
    compare(m, cfg, { query: q, key: k, value: v, attnMask }, () => m.forward(q, k, v, { attnMask, needWeights: false }));
  });

  it('MultiheadAttention, causal', () => {
    const m = new nn.MultiheadAttention(4, 1, { dtype: 'float64', bias: false });
    const x = leaf([4, 2, 4], 6);
    const cfg = { kind: 'mha', embedDim: 4, numHeads: 1, bias: false, batchFirst: false, needWeights: false, causal: true };
    compare(m, cfg, { query: x, key: x, value: x }, () => m.forward(x, x, x, { isCausal: true, needWeights: false }));
  });

  it('TransformerEncoderLayer, pre-LayerNorm, GELU, batch first, causal with key padding', () => {
    const m = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 12, dropout: 0, activation: 'gelu', normFirst: true, batchFirst: true, dtype: 'float64' });
    const src = leaf([2, 5, 8], 7);
    const srcKeyPaddingMask = tg.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], { dtype: 'int32' });
    const cfg = { kind: 'encoder', dModel: 8, nhead: 2, dimFeedforward: 12, activation: 'gelu', normFirst: true, batchFirst: true, eps: 1e-5, causal: true };
    compare(m, cfg, { src, srcKeyPaddingMask }, () => [m.forward(src, { srcKeyPaddingMask, isCausal: true }), null]);
  });

  it('TransformerEncoderLayer, post-LayerNorm, ReLU, sequence first, float srcMask', () => {
    const m = new nn.TransformerEncoderLayer(6, 3, { dimFeedforward: 10, dropout: 0, dtype: 'float64', layerNormEps: 1e-6 });
    const src = leaf([4, 3, 6], 8);
    const srcMask = leaf([4, 4], 9).detach();
    const cfg = { kind: 'encoder', dModel: 6, nhead: 3, dimFeedforward: 10, activation: 'relu', normFirst: false, batchFirst: false, eps: 1e-6 };
    compare(m, cfg, { src, srcMask }, () => [m.forward(src, { srcMask }), null]);
  });
});
