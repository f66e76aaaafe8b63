// tg.nn.functional: activations, losses and layers as functions, with
// PyTorch's semantics and JS names (crossEntropy for cross_entropy, ...).
import { noGrad } from '../autograd.js';
import { TapegradError, checkBoolean, checkChoice, checkNumber, checkOptions, describe, isAllocationFailure, plainArray } from '../errors.js';
import { tidy } from '../memory.js';
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

// For functions composed of tensor methods: checks an argument so that an
// error names the function. False for null or undefined where allowed.
function liveTensor(t: unknown, op: string, name: string, orNull = false): t is Tensor {
  if (orNull && (t === null || t === undefined)) return false;
  if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor${orNull ? ' or null' : ''}, got ${describe(t)}`);
  if (t.isDisposed) throw new TapegradError(`${op}: ${name} is a disposed tensor`);
  return true;
}

export interface BatchNormOptions {
  /** Per-channel scale [C] (none: 1). */
  weight?: Tensor | null;
  /** Per-channel shift [C] (none: 0). */
  bias?: Tensor | null;
  /** Normalise with the batch's statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  /** Weight of the batch in the running averages: running = (1 - momentum)·running + momentum·batch. Default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
}

/**
 * Runs the body of an op composed of other ops, so that memory running out
 * inside it names the op (as a native op's error does) and the step that ran
 * out, not only the inner op.
 */
function composedOp<T>(op: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    const inner = isAllocationFailure(e) ? /^(\w+): (.*)$/.exec(e.message) : null;
    if (inner && inner[1] !== op) throw new RangeError(`${op}: ${inner[2]}, in its ${inner[1]}`);
    throw e;
  }
}

/**
 * Batch normalisation over channel dim 1 of input [N, C, ...], as PyTorch's
 * batch_norm: training normalises by the batch's mean and biased variance
 * per channel (gradients flow through both) and, where runningMean and
 * runningVar [C] are given, updates them in place without a gradient (the
 * variance unbiased); otherwise it normalises by the running statistics.
 */
export function batchNorm(input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options: BatchNormOptions = {}): Tensor {
  const op = 'batchNorm';
  checkOptions(options, op, '{ training: true }', ['weight', 'bias', 'training', 'momentum', 'eps']);
  const training = checkBoolean(options.training, op, 'training', false);
  // null is the modules' running average over all batches; here the weight of this batch must be given.
  const momentum = checkNumber(options.momentum === undefined ? 0.1 : options.momentum, op, 'momentum', 'a finite number', Number.isFinite);
  const eps = checkNumber(options.eps === undefined ? 1e-5 : options.eps, op, 'eps', 'a finite non-negative number', (v) => v >= 0 && Number.isFinite(v));
  // Each argument is checked here, before any op runs, so that errors name batchNorm (eval is composed of tensor methods).
  const live = (t: unknown, name: string, orNull: boolean) => liveTensor(t, op, name, orNull);
  live(input, 'input', false);
  if (input.dtype === 'int32') throw new TypeError(`${op}: input must be float32 or float64, got int32`);
  if (input.ndim < 2) throw new RangeError(`${op}: input must have at least 2 dims [N, C, ...], got shape [${input.shape.join(', ')}]`);
  const channels = input.shape[1]!;
  const perChannel = (t: Tensor | null | undefined, name: string): Tensor | null => {
    if (!live(t, name, true)) return null;
    if (t.ndim !== 1 || t.shape[0] !== channels)
      throw new RangeError(`${op}: ${name} must have shape [${channels}] (the input's channels), got [${t.shape.join(', ')}]`);
    if (t.dtype !== input.dtype) throw new TypeError(`${op}: ${name} must have the input's dtype ${input.dtype}, got ${t.dtype}`);
    return t;
  };
  const mean = perChannel(runningMean, 'runningMean'), variance = perChannel(runningVar, 'runningVar');
  const weight = perChannel(options.weight, 'weight'), bias = perChannel(options.bias, 'bias');
  if ((mean === null) !== (variance === null)) throw new TypeError(`${op}: runningMean and runningVar must be given together`);
  // [1, C, 1, ...]: a per-channel value broadcast over the input.
  const along = [1, channels, ...input.shape.slice(2).map(() => 1)];
  return composedOp(op, () => {
    if (training) {
      const count = input.size / Math.max(channels, 1);
      // One fused op (statistics, normalisation, weight and bias, and its
      // backward), which also hands back the batch's mean and biased variance.
      const [output, batchMeanHandle, batchVarHandle] = native.batchNorm(h(input), optional(weight), optional(bias), eps);
      const normalized = fromHandle(output), batchMean = fromHandle(batchMeanHandle), batchVar = fromHandle(batchVarHandle);
      try {
        if (mean !== null && variance !== null) {
          noGrad(() => tidy(() => {
            // A statistic that cannot be written (an expanded view, one in use
            // by an async job) is named; checking before the writes would cost
            // native calls on every step, and traces refuse strides().
            const update = (t: Tensor, value: Tensor, name: string) => {
              try {
                t.copyFrom(value);
              } catch (e) {
                if (e instanceof TapegradError && e.message.startsWith('copyFrom: '))
                  throw new TapegradError(`${op}: ${name} cannot take the running update: ${e.message.slice('copyFrom: '.length)}`);
                throw e;
              }
            };
            // Both or neither: a runningVar that refuses its update puts
            // runningMean's old values back (a copy of C values per step).
            const newMean = batchMean.mul(momentum).add(mean.mul(1 - momentum));
            const newVar = batchVar.mul(momentum * count / (count - 1)).add(variance.mul(1 - momentum));
            const oldMean = mean.clone();
            update(mean, newMean, 'runningMean');
            try {
              update(variance, newVar, 'runningVar');
            } catch (e) {
              mean.copyFrom(oldMean);
              throw e;
            }
          }));
        }
      } catch (e) {
        normalized.dispose();
        throw e;
      } finally {
        batchMean.dispose();
        batchVar.dispose();
      }
      return normalized;
    }
    if (mean === null || variance === null) throw new TypeError(`${op}: runningMean and runningVar are needed when not training`);
    let normalized = input.sub(mean.reshape(along)).mul(variance.add(eps).rsqrt().reshape(along));
    if (weight !== null) normalized = normalized.mul(weight.reshape(along));
    if (bias !== null) normalized = normalized.add(bias.reshape(along));
    return normalized;
  });
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
  /**
   * Each looked-up row of weight whose norm exceeds maxNorm is first scaled
   * down to it, in place and without a gradient (weight's version changes:
   * a graph that saved weight before fails at backward), as PyTorch's.
   */
  maxNorm?: number | null;
  /** The p of maxNorm's p-norm (default 2; Infinity for the largest magnitude). */
  normType?: number;
}

