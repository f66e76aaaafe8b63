// tg.nn.functional: activations, losses and layers as functions, with
// PyTorch's semantics and JS names (crossEntropy for cross_entropy, ...).
import { checkChoice, checkOptions, describe, plainArray } from '../errors.js';
import { native, type Handle } from '../native.js';
import { fromHandle, operand, isTensor, type GeluOptions, type Tensor } from '../tensor.js';

/** How a loss combines its per-element values. */
export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  /** 'mean' (default), 'sum', or 'none' for the unreduced per-element losses. */
  reduction?: Reduction;
}

export interface NllLossOptions extends LossOptions {
  /** One rescaling weight per class (a 1-D tensor of size C); not differentiated. */
  weight?: Tensor | null;
  /** Targets equal to this index count neither in the loss nor in the mean's divisor. Default -100. */
  ignoreIndex?: number;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** In [0, 1]: the share of the target replaced by the uniform distribution. Default 0. */
  labelSmoothing?: number;
}

export interface HuberLossOptions extends LossOptions {
  /** Where the loss turns from quadratic to linear (> 0). Default 1. */
  delta?: number;
}

export interface BinaryCrossEntropyOptions extends LossOptions {
  /** Rescales each element's loss; broadcasts to the input. */
  weight?: Tensor | null;
}

// A loss's options, checked: an object with reduction and the loss's own
// `accepted` keys (crossEntropy(x, t, 'sum') or a misspelt key would
// otherwise give the mean, silently).
function lossOptions<T>(options: T, op: string, accepted: readonly string[] = []): T {
  return checkOptions(options, op, "{ reduction: 'sum' }", ['reduction', ...accepted]);
}

// A tensor argument, or anything else for the native layer to reject with a TypeError.
function h(t: unknown): Handle {
  return operand(t) as Handle;
}
function optional(t: Tensor | null | undefined): Handle | null {
  return t === undefined || t === null ? null : h(t);
}

// ---- activations (the Tensor methods, as functions) ----------------------------

function tensorArg(x: unknown, op: string): Tensor {
  if (isTensor(x)) return x;
  throw new TypeError(`${op}: input must be a Tensor, got ${describe(x)}`);
}

/** max(x, 0). */
export function relu(input: Tensor): Tensor {
  return tensorArg(input, 'relu').relu();
}
/** x·Φ(x), or its tanh approximation with { approximate: 'tanh' }. */
export function gelu(input: Tensor, options: GeluOptions = {}): Tensor {
  return tensorArg(input, 'gelu').gelu(options);
}
/** x·sigmoid(x). */
export function silu(input: Tensor): Tensor {
  return tensorArg(input, 'silu').silu();
}
/** 1 / (1 + e^-x). */
export function sigmoid(input: Tensor): Tensor {
  return tensorArg(input, 'sigmoid').sigmoid();
}
export function tanh(input: Tensor): Tensor {
  return tensorArg(input, 'tanh').tanh();
}
/** x for x > 0, else negativeSlope·x. */
export function leakyRelu(input: Tensor, negativeSlope = 0.01): Tensor {
  return tensorArg(input, 'leakyRelu').leakyRelu(negativeSlope);
}
/** x for x > 0, else alpha·(e^x - 1). */
export function elu(input: Tensor, alpha = 1): Tensor {
  return tensorArg(input, 'elu').elu(alpha);
}
/** log(1 + e^(beta·x)) / beta; x itself where beta·x > threshold. */
export function softplus(input: Tensor, beta = 1, threshold = 20): Tensor {
  return tensorArg(input, 'softplus').softplus(beta, threshold);
}

// ---- softmax ------------------------------------------------------------------

/** exp(x) / sum(exp(x)) along `dim`, computed with the max subtracted (no overflow). */
export function softmax(input: Tensor, dim: number): Tensor {
  return fromHandle(native.softmax(h(input), dim));
}

/** log(softmax(x)) along `dim`, computed stably as x - max - log(sum(exp(x - max))). */
export function logSoftmax(input: Tensor, dim: number): Tensor {
  return fromHandle(native.logSoftmax(h(input), dim));
}

// ---- losses -------------------------------------------------------------------

/**
 * Cross-entropy between logits and targets. `input` is [N, C] (or [C], or
 * [N, C, d1, ...]); `target` is either int32 class indices of shape [N] (or
 * [], or [N, d1, ...]) or float class probabilities of the input's shape.
 * The mean over class indices divides by the summed weights of the targets
 * that are not ignored; over probabilities, by the number of samples.
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  lossOptions(options, 'crossEntropy', ['weight', 'ignoreIndex', 'labelSmoothing']);
  return fromHandle(
    native.crossEntropy(
      h(input), h(target), optional(options.weight), options.ignoreIndex ?? -100, options.labelSmoothing ?? 0,
      options.reduction ?? 'mean',
    ),
  );
}

/** Negative log-likelihood of int32 class indices under log-probabilities (see crossEntropy for shapes). */
export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  lossOptions(options, 'nllLoss', ['weight', 'ignoreIndex']);
  return fromHandle(
    native.nllLoss(h(input), h(target), optional(options.weight), options.ignoreIndex ?? -100, options.reduction ?? 'mean'),
  );
}

