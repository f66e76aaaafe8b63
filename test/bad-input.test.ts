// Bad input never crashes the process and never corrupts data. For every
// public op and each of its tensor inputs, the input is replaced by a disposed
// tensor, a tensor of the wrong dtype, a 0-d tensor, an empty tensor, a tensor
// of an unrelated shape, and non-contiguous or offset views holding the same
// values. Each call must return or throw an Error that names the op (and, for
// disposed tensors and dtypes, the argument and what came); results that come
// back must be right, views must give the values and gradients of the
// contiguous input, and no call may change any input it does not write in place.
//
// The registry mirrors test/op-table.test.ts (importing it would register its
// tests in this file too), with index, target and mask tensors as inputs of
// their own, functional forms, in-place ops, and large inputs for the layout
// variants (SIMD bodies and tails, work split across the thread pool).
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { away, tg, type Tensor } from './helpers.js';

const F = tg.nn.functional;
type DT = 'float32' | 'float64' | 'int32';
type Out = Tensor | Tensor[];

// ---- inputs -------------------------------------------------------------------

const pos = (shape: number[], seed: number) => away(shape, seed, true);
/** Tensors written in place or used as class weights must not require grad. */
const plain = (shape: number[], seed: number) => away(shape, seed, false, false);
const posPlain = (shape: number[], seed: number) => away(shape, seed, true, false);
const ints = (values: number[], shape?: number[]) => tg.tensor(Int32Array.from(values), { dtype: 'int32', ...(shape ? { shape } : {}) });
const probs = (shape: number[], seed: number) => tg.noGrad(() => away(shape, seed).sigmoid()).setRequiresGrad(true);
/** n int32 values in [0, mod). */
const idx = (n: number, mod: number, seed: number, shape?: number[]) =>
  ints(Array.from({ length: n }, (_, k) => Math.floor(Math.abs(Math.sin(seed * 7.1 + k * 3.3)) * mod) % mod), shape);

// ---- the registry -------------------------------------------------------------

interface Op {
  /** Test title. */
  name: string;
  /** The op name every error message must start with ("add: ..."). */
  id: string;
  /** Each input's argument name, as errors about it should give it. */
  args: string[];
  inputs: () => Tensor[];
  fn: (...xs: Tensor[]) => Out;
  /** fn writes into input 0 and returns it. */
  inplace?: boolean;
  /** Large inputs: only the layout variants run. */
  layoutOnly?: boolean;
  /**
   * Where an input given in the wrong dtype changes what it means (an int32
   * attention mask is boolean, a float one is added), the expected output,
   * computed another way from the inputs with that one in float64.
   */
  dtypeExpect?: Record<number, (xs: Tensor[], dtype: DT) => Out>;
}

const op = (name: string, args: string[], inputs: () => Tensor[], fn: Op['fn'], extra: Partial<Op> = {}): Op =>
  ({ name, id: name, args, inputs, fn, ...extra });
const IO = ['input', 'other'];
const two = () => [away([2, 3], 1), away([3], 2)];
const twoSame = () => [away([2, 3], 1), away([2, 3], 2)];
const one = () => [away([2, 3], 3)];
const onePos = () => [pos([2, 3], 4)];

// softmax(q·kᵀ/sqrt(E) + mask)·v from matmul and softmax: an expectation for
// scaledDotProductAttention that does not go through its fused kernel.
const attention = (q: Tensor, k: Tensor, v: Tensor, additive: Tensor | null) => {
  let s = q.matmul(k.mT).mul(1 / Math.sqrt(q.shape[q.ndim - 1]!));
  if (additive) s = s.add(additive);
  return F.softmax(s, -1).matmul(v);
};