/** Rows of `weight` [numEmbeddings, embeddingDim] at the int32 `indices`: shape [...indices.shape, embeddingDim]. */
export function embedding(indices: Tensor, weight: Tensor, options: EmbeddingOptions = {}): Tensor {
  checkOptions(options, 'embedding', '{ paddingIdx: 0 }', ['paddingIdx', 'maxNorm', 'normType']);
  // The native op checks paddingIdx against weight's rows, and its backward skips that row's lookups.
  return fromHandle(native.embedding(h(indices), h(weight), options.paddingIdx, options.maxNorm, options.normType));
}

/** int32 one-hot vectors of length numClasses (-1: the largest index + 1). */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return fromHandle(native.oneHot(h(indices), numClasses));
}

// ---- padding --------------------------------------------------------------------

export interface PadOptions {
  /**
   * 'constant' (default: new elements hold value; negative widths cut),
   * 'reflect' (mirrored without the edge, widths below the size), 'replicate'
   * (the edge repeated) or 'circular' (wrapped, widths at most the size).
   */
  mode?: 'constant' | 'reflect' | 'replicate' | 'circular';
  /** The value of new elements in 'constant' mode. Default 0. */
  value?: number;
}

/**
 * Pads the last dims, as PyTorch's F.pad: `pad` holds (before, after) for the
 * last dim, then the one before it, and so on. Differentiable in every mode
 * (the other modes gather with indexSelect).
 */