/** (input - target)², reduced. input and target have the same shape. */
export function mseLoss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  lossOptions(options, 'mseLoss');
  return fromHandle(native.mseLoss(h(input), h(target), options.reduction ?? 'mean'));
}

/** |input - target|, reduced. */
export function l1Loss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  lossOptions(options, 'l1Loss');
  return fromHandle(native.l1Loss(h(input), h(target), options.reduction ?? 'mean'));
}

/** 0.5·d² where |d| < delta, else delta·(|d| - 0.5·delta), with d = input - target. */
export function huberLoss(input: Tensor, target: Tensor, options: HuberLossOptions = {}): Tensor {
  lossOptions(options, 'huberLoss', ['delta']);
  return fromHandle(native.huberLoss(h(input), h(target), options.delta ?? 1, options.reduction ?? 'mean'));
}

/**
 * -(t·log(x) + (1 - t)·log(1 - x)) for probabilities x in [0, 1]; each log is
 * clamped at -100 as in PyTorch, so x = 0 or 1 gives a finite loss.
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, options: BinaryCrossEntropyOptions = {}): Tensor {
  lossOptions(options, 'binaryCrossEntropy', ['weight']);
  return fromHandle(native.binaryCrossEntropy(h(input), h(target), optional(options.weight), options.reduction ?? 'mean'));
}

export interface BinaryCrossEntropyWithLogitsOptions extends BinaryCrossEntropyOptions {
  /** Weight of the positive term (per class, broadcast to the input): > 1 raises recall. */
  posWeight?: Tensor | null;
}

/**
 * binaryCrossEntropy(sigmoid(input), target), computed from the logits without
 * overflow: (1 - t)·x + (1 + (posWeight - 1)·t)·softplus(-x).
 */
export function binaryCrossEntropyWithLogits(
  input: Tensor, target: Tensor, options: BinaryCrossEntropyWithLogitsOptions = {},
): Tensor {
  lossOptions(options, 'binaryCrossEntropyWithLogits', ['weight', 'posWeight']);
  return fromHandle(
    native.binaryCrossEntropyWithLogits(
      h(input), h(target), optional(options.weight), optional(options.posWeight), options.reduction ?? 'mean',
    ),
  );
}

// ---- layers -------------------------------------------------------------------

/**
 * x·weightᵀ + bias, with weight of shape [outFeatures, inFeatures] as in
 * PyTorch (a 1-D weight gives one dot product per row) and a bias that
 * broadcasts to the output.
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return fromHandle(native.linear(h(input), h(weight), optional(bias)));
}

/**
 * Normalises over the trailing dims `normalizedShape` to zero mean and unit
 * (biased) variance, then applies the optional weight and bias of that shape.
 */
export function layerNorm(
  input: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5,
): Tensor {
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : plainArray(normalizedShape);
  return fromHandle(native.layerNorm(h(input), shape, optional(weight), optional(bias), eps));
}

/**
 * Zeroes each element with probability p, drawn from the global generator
 * (manualSeed), and scales the others by 1/(1 - p). Returns the input itself
 * when training is false.
 */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  return fromHandle(native.dropout(h(input), p, training));
}

export interface EmbeddingOptions {
  /** Lookups of this row (negative counts from the end) pass its value but no gradient to weight, as in PyTorch. */
  paddingIdx?: number | null;
}

/** Rows of `weight` [numEmbeddings, embeddingDim] at the int32 `indices`: shape [...indices.shape, embeddingDim]. */
export function embedding(indices: Tensor, weight: Tensor, options: EmbeddingOptions = {}): Tensor {
  checkOptions(options, 'embedding', '{ paddingIdx: 0 }', ['paddingIdx']);
  // The native op checks paddingIdx against weight's rows, and its backward skips that row's lookups.
  return fromHandle(native.embedding(h(indices), h(weight), options.paddingIdx));
}

/** int32 one-hot vectors of length numClasses (-1: the largest index + 1). */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return fromHandle(native.oneHot(h(indices), numClasses));
}

// ---- convolution ----------------------------------------------------------------

/** A size for both spatial dims, or a pair [height, width]. */
export type Size2 = number | readonly [number, number];

export interface UnfoldOptions {
  /** Spacing between kernel elements. Default 1. */
  dilation?: Size2;
  /** Zeros added on both sides of each spatial dim. Default 0. */
  padding?: Size2;
  /** Step between blocks. Default 1. */
  stride?: Size2;
}