const SMALL: Op[] = [
  // elementwise binary, as methods and as functions (a number may stand on either side)
  ...(['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'remainder', 'fmod'] as const).map((n) => op(n, IO, two, (a, b) => a![n](b!))),
  op('pow', IO, () => [pos([2, 3], 5), away([3], 6)], (a, b) => a!.pow(b!)),
  ...(['add', 'mul', 'maximum', 'minimum'] as const).map((n) => op(`tg.${n}`, IO, two, (a, b) => tg[n](a!, b!), { id: n })),
  op('tg.sub (swapped)', ['other', 'input'], two, (a, b) => tg.sub(b!, a!), { id: 'sub' }),
  op('tg.div (swapped)', ['other', 'input'], two, (a, b) => tg.div(b!, a!), { id: 'div' }),
  op('tg.remainder', IO, two, (a, b) => tg.remainder(a!, b!), { id: 'remainder' }),
  op('tg.fmod (swapped)', ['other', 'input'], two, (a, b) => tg.fmod(b!, a!), { id: 'fmod' }),
  op('tg.pow', IO, () => [pos([2, 3], 5), away([3], 6)], (a, b) => tg.pow(a!, b!), { id: 'pow' }),
  op('where', ['condition', 'input', 'other'], () => [ints([1, 0, 1]), away([2, 3], 7), away([3], 8)], (c, a, b) => tg.where(c!, a!, b!)),
  op('Tensor.where', ['condition', 'input', 'other'], () => [ints([1, 0, 1]), away([2, 3], 7), away([3], 8)], (c, a, b) => a!.where(c!, b!), { id: 'where' }),
  ...(['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const).map((n) => op(n, IO, two, (a, b) => a![n](b!))),
  // An int32 input takes the value truncated toward zero, as PyTorch's masked_fill.
  op('maskedFill', ['input', 'mask', 'value'], () => [away([2, 3], 7), ints([1, 0, 1]), away([], 8)],
    (x, m, v) => x!.maskedFill(m!, v!), { dtypeExpect: { 0: ([x, m, v], to) => x!.maskedFill(m!, to === 'int32' ? v!.trunc() : v!) } }),
  // unary
  ...(['neg', 'abs', 'sign', 'floor', 'ceil', 'round', 'trunc', 'square', 'exp', 'expm1', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'elu', 'gelu', 'silu', 'softplus'] as const)
    .map((n) => op(n, ['input'], one, (x) => x![n]())),
  ...(['log', 'log1p', 'sqrt', 'rsqrt'] as const).map((n) => op(n, ['input'], onePos, (x) => x![n]())),
  op('leakyRelu', ['input'], one, (x) => x!.leakyRelu(0.1)),
  op("gelu({ approximate: 'tanh' })", ['input'], one, (x) => x!.gelu({ approximate: 'tanh' }), { id: 'gelu' }),
  op('clamp', ['input'], one, (x) => x!.clamp(-0.5, 0.5)),
  op('to', ['input'], one, (x) => x!.to('float32')),
  op('detach', ['input'], one, (x) => x!.detach()),
  ...(['relu', 'gelu', 'silu', 'sigmoid', 'tanh', 'leakyRelu', 'elu', 'softplus'] as const)
    .map((n) => op(`F.${n}`, ['input'], one, (x) => F[n](x!), { id: n })),
  // reductions
  op('sum', ['input'], one, (x) => x!.sum(1)),
  op('sum (all)', ['input'], one, (x) => x!.sum(), { id: 'sum' }),
  op('mean', ['input'], one, (x) => x!.mean(-1, true)),
  op('prod', ['input'], one, (x) => x!.prod(0)),
  op('max', ['input'], one, (x) => x!.max(1)),
  op('min', ['input'], one, (x) => x!.min(0)),
  op('argmax', ['input'], one, (x) => x!.argmax(1)),
  op('argmin', ['input'], one, (x) => x!.argmin(1)),
  op('var', ['input'], one, (x) => x!.var(1)),
  op('std', ['input'], one, (x) => x!.std(1)),
  op('logsumexp', ['input'], one, (x) => x!.logsumexp(1)),
  op('norm', ['input'], one, (x) => x!.norm(2, 1)),
  op('cumsum', ['input'], one, (x) => x!.cumsum(1)),
  op('cumprod', ['input'], one, (x) => x!.cumprod(0)),
  op('sort', ['input'], one, (x) => Object.values(x!.sort({ dim: 1 }))),
  op('argsort', ['input'], one, (x) => x!.argsort({ dim: 0, descending: true })),
  op('topk', ['input'], one, (x) => Object.values(x!.topk(2))),
  // shape and indexing
  op('reshape', ['input'], one, (x) => x!.reshape(3, -1)),
  op('view', ['input'], one, (x) => x!.view(6)),
  op('flatten', ['input'], one, (x) => x!.flatten()),
  op('squeeze', ['input'], () => [away([2, 1, 3], 3)], (x) => x!.squeeze(1)),
  op('unsqueeze', ['input'], one, (x) => x!.unsqueeze(-1)),
  op('transpose', ['input'], one, (x) => x!.transpose(0, 1)),
  op('permute', ['input'], one, (x) => x!.permute(1, 0)),
  op('T', ['input'], one, (x) => x!.T),
  op('mT', ['input'], one, (x) => x!.mT),
  op('expand', ['input'], () => [away([1, 3], 9)], (x) => x!.expand(2, 3)),
  op('broadcastTo', ['input'], () => [away([3], 9)], (x) => x!.broadcastTo(2, 3)),
  op('slice', ['input'], one, (x) => x!.slice(1, 0, 3, 2)),
  op('narrow', ['input'], one, (x) => x!.narrow(1, 1, 2)),
  op('split', ['input'], one, (x) => x!.split(1, 1)),
  op('chunk', ['input'], one, (x) => x!.chunk(2, 1)),
  op('contiguous', ['input'], one, (x) => x!.contiguous()),
  op('clone', ['input'], one, (x) => x!.clone()),
  op('repeat', ['input'], one, (x) => x!.repeat(2, 1, 2)),
  op('indexSelect', ['input', 'index'], () => [away([2, 3], 3), ints([2, 0, 2])], (x, i) => x!.indexSelect(1, i!)),
  op('gather', ['input', 'index'], () => [away([2, 3], 3), ints([0, 2, 1, 1], [2, 2])], (x, i) => x!.gather(1, i!)),
  op('scatterAdd', ['input', 'index', 'src'], () => [away([2, 3], 10), ints([0, 2, 2, 2], [2, 2]), away([2, 2], 11)],
    (x, i, s) => x!.scatterAdd(1, i!, s!)),
  op('cat', ['tensors[0]', 'tensors[1]'], () => [away([2, 3], 1), away([1, 3], 2)], (a, b) => tg.cat([a!, b!], 0)),
  op('stack', ['tensors[0]', 'tensors[1]'], () => [away([3], 12), away([3], 13)], (a, b) => tg.stack([a!, b!], 1)),
  op('tril', ['input'], one, (x) => x!.tril()),
  op('triu', ['input'], one, (x) => x!.triu(1)),
  // in place
  ...(['addInPlace', 'subInPlace', 'mulInPlace'] as const).map((n) =>
    op(n, IO, () => [plain([2, 3], 40), plain([3], 41)], (a, b) => a![n](b!), { inplace: true })),
  // Into int32, the source is truncated toward zero (as PyTorch's copy_).
  op('copyFrom', ['input', 'source'], () => [plain([2, 3], 40), plain([3], 41)], (a, b) => a!.copyFrom(b!), {
    inplace: true,
    dtypeExpect: { 0: ([a, b], to) => b!.to(to).add(tg.zeros(a!.shape, { dtype: to })) },
  }),
  // An int32 tensor takes the value truncated toward zero (as PyTorch's fill_ and tg.full).
  op('fill', ['input'], () => [plain([2, 3], 40)], (a) => a!.fill(0.25), { inplace: true, dtypeExpect: { 0: ([a], to) => tg.fullLike(a!, to === 'int32' ? 0 : 0.25) } }),
  // linear algebra
  op('matmul', IO, () => [away([2, 2, 3], 14), away([3, 2], 15)], (a, b) => a!.matmul(b!)),
  op('tg.matmul (2-D)', IO, () => [away([2, 3], 14), away([3, 4], 15)], (a, b) => tg.matmul(a!, b!), { id: 'matmul' }),
  op('matmul (matrix-vector)', IO, () => [away([2, 3], 14), away([3], 15)], (a, b) => a!.matmul(b!), { id: 'matmul' }),
  op('dot', IO, () => [away([3], 16), away([3], 17)], (a, b) => a!.dot(b!)),
  op('outer', IO, () => [away([3], 16), away([2], 17)], (a, b) => a!.outer(b!)),
  op('linear', ['input', 'weight', 'bias'], () => [away([2, 3], 18), away([4, 3], 19), away([4], 20)], (x, w, b) => F.linear(x!, w!, b!)),
  op('linear (no bias)', ['input', 'weight'], () => [away([2, 3], 18), away([4, 3], 19)], (x, w) => F.linear(x!, w!), { id: 'linear' }),
  // nn.functional
  op('softmax', ['input'], one, (x) => F.softmax(x!, 1)),
  op('logSoftmax', ['input'], one, (x) => F.logSoftmax(x!, 0)),
  op('crossEntropy', ['input', 'target'], () => [away([2, 3], 3), ints([2, 0])], (x, t) => F.crossEntropy(x!, t!, { labelSmoothing: 0.1 })),
  op('crossEntropy (weight)', ['input', 'target', 'weight'], () => [away([2, 3], 3), ints([2, 0]), posPlain([3], 35)],
    (x, t, w) => F.crossEntropy(x!, t!, { weight: w! }), { id: 'crossEntropy' }),
  op('crossEntropy (probabilities)', ['input', 'target'], () => [away([2, 3], 21), probs([2, 3], 22)],
    (x, p) => F.crossEntropy(x!, p!), { id: 'crossEntropy' }),
  op('nllLoss', ['input', 'target'], () => [away([2, 3], 3), ints([1, 2])], (x, t) => F.nllLoss(x!, t!)),
  op('nllLoss (weight)', ['input', 'target', 'weight'], () => [away([2, 3], 3), ints([1, 2]), posPlain([3], 36)],
    (x, t, w) => F.nllLoss(x!, t!, { weight: w! }), { id: 'nllLoss' }),
  op('mseLoss', ['input', 'target'], twoSame, (a, b) => F.mseLoss(a!, b!)),
  op('l1Loss', ['input', 'target'], twoSame, (a, b) => F.l1Loss(a!, b!)),
  op('huberLoss', ['input', 'target'], twoSame, (a, b) => F.huberLoss(a!, b!, { delta: 0.8 })),
  op('binaryCrossEntropy', ['input', 'target', 'weight'], () => [probs([2, 3], 23), probs([2, 3], 24), pos([2, 3], 37)],
    (p, t, w) => F.binaryCrossEntropy(p!, t!, { weight: w! })),
  op('binaryCrossEntropyWithLogits', ['input', 'target', 'weight', 'posWeight'],
    () => [away([2, 3], 25), probs([2, 3], 26), pos([3], 38), pos([3], 39)],
    (x, t, w, pw) => F.binaryCrossEntropyWithLogits(x!, t!, { weight: w!, posWeight: pw! })),
  op('layerNorm', ['input', 'weight', 'bias'], () => [away([2, 3], 27), away([3], 28), away([3], 29)], (x, w, b) => F.layerNorm(x!, [3], w!, b!)),
  op('dropout', ['input'], one, (x) => {
    tg.manualSeed(3);
    return F.dropout(x!, 0.4);
  }),
  op('embedding', ['indices', 'weight'], () => [ints([3, 0, 3]), away([4, 3], 30)], (i, w) => F.embedding(i!, w!)),
  op('oneHot', ['indices'], () => [ints([2, 0, 1])], (i) => F.oneHot(i!, 4)),
  op('maxPool2d', ['input'], () => [away([1, 2, 4, 5], 40)], (x) => F.maxPool2d(x!, 2)),
  op('avgPool2d', ['input'], () => [away([1, 2, 4, 5], 41)], (x) => F.avgPool2d(x!, 2)),
  op('adaptiveAvgPool2d', ['input'], () => [away([1, 2, 3, 5], 42)], (x) => F.adaptiveAvgPool2d(x!, [2, 3])),
  op('pad', ['input'], () => [away([2, 3], 43)], (x) => F.pad(x!, [2, -1, 1, 0], { value: 2 })),
  op('unfold', ['input'], () => [away([1, 2, 4, 4], 43)], (x) => F.unfold(x!, [2, 3], { padding: 1, stride: [2, 1] })),
  op('fold', ['input'], () => [away([1, 12, 9], 44)], (c) => F.fold(c!, [4, 5], [2, 3], { padding: 1, stride: 2 })),
  op('conv2d', ['input', 'weight', 'bias'], () => [away([2, 4, 4, 3], 45), away([4, 2, 2, 2], 46), away([4], 47)],
    (x, w, b) => F.conv2d(x!, w!, b!, { groups: 2, padding: 1 })),
  op("conv2d (unbatched, 'same')", ['input', 'weight'], () => [away([2, 4, 5], 48), away([3, 2, 2, 3], 49)],
    (x, w) => F.conv2d(x!, w!, null, { padding: 'same' }), { id: 'conv2d' }),
  op('scaledDotProductAttention', ['query', 'key', 'value', 'attnMask'],
    () => [away([2, 3, 2], 31), away([2, 4, 2], 32), away([2, 4, 3], 33), away([3, 4], 34)],
    (q, k, v, m) => F.scaledDotProductAttention(q!, k!, v!, { attnMask: m! }),
    // The int32 mask made of the float values times 10 is nonzero everywhere: nothing is masked out.
    { dtypeExpect: { 3: ([q, k, v]) => attention(q!, k!, v!, null) } }),
  op('scaledDotProductAttention (int32 mask)', ['query', 'key', 'value', 'attnMask'],
    () => [away([2, 3, 2], 31), away([2, 4, 2], 32), away([2, 4, 3], 33), ints([1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1], [3, 4])],
    (q, k, v, m) => F.scaledDotProductAttention(q!, k!, v!, { attnMask: m! }),
    // As float64, the 0/1 mask is added to the scores.
    { id: 'scaledDotProductAttention', dtypeExpect: { 3: ([q, k, v, m]) => attention(q!, k!, v!, m!) } }),
  op('scaledDotProductAttention (causal)', ['query', 'key', 'value'], () => [away([2, 3, 2], 31), away([2, 4, 2], 32), away([2, 4, 3], 33)],
    (q, k, v) => F.scaledDotProductAttention(q!, k!, v!, { isCausal: true }), { id: 'scaledDotProductAttention' }),
];

// Large inputs: more than one SIMD vector with a tail, and more elements than
// one task of the thread pool takes (32768).
const R = 181;
const C = 193;
const big = (name: string, args: string[], inputs: () => Tensor[], fn: Op['fn'], extra: Partial<Op> = {}): Op =>
  op(`${name} [large]`, args, inputs, fn, { id: name, layoutOnly: true, ...extra });
const LARGE: Op[] = [
  ...(['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'remainder', 'fmod', 'eq', 'lt', 'ge'] as const)
    .map((n) => big(n, IO, () => [away([R, C], 1), away([C], 2)], (a, b) => a![n](b!))),
  big('add', IO, () => [away([R, C], 1), away([R, C], 2)], (a, b) => a!.add(b!), { name: 'add (same shape) [large]' }),
  big('mul', IO, () => [away([R, C], 1), away([R, 1], 2)], (a, b) => a!.mul(b!), { name: 'mul (column) [large]' }),
  big('pow', IO, () => [pos([R, C], 5), away([C], 6)], (a, b) => a!.pow(b!)),
  big('where', ['condition', 'input', 'other'], () => [idx(C, 2, 1), away([R, C], 7), away([C], 8)], (c, a, b) => tg.where(c!, a!, b!)),
  big('maskedFill', ['input', 'mask', 'value'], () => [away([R, C], 7), idx(C, 2, 1), away([], 8)], (x, m, v) => x!.maskedFill(m!, v!)),
  ...(['neg', 'abs', 'floor', 'round', 'square', 'exp', 'expm1', 'sin', 'tanh', 'sigmoid', 'relu', 'elu', 'gelu', 'silu', 'softplus', 'reciprocal'] as const)
    .map((n) => big(n, ['input'], () => [away([R, C], 3)], (x) => x![n]())),
  ...(['log', 'sqrt', 'rsqrt', 'log1p'] as const).map((n) => big(n, ['input'], () => [pos([R, C], 4)], (x) => x![n]())),
  big('clamp', ['input'], () => [away([R, C], 3)], (x) => x!.clamp(-0.5, 0.5)),
  big('to', ['input'], () => [away([R, C], 3)], (x) => x!.to('float32')),
  ...([
    ['sum', (x, d) => x.sum(d)],
    ['mean', (x, d) => x.mean(d)],
    ['max', (x, d) => x.max(d)],
    ['min', (x, d) => x.min(d)],
    ['argmax', (x, d) => x.argmax(d)],
    ['argmin', (x, d) => x.argmin(d)],
    ['var', (x, d) => x.var(d)],
    ['std', (x, d) => x.std(d)],
    ['logsumexp', (x, d) => x.logsumexp(d ?? [0, 1])],
    ['prod', (x, d) => x.prod(d)],
    ['norm', (x, d) => x.norm(2, d)],
  ] as [string, (x: Tensor, d?: number) => Tensor][]).flatMap(([n, call]) =>
    [1, 0, undefined].map((d) => big(n, ['input'], n === 'prod' ? () => [pos([R, C], 4)] : () => [away([R, C], 3)], (x) => call(x!, d),
      { name: `${n} (${d === undefined ? 'all' : `dim ${d}`}) [large]` }))),
  ...[1, 0].flatMap((d) => [
    big('cumsum', ['input'], () => [away([R, C], 3)], (x) => x!.cumsum(d), { name: `cumsum (dim ${d}) [large]` }),
    big('cumprod', ['input'], () => [pos([R, C], 4)], (x) => x!.cumprod(d), { name: `cumprod (dim ${d}) [large]` }),
    big('sort', ['input'], () => [away([R, C], 3)], (x) => Object.values(x!.sort({ dim: d })), { name: `sort (dim ${d}) [large]` }),
    big('topk', ['input'], () => [away([R, C], 3)], (x) => Object.values(x!.topk(5, { dim: d })), { name: `topk (dim ${d}) [large]` }),
  ]),
  big('contiguous', ['input'], () => [away([R, C], 3)], (x) => x!.contiguous()),
  big('repeat', ['input'], () => [away([R, C], 3)], (x) => x!.repeat(2, 1)),
  big('clone', ['input'], () => [away([R, C], 3)], (x) => x!.clone()),
  big('reshape', ['input'], () => [away([R, C], 3)], (x) => x!.reshape(C, R)),
  big('indexSelect', ['input', 'index'], () => [away([R, C], 3), idx(300, C, 2)], (x, i) => x!.indexSelect(1, i!)),
  big('gather', ['input', 'index'], () => [away([R, C], 3), idx(R * 50, C, 3, [R, 50])], (x, i) => x!.gather(1, i!)),
  big('scatterAdd', ['input', 'index', 'src'], () => [away([R, C], 3), idx(R * 50, C, 4, [R, 50]), away([R, 50], 5)],
    (x, i, s) => x!.scatterAdd(1, i!, s!)),
  big('tril', ['input'], () => [away([R, C], 3)], (x) => x!.tril(5)),
  big('triu', ['input'], () => [away([R, C], 3)], (x) => x!.triu(-5)),
  big('cat', ['tensors[0]', 'tensors[1]'], () => [away([R, C], 1), away([31, C], 2)], (a, b) => tg.cat([a!, b!], 0)),
  big('stack', ['tensors[0]', 'tensors[1]'], () => [away([R, C], 1), away([R, C], 2)], (a, b) => tg.stack([a!, b!], 1)),
  big('addInPlace', IO, () => [plain([R, C], 40), plain([C], 41)], (a, b) => a!.addInPlace(b!), { inplace: true }),
  big('copyFrom', IO, () => [plain([R, C], 40), plain([R, C], 41)], (a, b) => a!.copyFrom(b!), { inplace: true }),
  big('matmul', IO, () => [away([3, 67, 45], 14), away([45, 29], 15)], (a, b) => a!.matmul(b!), { name: 'matmul (batched) [large]' }),
  big('matmul', IO, () => [away([130, 70], 14), away([70, 90], 15)], (a, b) => a!.matmul(b!)),
  big('matmul', IO, () => [away([130, 70], 14), away([70], 15)], (a, b) => a!.matmul(b!), { name: 'matmul (matrix-vector) [large]' }),
  big('dot', IO, () => [away([1000], 16), away([1000], 17)], (a, b) => a!.dot(b!)),
  big('outer', IO, () => [away([67], 16), away([45], 17)], (a, b) => a!.outer(b!)),
  big('linear', ['input', 'weight', 'bias'], () => [away([67, 45], 18), away([29, 45], 19), away([29], 20)], (x, w, b) => F.linear(x!, w!, b!)),
  big('softmax', ['input'], () => [away([R, C], 3)], (x) => F.softmax(x!, 1)),
  big('softmax', ['input'], () => [away([R, C], 3)], (x) => F.softmax(x!, 0), { name: 'softmax (dim 0) [large]' }),
  big('logSoftmax', ['input'], () => [away([R, C], 3)], (x) => F.logSoftmax(x!, 1)),
  big('crossEntropy', ['input', 'target'], () => [away([R, C], 3), idx(R, C, 6)], (x, t) => F.crossEntropy(x!, t!, { labelSmoothing: 0.1 })),
  big('crossEntropy', ['input', 'target'], () => [away([R, C], 21), probs([R, C], 22)], (x, p) => F.crossEntropy(x!, p!),
    { name: 'crossEntropy (probabilities) [large]' }),
  big('nllLoss', ['input', 'target'], () => [away([R, C], 3), idx(R, C, 7)], (x, t) => F.nllLoss(x!, t!)),
  ...(['mseLoss', 'l1Loss', 'huberLoss'] as const).map((n) =>
    big(n, ['input', 'target'], () => [away([R, C], 1), away([R, C], 2)], (a, b) => F[n](a!, b!))),
  big('binaryCrossEntropy', ['input', 'target'], () => [probs([R, C], 23), probs([R, C], 24)], (p, t) => F.binaryCrossEntropy(p!, t!)),
  big('binaryCrossEntropyWithLogits', ['input', 'target', 'posWeight'], () => [away([R, C], 25), probs([R, C], 26), pos([C], 38)],
    (x, t, pw) => F.binaryCrossEntropyWithLogits(x!, t!, { posWeight: pw! })),
  big('layerNorm', ['input', 'weight', 'bias'], () => [away([R, C], 27), away([C], 28), away([C], 29)], (x, w, b) => F.layerNorm(x!, [C], w!, b!)),
  big('dropout', ['input'], () => [away([R, C], 3)], (x) => {
    tg.manualSeed(3);
    return F.dropout(x!, 0.4);
  }),
  big('embedding', ['indices', 'weight'], () => [idx(300, R, 8), away([R, 37], 30)], (i, w) => F.embedding(i!, w!)),
  big('unfold', ['input'], () => [away([3, 5, 17, 19], 43)], (x) => F.unfold(x!, [3, 2], { padding: 1, dilation: [1, 2] })),
  big('fold', ['input'], () => [away([3, 30, 323], 44)], (c) => F.fold(c!, [17, 19], [3, 2], { padding: 1, dilation: [1, 2] })),
  big('conv2d', ['input', 'weight', 'bias'], () => [away([3, 6, 17, 19], 45), away([8, 3, 3, 2], 46), away([8], 47)],
    (x, w, b) => F.conv2d(x!, w!, b!, { groups: 2, stride: [2, 1], padding: 1 })),
  big('oneHot', ['indices'], () => [idx(300, 17, 9)], (i) => F.oneHot(i!, 17)),
  big('scaledDotProductAttention', ['query', 'key', 'value', 'attnMask'],
    () => [away([2, 37, 16], 31), away([2, 41, 16], 32), away([2, 41, 24], 33), away([37, 41], 34)],
    (q, k, v, m) => F.scaledDotProductAttention(q!, k!, v!, { attnMask: m! })),
  big('scaledDotProductAttention', ['query', 'key', 'value'], () => [away([2, 37, 16], 31), away([2, 41, 16], 32), away([2, 41, 24], 33)],
    (q, k, v) => F.scaledDotProductAttention(q!, k!, v!, { isCausal: true }), { name: 'scaledDotProductAttention (causal) [large]' }),
];

// ---- variants -----------------------------------------------------------------

type Variant = 'disposed' | 'wrong dtype' | 'float32' | '0-d' | 'empty [0, 3]' | 'shape [5, 7]'
  | 'transposed view' | 'strided view' | 'offset view' | 'view of a disposed base';
const LAYOUTS: Variant[] = ['transposed view', 'strided view', 'offset view', 'view of a disposed base'];

interface Meta { shape: number[]; dtype: DT; requiresGrad: boolean; size: number }

function variantsFor(o: Op, m: Meta): Variant[] {
  const dims = m.shape.filter((s) => s > 1).length;
  const layouts = LAYOUTS.filter((v) => (v === 'transposed view' ? dims >= 2 : m.shape.length >= 1 && m.size > 1));
  if (o.layoutOnly) return layouts;
  const dtype: Variant[] = m.dtype === 'int32' ? ['wrong dtype'] : ['wrong dtype', 'float32'];
  return ['disposed', ...dtype, '0-d', 'empty [0, 3]', 'shape [5, 7]', ...layouts];
}

const valuesOf = (t: Tensor): number[] => Array.from(t.data());

function fromValues(values: ArrayLike<number>, shape: readonly number[], dtype: DT, requiresGrad: boolean): Tensor {
  const data = dtype === 'int32' ? Int32Array.from(values) : Float64Array.from(values);
  return tg.tensor(data, { shape: [...shape], dtype, requiresGrad: requiresGrad && dtype !== 'int32' });
}

interface Layout {
  view: Tensor;
  /** The storage elements outside the view, which nothing may write. */
  gaps: (() => Tensor) | null;
}

// Views holding x's values, built without the ops under test except the view op itself.
function layout(x: Tensor, v: Variant): Layout {
  const shape = [...x.shape];
  const vals = x.data();
  const { dtype, requiresGrad } = x;
  const n = vals.length;
  const last = shape[shape.length - 1]!;
  const outer = n / last;
  if (v === 'transposed view') {
    // base has the reversed shape and base.T is x: base[c_{k-1}, ..., c_0] = x[c_0, ..., c_{k-1}].
    const k = shape.length;
    const rev = [...shape].reverse();
    const baseStrides = new Array<number>(k);
    for (let d = k - 1, s = 1; d >= 0; d--) {
      baseStrides[d] = s;
      s *= rev[d]!;
    }
    const b = new Float64Array(n);
    const c = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let d = 0; d < k; d++) off += c[d]! * baseStrides[k - 1 - d]!;
      b[off] = vals[i]!;
      for (let d = k - 1; d >= 0; d--) {
        if (++c[d]! < shape[d]!) break;
        c[d] = 0;
      }
    }
    return { view: fromValues(b, rev, dtype, requiresGrad).T, gaps: null };
  }
  if (v === 'strided view') {
    // The last dim at odd positions of a last dim of 2n + 1; the rest hold values an op must never read or write.
    const w = 2 * last + 1;
    const b = new Float64Array(outer * w);
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < w; j++) b[o * w + j] = j % 2 === 1 ? vals[o * last + (j - 1) / 2]! : 1000 + j;
    const base = fromValues(b, [...shape.slice(0, -1), w], dtype, requiresGrad);
    return { view: base.slice(-1, 1, null, 2), gaps: () => base.slice(-1, 0, null, 2) };
  }
  if (v === 'offset view') {
    const b = new Float64Array(n + 2);
    b.set(vals, 1);
    b[0] = 999;
    b[n + 1] = 998;
    const base = fromValues(b, [n + 2], dtype, requiresGrad);
    return { view: base.narrow(0, 1, n).reshape(shape), gaps: () => tg.stack([base.narrow(0, 0, 1), base.narrow(0, n + 1, 1)]) };
  }
  // A strided view whose base was disposed first: the view must keep the storage alive.
  const w = 2 * last;
  const b = new Float64Array(outer * w);
  for (let o = 0; o < outer; o++) for (let j = 0; j < w; j++) b[o * w + j] = j % 2 === 0 ? vals[o * last + j / 2]! : -2000 - j;
  const base = fromValues(b, [...shape.slice(0, -1), w], dtype, requiresGrad);
  const view = base.slice(-1, 0, null, 2);
  base.dispose();
  return { view, gaps: null };
}

// ---- checks ---------------------------------------------------------------------

const asList = (r: Out): Tensor[] => (Array.isArray(r) ? r : [r]);

function run(f: () => Out): { ok: true; out: Tensor[] } | { ok: false; error: unknown } {
  try {
    return { ok: true, out: asList(f()) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The first element where `a` is not within tol of `b` (relative above 1), or null. */
function mismatch(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const same = Number.isNaN(y) ? Number.isNaN(x) : x === y || Math.abs(x - y) <= tol * Math.max(1, Math.abs(y));
    if (!same) return `element ${i}: ${x} vs ${y}`;
  }
  return null;
}

function expectSameOutputs(got: Tensor[], want: Tensor[], tol: number, what: string): void {
  expect(got.length, `${what}: number of outputs`).toBe(want.length);
  got.forEach((t, k) => {
    expect([...t.shape], `${what}: shape of output ${k}`).toEqual([...want[k]!.shape]);
    expect(mismatch(t.data(), want[k]!.data(), tol), `${what}: output ${k}`).toBeNull();
  });
}

/** Every output can be read back and holds as many elements as its shape says. */
function expectReadable(out: Tensor[]): void {
  for (const t of out) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    expect(t.data().length, `output of shape [${t.shape.join(', ')}]`).toBe(n);
  }
}

/** A scalar that weighs each output element differently, so misplaced gradients show. */
function weightedLoss(outs: Tensor[]): Tensor | null {
  let loss: Tensor | null = null;
  for (const [k, t] of outs.entries()) {
    if (t.dtype === 'int32' || !t.requiresGrad) continue;
    const w = fromValues(Float64Array.from({ length: t.size }, (_, i) => Math.cos(i * 0.37 + k)), t.shape, 'float64', false);
    const term = t.mul(w).sum();
    loss = loss === null ? term : loss.add(term);
  }
  return loss;
}

const ERROR_CLASSES: Record<string, (new (...a: never[]) => Error)[]> = {
  disposed: [tg.TapegradError],
  dtype: [TypeError],
  shape: [RangeError, TypeError],
};

function expectNamedError(error: unknown, o: Op, kind: keyof typeof ERROR_CLASSES, mentions?: string): void {
  expect(error, 'an Error').toBeInstanceOf(Error);
  const e = error as Error;
  expect(e.message.startsWith(`${o.id}: `), `the message names ${o.id}: '${e.message}'`).toBe(true);
  expect(ERROR_CLASSES[kind]!.some((c) => e instanceof c), `${e.constructor.name} ('${e.message}') is one of ${ERROR_CLASSES[kind]!.map((c) => c.name).join(', ')}`).toBe(true);
  if (mentions !== undefined) expect(e.message, 'the message says what came').toContain(mentions);
}

function checkCase(o: Op, i: number, v: Variant): void {
  tg.tidy(() => {
    const xs = o.inputs();
    const original = xs[i]!;
    const { dtype, requiresGrad } = original;
    // Inputs given in the wrong dtype are compared with the op on the same values in float64
    // (or with dtypeExpect); a view's with the op on the contiguous input.
    let expected: (() => Out) | null = null;
    let tol = 1e-4;
    let gaps: (() => Tensor) | null = null;
    let mentions: string | undefined;
    let kind: keyof typeof ERROR_CLASSES = 'shape';
    let contiguous: Tensor[] = []; // the inputs of the expected result of a layout variant

    if (v === 'disposed') {
      original.dispose();
      kind = 'disposed';
    } else if (v === 'wrong dtype' || v === 'float32') {
      kind = 'dtype';
      const to: DT = v === 'float32' ? 'float32' : dtype === 'int32' ? 'float64' : 'int32';
      const replaced = tg.noGrad(() => (to === 'int32' ? original.mul(10) : original).to(to));
      if (to === 'float32' && requiresGrad) replaced.setRequiresGrad(true);
      xs[i] = replaced;
      mentions = to;
      // The replaced values in float64, copied before the call (an in-place op may write them).
      const same = () => o.inputs().map((x, k) => (k === i ? asFloat64 : x));
      const asFloat64 = tg.noGrad(() => replaced.to('float64'));
      const custom = o.dtypeExpect?.[i];
      if (custom !== undefined) expected = () => custom(same(), to);
      else if (dtype === 'int32') expected = () => o.fn(...o.inputs()); // the same values, as int32
      else expected = () => o.fn(...same());
    } else if (v === '0-d') {
      xs[i] = fromValues([dtype === 'int32' ? 0 : 0.7], [], dtype, requiresGrad);
    } else if (v === 'empty [0, 3]') {
      xs[i] = fromValues([], [0, 3], dtype, requiresGrad);
    } else if (v === 'shape [5, 7]') {
      const vals = Array.from({ length: 35 }, (_, k) => (dtype === 'int32' ? 0 : 0.3 + 0.5 * Math.abs(Math.sin(k))));
      xs[i] = fromValues(vals, [5, 7], dtype, requiresGrad);
      mentions = '[5, 7]';
    } else {
      const l = layout(original, v);
      if (v !== 'offset view') expect(l.view.isContiguous(), 'the view is not contiguous').toBe(false);
      expect(valuesOf(l.view), 'the view holds the input values').toEqual(valuesOf(original));
      xs[i] = l.view;
      gaps = l.gaps;
      contiguous = o.inputs();
      const ref = contiguous;
      expected = () => o.fn(...ref);
      tol = 1e-10;
    }

    const before = xs.map((x) => (x.isDisposed ? null : valuesOf(x)));
    const gapsBefore = gaps ? valuesOf(gaps()) : null;
    const r = run(() => o.fn(...xs));

    // Data never corrupted: no input changes, except the one an in-place op writes
    // when it succeeds, and no storage element outside a view changes.
    xs.forEach((x, k) => {
      if (before[k] === null || (o.inplace && k === 0 && r.ok)) return;
      expect(mismatch(x.data(), before[k]!, 0), `input ${k} (${o.args[k]}) unchanged`).toBeNull();
    });
    if (gaps) expect(mismatch(gaps().data(), gapsBefore!, 0), 'storage outside the view unchanged').toBeNull();

    if (v === 'disposed') {
      expect(r.ok, 'a disposed input is refused').toBe(false);
      if (!r.ok) {
        expectNamedError(r.error, o, 'disposed');
        expect((r.error as Error).message).toBe(`${o.id}: ${o.args[i]} is a disposed tensor`);
      }
      return;
    }
    if (LAYOUTS.includes(v)) {
      if (!r.ok && o.id === 'view' && v !== 'offset view') {
        // view() may refuse a layout it cannot view without a copy (as PyTorch's view).
        expectNamedError(r.error, o, 'shape', 'without a copy');
        return;
      }
      if (!r.ok) throw r.error;
      const want = asList(expected!());
      expectSameOutputs(r.out, want, tol, 'values');
      if (original.requiresGrad) {
        const lossGot = weightedLoss(r.out);
        const lossWant = weightedLoss(want);
        expect(lossGot === null, 'gradients flow through the view as through the input').toBe(lossWant === null);
        if (lossGot && lossWant) {
          const [g] = tg.grad(lossGot, [xs[i]!], { allowUnused: true });
          const [h] = tg.grad(lossWant, [contiguous[i]!], { allowUnused: true });
          expect(g === null, 'gradient reaches the view').toBe(h === null);
          if (g && h) {
            expect([...g.shape]).toEqual([...h.shape]);
            expect(mismatch(g.data(), h.data(), tol), 'gradient').toBeNull();
          }
        }
      }
      return;
    }
    if (!r.ok) {
      expectNamedError(r.error, o, kind, mentions);
      return;
    }
    expectReadable(r.out);
    if (expected) expectSameOutputs(r.out, asList(expected()), tol, `result for ${xs[i]!.dtype} input`);
  });
}

// ---- the tests -------------------------------------------------------------------

describe('bad input to every op: a named error or a right result, never a crash or corrupted data', () => {
  for (const o of [...SMALL, ...LARGE]) {
    const metas: Meta[] = tg.tidy(() =>
      o.inputs().map((x) => ({ shape: [...x.shape], dtype: x.dtype, requiresGrad: x.requiresGrad, size: x.size })));
    describe(o.name, () => {
      metas.forEach((m, i) => {
        for (const v of variantsFor(o, m)) {
          it(`${o.args[i]} (input ${i}): ${v}`, () => checkCase(o, i, v));
        }
      });
    });
  }

  it('covers every op of the op-table registry', () => {
    // The names of test/op-table.test.ts's OPS, read from its source (importing
    // the module would run its tests here): d('name', ...), nd(...), unary(...),
    // and the names mapped over in ...(['eq', ...] as const).map((n) => nd(n, ...)).
    const source = readFileSync(new URL('./op-table.test.ts', import.meta.url), 'utf8');
    const table = source.slice(source.indexOf('export const OPS'), source.indexOf('\n];', source.indexOf('export const OPS')));
    const registry = [...table.matchAll(/\b(?:d|nd|unary)\(\s*(['"])(.*?)\1/g)].map((m) => m[2]!);
    for (const m of table.matchAll(/\(\[([^\]]*)\] as const\)\.map\(\(n\) => n?d\(n,/g))
      registry.push(...[...m[1]!.matchAll(/'([^']*)'/g)].map((q) => q[1]!));
    expect(registry.length, 'names found in op-table.test.ts').toBeGreaterThan(80);
    const covered = (n: string) => (n === 'T / mT' ? ['T', 'mT'] : [n]);
    const names = new Set(SMALL.map((o) => o.name));
    expect(registry.filter((n) => !covered(n).every((c) => names.has(c)))).toEqual([]);
  });
});

describe('in-place writes whose operand overlaps the written tensor', () => {
  // The operand is read as it was before the write (NumPy's rule: an overlapping
  // operand in another layout is copied first); PyTorch refuses these instead.
  // Writing into an expanded view, whose elements share memory, is refused (as
  // PyTorch does): each element would be written several times.
  const cases: [string, (a: Tensor) => unknown, number[][], number[]][] = [
    ['a.addInPlace(a.T)', (a) => a.addInPlace(a.T), [[1, 2], [3, 4]], [2, 5, 5, 8]],
    ['a.subInPlace(a.T)', (a) => a.subInPlace(a.T), [[1, 2], [3, 4]], [0, -1, 1, 0]],
    ['a.mulInPlace(a.T)', (a) => a.mulInPlace(a.T), [[1, 2], [3, 4]], [1, 6, 6, 16]],
    ['a.copyFrom(a.T)', (a) => a.copyFrom(a.T), [[1, 2], [3, 4]], [1, 3, 2, 4]],
    ['a.addInPlace(its first row, broadcast)', (a) => a.addInPlace(a.narrow(0, 0, 1)), [[1, 2], [3, 4]], [2, 4, 4, 6]],
    ['a[1:].copyFrom(a[:-1])', (a) => a.narrow(0, 1, 3).copyFrom(a.narrow(0, 0, 3)), [[1, 2, 3, 4]], [1, 1, 2, 3]],
    ['a[:-1].copyFrom(a[1:])', (a) => a.narrow(0, 0, 3).copyFrom(a.narrow(0, 1, 3)), [[1, 2, 3, 4]], [2, 3, 4, 4]],
    ['a.addInPlace(a), the same layout', (a) => a.addInPlace(a), [[1, 2], [3, 4]], [2, 4, 6, 8]],
    ['a.mulInPlace(a view of all of a)', (a) => a.mulInPlace(a.slice(0, 0, null, 1)), [[1, 2], [3, 4]], [1, 4, 9, 16]],
  ];
  for (const dtype of ['float32', 'float64', 'int32'] as const) {
    for (const [title, write, values, right] of cases) {
      it(`${title}, ${dtype}: computed from the values before the write`, () => {
        tg.tidy(() => {
          const rows = values.length === 1 ? values[0]! : values;
          const a = tg.tensor(rows as number[] | number[][], { dtype });
          write(a);
          expect(valuesOf(a)).toEqual(right);
        });
      });
    }
  }

  it('large overlapping operands (the vectorised and parallel paths) read the values before the write', () => {
    tg.tidy(() => {
      const n = 300;
      const data = Array.from({ length: n * n }, (_, i) => (i % 97) - 48);
      const a = tg.tensor(data, { shape: [n, n] });
      a.addInPlace(a.T);
      const got = valuesOf(a);
      for (const [i, j] of [[0, 1], [1, 0], [17, 250], [250, 17], [299, 298]] as const)
        expect(got[i * n + j]).toBe(data[i * n + j]! + data[j * n + i]!);
      const b = tg.tensor(data.slice(0, 40000));
      b.narrow(0, 1, 39999).copyFrom(b.narrow(0, 0, 39999));
      const shifted = valuesOf(b);
      expect(shifted[0]).toBe(data[0]);
      expect(shifted.slice(1)).toEqual(data.slice(0, 39999));
    });
  });

  for (const [title, write] of [
    ['addInPlace', (v: Tensor) => v.addInPlace(1)],
    ['mulInPlace', (v: Tensor) => v.mulInPlace(2)],
    ['copyFrom', (v: Tensor) => v.copyFrom(tg.tensor([[5, 6], [7, 8], [9, 10]]))],
    ['fill', (v: Tensor) => v.fill(3)],
  ] as const) {
    it(`${title} into an expanded view is refused, and the base is unchanged`, () => {
      tg.tidy(() => {
        const b = tg.tensor([1, 2]);
        expect(() => write(b.expand(3, 2))).toThrow(
          new RegExp(`^${title}: cannot write in place into an expanded view \\(shape \\[3, 2\\], strides \\[0, 1\\]\\)`),
        );
        expect(valuesOf(b)).toEqual([1, 2]);
      });
    });
  }
});

describe('gradient hooks that return bad values', () => {
  // A hook's return value replaces the gradient; one of another shape must be
  // refused by an error naming registerHook or backward (as the .grad setter
  // refuses one), never reshaped, reduced or stored as it is.
  function expectHookRefused(f: () => Tensor | null, message: RegExp): void {
    const r = run(() => {
      const g = f();
      return g ? [g] : [];
    });
    if (r.ok) throw new Error(`a hook returning a bad gradient was accepted: ${JSON.stringify(r.out.map((t) => t.toArray()))}`);
    expect(r.error).toBeInstanceOf(Error);
    expect((r.error as Error).message).toMatch(message);
  }

  it('a hook returning a gradient of the right shape replaces it', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      const m = b.mul(2);
      m.registerHook(() => tg.tensor([3, 5]));
      m.sum().backward();
      expect(valuesOf(b.grad!)).toEqual([6, 10]);
    });
  });

  it('on a leaf, a hook returning shape [3] for a [2] tensor is refused', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      b.registerHook(() => tg.ones([3]));
      expectHookRefused(() => {
        b.mul(2).sum().backward();
        return b.grad;
      }, /^registerHook: the hook returned a gradient of shape \[3\] for a gradient of shape \[2\]$/);
      expect(b.grad).toBeNull();
    });
  });

  it('on an intermediate, a hook returning shape [2, 2] for a [2] tensor is refused', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      const m = b.mul(2);
      m.registerHook(() => tg.ones([2, 2]));
      expectHookRefused(() => {
        m.sum().backward();
        return b.grad;
      }, /^registerHook: the hook returned a gradient of shape \[2, 2\] for a gradient of shape \[2\]$/);
      expect(b.grad).toBeNull();
    });
  });

  it('on an intermediate, a hook returning shape [7] is refused', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      const m = b.mul(2);
      m.registerHook(() => tg.ones([7]));
      expectHookRefused(() => {
        m.sum().backward();
        return b.grad;
      }, /^registerHook: the hook returned a gradient of shape \[7\] for a gradient of shape \[2\]$/);
    });
  });

  it('a hook returning another dtype, or something not a tensor, is refused; the next backward runs', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      const m = b.mul(2);
      m.registerHook(() => tg.ones([2], { dtype: 'float64' }));
      expectHookRefused(() => {
        m.sum().backward();
        return b.grad;
      }, /^registerHook: the hook returned a float64 gradient for a float32 one$/);
      const c = tg.tensor([1, 2], { requiresGrad: true });
      c.registerHook((() => 5) as unknown as () => Tensor);
      expectHookRefused(() => {
        c.mul(3).sum().backward();
        return c.grad;
      }, /^registerHook: the hook must return a Tensor or nothing, got 5$/);
      const d = tg.tensor([1, 2], { requiresGrad: true });
      d.mul(3).sum().backward();
      expect(valuesOf(d.grad!)).toEqual([3, 3]);
    });
  });

  it('a leaf hook returning a view of the accumulated .grad in another layout adds the values before the sum', () => {
    tg.tidy(() => {
      const b = tg.tensor([[1, 2], [3, 4]], { requiresGrad: true });
      b.mul(tg.tensor([[1, 2], [3, 4]])).sum().backward();
      b.registerHook(() => b.grad!.T);
      b.mul(2).sum().backward();
      expect(valuesOf(b.grad!)).toEqual([2, 5, 5, 8]);
    });
  });

  it('registerHook(5) is refused when registered', () => {
    tg.tidy(() => {
      const b = tg.tensor([1, 2], { requiresGrad: true });
      expect(() => b.registerHook(5 as unknown as () => void)).toThrow(/^registerHook: /);
    });
  });
});