export function pad(input: Tensor, pad: readonly number[], options: PadOptions = {}): Tensor {
  const op = 'pad';
  checkOptions(options, op, "{ mode: 'reflect' }", ['mode', 'value']);
  const mode = checkChoice(options.mode ?? 'constant', op, 'mode', ['constant', 'reflect', 'replicate', 'circular']);
  const widths = plainArray(pad);
  if (!Array.isArray(widths))
    throw new TypeError(`${op}: pad must be an array of integers (before and after for each dim from the last), got ${describe(pad)}`);
  widths.forEach((w: unknown, i) => {
    if (typeof w !== 'number') throw new TypeError(`${op}: pad must hold integers, got ${describe(w)} at index ${i}`);
    if (!Number.isSafeInteger(w)) throw new RangeError(`${op}: pad must hold integers, got ${describe(w)} at index ${i}`);
  });
  if (mode === 'constant') {
    const value = checkNumber(options.value ?? 0, op, 'value', 'a number');
    return fromHandle(native.pad(h(input), widths as number[], value));
  }
  if (options.value !== undefined) throw new TypeError(`${op}: value is only for mode 'constant', got mode '${mode}'`);
  liveTensor(input, op, 'input');
  if (widths.length % 2 !== 0)
    throw new RangeError(`${op}: pad must have an even length (before and after for each dim from the last), got length ${widths.length}`);
  if (widths.length / 2 > input.ndim)
    throw new RangeError(`${op}: pad of length ${widths.length} pads ${widths.length / 2} dims, but the input has shape [${input.shape.join(', ')}]`);
  return composedOp(op, () => {
    let out = input;
    for (let k = 0; k < widths.length / 2; k++) {
      const d = input.ndim - 1 - k, size = input.shape[d]!;
      const before = widths[2 * k] as number, after = widths[2 * k + 1] as number;
      if (before === 0 && after === 0) continue;
      const range = `(${before}, ${after}) of dim ${d} (size ${size})`;
      if (before < 0 || after < 0) throw new RangeError(`${op}: mode '${mode}' takes non-negative padding, got ${range}`);
      if (mode === 'reflect' && (before >= size || after >= size)) throw new RangeError(`${op}: reflect padding must be less than the size, got ${range}`);
      if (mode === 'circular' && (before > size || after > size)) throw new RangeError(`${op}: circular padding must be at most the size, got ${range}`);
      if (size === 0) throw new RangeError(`${op}: mode '${mode}' cannot pad an empty dim, got ${range}`);
      if (size + before + after > 2 ** 31 - 1)
        throw new RangeError(`${op}: mode '${mode}' pads dim ${d} to ${size + before + after} elements; at most ${2 ** 31 - 1} are supported`);
      // Where each element of the padded dim is read from.
      const index = new Int32Array(size + before + after);
      for (let i = 0; i < index.length; i++) {
        const j = i - before;
        index[i] = mode === 'replicate' ? Math.min(Math.max(j, 0), size - 1)
          : mode === 'circular' ? ((j % size) + size) % size
          : j < 0 ? -j : j > size - 1 ? 2 * (size - 1) - j : j;
      }
      out = out.indexSelect(d, fromHandle(native.fromData(index, [index.length], 'int32', op)));
    }
    return out;
  });
}

// ---- pooling --------------------------------------------------------------------

/** A size for both spatial dims, or a pair [height, width]. */
export type Size2 = number | readonly [number, number];