// A number or a pair, as two numbers; the native layer checks that they are integers in range.
function pair(v: unknown, op: string, name: string): [number, number] {
  const p = plainArray(v);
  if (typeof p === 'number') return [p, p];
  if (Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number') return [p[0], p[1]];
  throw new TypeError(`${op}: ${name} must be an integer or a pair of integers [h, w], got ${Array.isArray(p) ? `an array of length ${p.length}` : describe(p)}`);
}

function windowArgs(op: string, kernelSize: unknown, options: UnfoldOptions): number[] {
  checkOptions(options, op, '{ stride: 2 }', ['dilation', 'padding', 'stride']);
  return [
    ...pair(kernelSize, op, 'kernelSize'), ...pair(options.dilation ?? 1, op, 'dilation'),
    ...pair(options.padding ?? 0, op, 'padding'), ...pair(options.stride ?? 1, op, 'stride'),
  ];
}

/**
 * Extracts sliding blocks (im2col), as PyTorch's unfold: input [N, C, H, W]
 * (or [C, H, W]) gives [N, C·kh·kw, L] (or [C·kh·kw, L]), one column per
 * block, L = number of blocks. Rows run over channels, then kernel rows, then
 * kernel columns. Its gradient is fold.
 */
export function unfold(input: Tensor, kernelSize: Size2, options: UnfoldOptions = {}): Tensor {
  const [kh, kw, dh, dw, ph, pw, sh, sw] = windowArgs('unfold', kernelSize, options);
  return fromHandle(native.unfold(h(input), kh!, kw!, dh!, dw!, ph!, pw!, sh!, sw!));
}

/**
 * Sums sliding blocks back into images (col2im), as PyTorch's fold, the
 * adjoint of unfold: input [N, C·kh·kw, L] (or [C·kh·kw, L]) gives
 * [N, C, ...outputSize] (or [C, ...outputSize]); overlapping entries add up.
 * L must be the number of blocks the options give on outputSize.
 */
export function fold(input: Tensor, outputSize: Size2, kernelSize: Size2, options: UnfoldOptions = {}): Tensor {
  const [oh, ow] = pair(outputSize, 'fold', 'outputSize');
  const [kh, kw, dh, dw, ph, pw, sh, sw] = windowArgs('fold', kernelSize, options);
  return fromHandle(native.fold(h(input), oh, ow, kh!, kw!, dh!, dw!, ph!, pw!, sh!, sw!));
}

export interface Conv2dOptions {
  /** Step between output positions. Default 1. */
  stride?: Size2;
  /**
   * Zeros on both sides of each spatial dim (default 0), or 'valid' (none),
   * or 'same' (output as large as the input; stride 1 only; an odd total puts
   * the extra row or column after, as PyTorch).
   */
  padding?: Size2 | 'same' | 'valid';
  /** Spacing between kernel elements. Default 1. */
  dilation?: Size2;
  /** Split channels into this many groups, each convolved with its own filters. Default 1. */
  groups?: number;
}

/**
 * 2-D cross-correlation, as PyTorch's conv2d: input [N, C, H, W] (or
 * [C, H, W]), weight [O, C/groups, kh, kw], optional bias [O]; gives
 * [N, O, H', W']. Composed of unfold and a batched matmul, so it has
 * gradients of every order and is traced by the Trainer.
 */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkOptions(options, op, "{ padding: 'same' }", ['stride', 'padding', 'dilation', 'groups']);
  const padding = options.padding ?? 0;
  const mode = typeof padding === 'string' ? checkChoice(padding, op, 'padding', ['same', 'valid']) : 'explicit';
  const [ph, pw] = mode === 'explicit' ? pair(padding, op, 'padding') : [0, 0];
  const [sh, sw] = pair(options.stride ?? 1, op, 'stride');
  const [dh, dw] = pair(options.dilation ?? 1, op, 'dilation');
  return fromHandle(native.conv2d(h(input), h(weight), optional(bias), sh, sw, mode, ph, pw, dh, dw, options.groups ?? 1));
}

// ---- attention ------------------------------------------------------------------

export interface ScaledDotProductAttentionOptions {
  /**
   * Broadcasts to the attention weights [..., L, S]. An int32 mask is boolean:
   * nonzero positions take part, zeros are left out (comparisons of int32
   * tensors give one; `m.to('int32')` turns a float 0/1 mask into one). A
   * float mask of the query's dtype is added to the scores (use -Infinity to
   * leave a position out) and receives a gradient.
   */
  attnMask?: Tensor | null;
  /** Query i attends to keys j <= i only (top-left aligned). Cannot be combined with attnMask. */
  isCausal?: boolean;
  /** Multiplies Q·Kᵀ; default 1/sqrt(E). */
  scale?: number | null;
}

/**
 * softmax(scale·Q·Kᵀ + mask)·V, fused, with PyTorch's semantics:
 * query [..., L, E], key [..., S, E], value [..., S, Ev] → [..., L, Ev], batch
 * dims broadcast. The softmax subtracts each row's maximum. A query row whose
 * every position is masked out gives NaN, as PyTorch's math kernel does.
 * Differentiable in query, key, value and a float mask, twice over.
 */
export function scaledDotProductAttention(
  query: Tensor, key: Tensor, value: Tensor, options: ScaledDotProductAttentionOptions = {},
): Tensor {
  checkOptions(options, 'scaledDotProductAttention', '{ isCausal: true }', ['attnMask', 'isCausal', 'scale']);
  return fromHandle(
    native.scaledDotProductAttention(
      h(query), h(key), h(value), optional(options.attnMask), options.isCausal ?? false, options.scale ?? null,
    ),
  );
}