describe('disposed tensors handed to the library outside the ops', () => {
  // The error names the entry point and which tensor, not the internal op
  // that first touched it.
  it('an optimizer step with a disposed parameter names the optimizer and the parameter', () => {
    const p = tg.tensor([1, 2], { requiresGrad: true });
    const q = tg.tensor([3], { requiresGrad: true });
    const opt = new tg.optim.SGD([{ params: [p] }, { params: [q] }], { lr: 0.1 });
    q.dispose();
    expect(() => opt.step()).toThrow(new tg.TapegradError('SGD.step: parameter 0 of group 1 is a disposed tensor'));
    expect(valuesOf(p)).toEqual([1, 2]);
    p.dispose();
  });

  it('serialize names the disposed entry', () => {
    const kept = tg.tensor([1]);
    const gone = tg.tensor([2]);
    gone.dispose();
    expect(() => tg.serialize({ kept, gone })).toThrow(new tg.TapegradError("serialize: 'gone' is a disposed tensor"));
    kept.dispose();
  });

  it('loadStateDict names itself and the entry, and leaves the module as it was', () => {
    const layer = new tg.nn.Linear(2, 1);
    const before = layer.parameters().map(valuesOf);
    const weight = tg.tensor([[5, 6]]);
    const bias = tg.tensor([7]);
    bias.dispose();
    expect(() => layer.loadStateDict({ weight, bias })).toThrow(new tg.TapegradError("loadStateDict: 'bias' is a disposed tensor"));
    expect(layer.parameters().map(valuesOf)).toEqual(before);
    expect(() => layer.loadStateDict({ weight }, null as never)).toThrow(/^loadStateDict: options must be an object/);
    // strict: 'false' was truthy (strict), a misspelt key left strict on.
    expect(() => layer.loadStateDict({ weight }, { strict: 'false' } as never)).toThrow(new TypeError("loadStateDict: strict must be a boolean, got 'false'"));
    expect(() => layer.loadStateDict({ weight }, { strcit: false } as never)).toThrow(new TypeError("loadStateDict: unknown option 'strcit'; the options are strict"));
    expect(layer.parameters().map(valuesOf)).toEqual(before);
    weight.dispose();
  });

  it('TensorDataset throws a TapegradError naming the field', () => {
    const x = tg.tensor([[1], [2]]);
    const y = tg.tensor([1, 2]);
    y.dispose();
    let error: unknown;
    try {
      new tg.data.TensorDataset(x, y);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(tg.TapegradError);
    expect((error as Error).message).toBe('TensorDataset: field 1 is a disposed tensor');
    x.dispose();
  });
});

describe('a dataset whose tensor was disposed after it was made', () => {
  it('getBatch, get and a DataLoader over it name the dataset and the field', async () => {
    const x = tg.tensor([[1], [2], [3]]);
    const y = tg.tensor([1, 2, 3]);
    const ds = new tg.data.TensorDataset(x, y);
    y.dispose();
    expect(() => ds.getBatch(Int32Array.from([0, 2]))).toThrow(
      new tg.TapegradError('TensorDataset.getBatch: field 1 is a disposed tensor'),
    );
    expect(() => ds.get(1)).toThrow(new tg.TapegradError('TensorDataset.get: field 1 is a disposed tensor'));
    const loader = new tg.data.DataLoader(ds, { batchSize: 2 });
    await expect(async () => {
      for await (const batch of loader) for (const t of batch) t.dispose();
    }).rejects.toThrow(/^TensorDataset\.getBatch: field 1 is a disposed tensor$/);
    expect(valuesOf(x)).toEqual([1, 2, 3]);
    x.dispose();
  });
});

describe('a crafted checkpoint resumed as the README shows', () => {
  // Names in a file are data: whatever a load says about them, none may reach
  // Object.prototype (which every object of the process shares).
  const { addPrefix, selectPrefix } = tg.nn.utils;
  const flag = () => tg.tensor(1, { dtype: 'int32' });
  const cases: [string, RegExp][] = [
    ['model.__proto__.isAdmin', /^loadStateDict: unexpected keys: __proto__\.isAdmin$/],
    ['optimizer.__proto__.isAdmin', /^SGD\.loadStateDict: the state dict has a key '__proto__'/],
    ['optimizer.paramGroups.0.__proto__.isAdmin', /^SGD\.loadStateDict: group 0 has option '__proto__', which SGD does not have/],
    ['optimizer.state.__proto__.isAdmin', /^SGD\.loadStateDict: state key '__proto__' is not a parameter index/],
    ['optimizer.state.0.__proto__.isAdmin', /^SGD\.loadStateDict: state of parameter 0 has a key '__proto__'/],
    ['optimizer.state.0.tensors.__proto__', /^SGD\.loadStateDict: state '__proto__' of parameter 0 is not a state tensor of SGD/],
    ['optimizer.constructor.prototype.isAdmin', /^SGD\.loadStateDict: the state dict has a key 'constructor'/],
    ['scheduler.__proto__.isAdmin', /^StepLR\.loadStateDict: the state dict has a key '__proto__'/],
    ['scheduler.baseLrs.__proto__.isAdmin', /^stateDictFromTensors: 'baseLrs\.__proto__\.isAdmin' is below 'baseLrs', which is a value$/],
  ];
  for (const [name, message] of cases) {
    it(`${name}: a named error, and Object.prototype as it was`, () => {
      const model = new tg.nn.Linear(2, 1);
      const opt = new tg.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const sched = new tg.optim.lrScheduler.StepLR(opt, { stepSize: 1 });
      model.forward(tg.ones([1, 2])).sum().backward();
      opt.step();
      sched.step();
      const bytes = tg.serialize({
        ...addPrefix('model.', model.stateDict()),
        ...addPrefix('optimizer.', tg.optim.stateDictToTensors(opt.stateDict())),
        ...addPrefix('scheduler.', tg.optim.stateDictToTensors(sched.stateDict())),
        [name]: name.endsWith('tensors.__proto__') ? tg.zeros([2]) : flag(),
      });
      const before = Object.getOwnPropertyNames(Object.prototype);
      try {
        const checkpoint = tg.deserialize(bytes).tensors;
        let error: unknown;
        try {
          model.loadStateDict(selectPrefix('model.', checkpoint));
          opt.loadStateDict(tg.optim.stateDictFromTensors(selectPrefix('optimizer.', checkpoint)));
          sched.loadStateDict(tg.optim.stateDictFromTensors(selectPrefix('scheduler.', checkpoint)));
        } catch (e) {
          error = e;
        }
        expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
        expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(before);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(message);
      } finally {
        for (const key of Object.getOwnPropertyNames(Object.prototype))
          if (!before.includes(key)) delete (Object.prototype as Record<string, unknown>)[key];
      }
    });
  }
});

describe('BigInts and look-alike objects where a tensor is expected', () => {
  // Tensor handles are BigInts: one that names a live tensor (a copied
  // handle, a guessed slot) must be refused like any other BigInt, never used
  // as that tensor; an object with a _handle property is not a tensor either.
  const handleOf = (t: Tensor) => (t as unknown as { _handle: bigint })._handle;
  const looksLike = (t: Tensor) => ({ _handle: handleOf(t) }) as unknown as Tensor;

  it('a BigInt naming a live tensor is refused as an operand of every kind of op', () => {
    tg.tidy(() => {
      const x = tg.tensor([1, 2, 3]);
      const m = tg.eye(3);
      const live = tg.tensor([10, 20, 30]);
      const h = handleOf(live) as unknown as Tensor;
      const cases: [() => unknown, string][] = [
        [() => x.add(h), 'add: other must be a number or'],
        [() => tg.sub(h, x), 'sub: input'],
        [() => x.mulInPlace(h), 'mulInPlace: other must be a number or'],
        [() => x.copyFrom(h), 'copyFrom: source must be a number or'],
        [() => tg.where(h, x, 0), 'where: condition'],
        [() => m.matmul(h), 'matmul: other'],
        [() => x.indexSelect(0, h), 'indexSelect: index'],
        [() => tg.cat([x, h]), 'cat: tensors[1]'],
        [() => tg.stack([h, x]), 'stack: tensors[0]'],
        [() => F.mseLoss(x, h), 'mseLoss: target'],
        [() => F.linear(m, m, h), 'linear: bias'],
        [() => F.crossEntropy(m, ints([0, 1, 2]), { weight: h }), 'crossEntropy: weight'],
      ];
      // A number would do where the message says so.
      for (const [call, named] of cases) expect(call).toThrow(new TypeError(`${named.endsWith(' or') ? named : `${named} must be`} a Tensor, got a BigInt`));
      expect(() => x.add(5n as unknown as Tensor)).toThrow(new TypeError('add: other must be a number or a Tensor, got a BigInt'));
      expect(valuesOf(x)).toEqual([1, 2, 3]);
      expect(valuesOf(live)).toEqual([10, 20, 30]);
    });
  });

  it('an object with the _handle of a live tensor is refused by autograd entry points', () => {
    tg.tidy(() => {
      const x = tg.tensor([1, 2], { requiresGrad: true });
      const live = tg.tensor([10, 20]);
      const fake = looksLike(live);
      const y = x.mul(3);
      expect(() => y.backward(fake)).toThrow(new TypeError('backward: gradOutput must be a Tensor or null, got an object'));
      expect(() => tg.grad(y, x, { gradOutputs: [fake] })).toThrow(
        new TypeError('grad: gradOutputs[0] must be a Tensor or null, got an object'),
      );
      expect(() => tg.grad(y.sum(), [fake])).toThrow(new TypeError('grad: inputs[0] must be a Tensor, got an object'));
      expect(() => tg.grad(looksLike(y.sum()), [x])).toThrow(new TypeError('grad: outputs[0] must be a Tensor, got an object'));
      expect(() => tg.grad(y.sum(), [handleOf(x) as unknown as Tensor])).toThrow(
        new TypeError('grad: inputs[0] must be a Tensor, got a BigInt'),
      );
      expect(() => {
        x.grad = fake;
      }).toThrow(new TypeError('grad: value must be a Tensor or null, got an object'));
      expect(x.grad).toBeNull();
      expect(valuesOf(live)).toEqual([10, 20]);
    });
  });

  // An object whose prototype is Tensor.prototype passes `instanceof Tensor`;
  // with the handle of a live tensor on it, it must still pass nowhere.
  const forged = (t: Tensor, how: 'create' | 'setPrototypeOf' = 'create') => {
    const f = how === 'create' ? Object.create(tg.Tensor.prototype) : Object.setPrototypeOf({}, tg.Tensor.prototype);
    Object.defineProperty(f, '_handle', { value: handleOf(t) });
    f._disposed = false;
    f._scope = null;
    return f as Tensor;
  };
  const posing = 'an object made from Tensor.prototype, not a tensor made by tapegrad';

  it('an object made from Tensor.prototype with a live handle is not a tensor anywhere', () => {
    tg.tidy(() => {
      const x = tg.tensor([1, 2], { requiresGrad: true });
      const live = tg.tensor([10, 20]);
      for (const how of ['create', 'setPrototypeOf'] as const) {
        const fake = forged(live, how);
        expect(fake instanceof tg.Tensor).toBe(true);
        expect(tg.isTensor(fake)).toBe(false);
        expect(tg.Tensor.isTensor(fake)).toBe(false);
        const cases: [() => unknown, RegExp][] = [
          [() => x.add(fake), /^add: other must be a number or a Tensor, got an object$/],
          [() => tg.mul(fake, x), /^mul: input must be a Tensor, got an object$/],
          [() => x.copyFrom(fake), /^copyFrom: source must be a number or a Tensor, got an object$/],
          [() => tg.cat([x, fake]), /^cat: tensors\[1\] must be a Tensor, got an object$/],
          [() => F.relu(fake), new RegExp(`^relu: input must be a Tensor, got ${posing}$`)],
          [() => tg.zerosLike(fake), new RegExp(`^zerosLike: input must be a Tensor, got ${posing}$`)],
          [() => x.mul(3).backward(fake), new RegExp(`^backward: gradOutput must be a Tensor or null, got ${posing}$`)],
          [() => tg.grad(x.sum(), [fake]), /^grad: inputs\[0\] must be a Tensor, got an object$/],
          [() => tg.grad(fake, [x]), /^grad: outputs\[0\] must be a Tensor, got an object$/],
          [() => tg.grad(x.sum(), [x], { gradOutputs: fake }), /^grad: gradOutputs must be a Tensor/],
          [() => { x.grad = fake; }, new RegExp(`^grad: value must be a Tensor or null, got ${posing}$`)],
          [() => tg.gradcheck((t) => t, [fake]), new RegExp(`^gradcheck: inputs\\[0\\] must be a Tensor, got ${posing}$`)],
          [() => new tg.optim.SGD([fake], { lr: 1 }), new RegExp(`^SGD: parameter 0 of group 0 is not a Tensor, got ${posing}$`)],
          [() => tg.nn.utils.clipGradNorm([fake], 1), /^clipGradNorm: parameter 0 is not a Tensor/],
          [() => tg.serialize({ w: fake }), /^serialize: 'w' must be a Tensor/],
          // Its own methods read the handle from the private field it lacks, not its _handle.
          [() => fake.add(1), /^add: input must be a Tensor, got undefined$/],
          [() => fake.dispose(), /^dispose: tensor must be a Tensor, got undefined$/],
          [() => fake.toArray(), /^data: tensor must be a Tensor, got undefined$/],
          [() => fake.shape, /^shape: tensor must be a Tensor, got undefined$/],
        ];
        for (const [call, message] of cases) expect(call, String(message)).toThrow(message);
        // tidy does not keep it (nor the tensor whose handle it holds).
        expect(tg.tidy(() => fake)).toBe(fake);
      }
      expect(valuesOf(live)).toEqual([10, 20]);
      expect(live.isDisposed).toBe(false);
      expect(x.grad).toBeNull();
    });
  });

  it("a handle defined on a real tensor is never read in place of its own", () => {
    const a = tg.tensor([1, 2]);
    const b = tg.tensor([5, 6]);
    expect(() => {
      (a as unknown as { _handle: bigint })._handle = handleOf(b);
    }).toThrow(TypeError);
    Object.defineProperty(a, '_handle', { value: handleOf(b) });
    a.addInPlace(1);
    expect(valuesOf(a)).toEqual([2, 3]);
    expect(tg.add(a, 0).toArray()).toEqual([2, 3]);
    const w = tg.tensor([1, 1], { requiresGrad: true });
    Object.defineProperty(w, '_handle', { value: handleOf(b) });
    w.grad = tg.tensor([1, 1]);
    new tg.optim.SGD([w], { lr: 1 }).step();
    expect(valuesOf(w)).toEqual([0, 0]);
    tg.tidy(() => {
      const inner = tg.ones([1]);
      Object.defineProperty(inner, '_handle', { value: handleOf(b) });
    });
    a.dispose();
    w.dispose();
    expect(valuesOf(b)).toEqual([5, 6]);
    b.dispose();
  });

  it('new Tensor(...) throws, pointing to the factories: a second Tensor on a live handle would free its memory', () => {
    // The constructor is private in the .d.ts, so TypeScript refuses the call too.
    const construct = tg.Tensor as unknown as new (...args: unknown[]) => Tensor;
    const live = tg.tensor([5, 6]);
    const refusal = (what: string) =>
      new TypeError(
        'Tensor: tensors are made with tg.tensor(data), tg.zeros(shape), tg.randn(shape) and the other factories, ' +
          `or by ops on tensors, not with new Tensor(...); got new Tensor(${what})`,
      );
    expect(() => new construct(handleOf(live))).toThrow(refusal('a BigInt'));
    expect(() => new construct([1, 2])).toThrow(refusal('an array'));
    expect(() => new construct()).toThrow(refusal('undefined'));
    expect(() => new construct(Symbol('token'), handleOf(live))).toThrow(refusal('a symbol'));
    class Sub extends construct {}
    expect(() => new Sub(handleOf(live))).toThrow(refusal('a BigInt'));
    expect(() => Reflect.construct(construct, [handleOf(live)], Object)).toThrow(refusal('a BigInt'));
    // Nor is there a static factory taking a handle.
    expect(Object.getOwnPropertyNames(tg.Tensor).filter((k) => /handle/i.test(k))).toEqual(['_handleOf']);
    expect(valuesOf(live)).toEqual([5, 6]);
    // Tensors the library makes (factories, ops, views, gradients, hook arguments) are tensors.
    const x = tg.tensor([1, 2], { requiresGrad: true });
    let hooked: unknown;
    x.registerHook((g) => {
      hooked = g;
    });
    const fromLibrary = [tg.zeros([2]), x.mul(2), ...x.split(1), x.T, tg.grad(x.square().sum(), [x])[0]];
    x.sum().backward();
    for (const t of [...fromLibrary, x.grad, hooked]) expect(tg.isTensor(t) && tg.Tensor.isTensor(t)).toBe(true);
    live.dispose();
  });

  it('a Trainer refuses a forged batch tensor and an optimizer made from a prototype', async () => {
    const w = tg.tensor([1, 2], { requiresGrad: true });
    const live = tg.tensor([5, 6]);
    const optimizer = new tg.optim.SGD([w], { lr: 0.1 });
    const trainer = new tg.train.Trainer((x: Tensor) => x.mul(w), { loss: (p, t) => p.sub(t).square().sum(), optimizer });
    await expect(trainer.step([forged(live), tg.tensor([1, 1])])).rejects.toThrow(TypeError);
    const fakeOptimizer = Object.assign(Object.create(tg.optim.SGD.prototype), { paramGroups: [] });
    expect(() => new tg.train.Trainer((x: Tensor) => x, { loss: (p) => p.sum(), optimizer: { step() {}, paramGroups: [] } as never })).toThrow(
      /^Trainer: options.optimizer must be an optimizer \(tg.optim.SGD, Adam, ...\), got an object$/,
    );
    expect(fakeOptimizer).toBeInstanceOf(tg.optim.SGD);
    expect(valuesOf(w)).toEqual([1, 2]);
    expect(valuesOf(live)).toEqual([5, 6]);
    for (const t of [w, live]) t.dispose();
  });

  it('the library checks tensors with isTensor, never with instanceof', () => {
    const sources = readdirSync(path.resolve(__dirname, '..', 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const code = (f: string) => readFileSync(path.resolve(__dirname, '..', 'src', f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(sources).toContain('tensor.ts');
    expect(sources.filter((f) => /instanceof Tensor\b(?!Dataset)|\._handle\b/.test(code(f)))).toEqual([]);
  });

  it("a Trainer whose model returns a look-alike refuses it instead of passing its handle on", async () => {
    const w = tg.tensor([1, 2], { requiresGrad: true });
    const live = tg.tensor([5, 6]);
    const optimizer = new tg.optim.SGD([w], { lr: 0.1 });
    for (const traceForward of [true, false]) {
      const trainer = new tg.train.Trainer(() => looksLike(live), { loss: (_p, t) => w.mul(t).sum(), optimizer, traceForward });
      await expect(trainer.step([tg.tensor([1, 1]), tg.tensor([1, 1])])).rejects.toThrow(
        new TypeError('Trainer.step: the model must return a Tensor, got an object'),
      );
    }
    expect(valuesOf(w)).toEqual([1, 2]);
    expect(live.isDisposed).toBe(false);
    expect(valuesOf(live)).toEqual([5, 6]);
    for (const t of [w, live]) t.dispose();
  });
});