// A number or a pair, as two numbers; the native layer checks that they are integers in range.
function pair(v: unknown, op: string, name: string): [number, number] {
  const p = plainArray(v);
  if (typeof p === 'number') return [p, p];
  if (Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number') return [p[0], p[1]];
  const got = !Array.isArray(p)
    ? describe(p)
    : p.length !== 2
      ? `an array of length ${p.length}`
      : `${describe(typeof p[0] === 'number' ? p[1] : p[0])} at index ${typeof p[0] === 'number' ? 1 : 0}`;
  throw new TypeError(`${op}: ${name} must be an integer or a pair of integers [h, w], got ${got}`);
}

export interface MaxPool2dOptions {
  /** Step between windows. Default: the kernel size. */
  stride?: Size2 | null;
  /** -Infinity added on both sides of each spatial dim, at most half the kernel. Default 0. */
  padding?: Size2;
  /** Spacing between a window's taps. Default 1. */
  dilation?: Size2;
  /** Count a last partial window that starts inside the input. Default false. */
  ceilMode?: boolean;
  /** Also return the int32 argmax of each window (h·W + w in its plane). Default false. */
  returnIndices?: boolean;
}

/**
 * The largest value of each window over the last two dims of input
 * [N, C, H, W] (or [C, H, W]), as PyTorch's max_pool2d: the first largest
 * wins (its tap gets the gradient), NaN propagates. With returnIndices,
 * { values, indices }.
 */
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions & { returnIndices: true }): { values: Tensor; indices: Tensor };
export function maxPool2d(input: Tensor, kernelSize: Size2, options?: MaxPool2dOptions): Tensor;
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
  const op = 'maxPool2d';
  checkOptions(options, op, '{ stride: 2 }', ['stride', 'padding', 'dilation', 'ceilMode', 'returnIndices']);
  const k = pair(kernelSize, op, 'kernelSize');
  const withIndices = checkBoolean(options.returnIndices, op, 'returnIndices', false);
  const [values, indices] = native.maxPool2d(
    h(input), ...k, ...pair(options.stride ?? k, op, 'stride'), ...pair(options.padding ?? 0, op, 'padding'),
    ...pair(options.dilation ?? 1, op, 'dilation'), checkBoolean(options.ceilMode, op, 'ceilMode', false),
  );
  if (withIndices) return { values: fromHandle(values), indices: fromHandle(indices) };
  native.dispose(indices);
  return fromHandle(values);
}

/**
 * The average over windows that tile the last two dims of input [N, C, H, W]
 * (or [C, H, W]) into outputSize, as PyTorch's adaptive_avg_pool2d (1 gives
 * a global average). A null entry keeps that dim's size.
 */
export function adaptiveAvgPool2d(input: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  const op = 'adaptiveAvgPool2d';
  const plain = plainArray(outputSize);
  // A null entry keeps that dim's size, read here from a live input (the native op reports a bad one).
  const spatial = isTensor(input) && !input.isDisposed && input.ndim >= 2 ? input.shape.slice(-2) : [1, 1];
  const size = Array.isArray(plain) && plain.length === 2 ? plain.map((v, i) => (v === null ? spatial[i] : v)) : plain;
  return fromHandle(native.adaptiveAvgPool2d(h(input), ...pair(size, op, 'outputSize')));
}

export interface AvgPool2dOptions {
  /** Step between windows. Default: the kernel size. */
  stride?: Size2 | null;
  /** Zeros added on both sides of each spatial dim, at most half the kernel. Default 0. */
  padding?: Size2;
  /** Count a last partial window that starts inside the input. Default false. */
  ceilMode?: boolean;
  /** Divide by the window's size within the padded input (default true), else by its taps inside the input. */
  countIncludePad?: boolean;
  /** Divide every window's sum by this instead. */
  divisorOverride?: number | null;
}

/** The average of each window over the last two dims of input [N, C, H, W] (or [C, H, W]), as PyTorch's avg_pool2d. */
export function avgPool2d(input: Tensor, kernelSize: Size2, options: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  checkOptions(options, op, '{ stride: 2 }', ['stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride']);
  const k = pair(kernelSize, op, 'kernelSize');
  return fromHandle(native.avgPool2d(
    h(input), ...k, ...pair(options.stride ?? k, op, 'stride'), ...pair(options.padding ?? 0, op, 'padding'),
    checkBoolean(options.ceilMode, op, 'ceilMode', false), checkBoolean(options.countIncludePad, op, 'countIncludePad', true),
    options.divisorOverride,
  ));
}

// ---- convolution ----------------------------------------------------------------

export interface UnfoldOptions {
  /** Spacing between kernel elements. Default 1. */
  dilation?: Size2;
  /** Zeros added on both sides of each spatial dim. Default 0. */
  padding?: Size2;
  /** Step between blocks. Default 1. */
  stride?: Size2;
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
 * [N, O, H', W']. Unfolds (im2col) chunks of images and multiplies each by
 * the weight; keeps its input for backward, not the unfolded columns, as
 * PyTorch. Gradients of every order; traced by the Trainer.
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
