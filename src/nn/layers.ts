// Layers: each holds its parameters and calls nn.functional in forward().
import { noGrad } from '../autograd.js';
import { ones, zeros } from '../creation.js';
import { TapegradError, checkBoolean, checkChoice, checkNumber, checkOptions, describe, isAllocationFailure, plainArray } from '../errors.js';
import { tidy } from '../memory.js';
import { native, type Handle } from '../native.js';
import { fromHandle, isTensor, operand, type DType, type GeluOptions, type Tensor } from '../tensor.js';
import { Sequential } from './containers.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Module, buffer, forwardWithNext, parameter } from './module.js';

export interface LayerOptions {
  /** Dtype of the layer's parameters (default float32). */
  dtype?: DType;
}

/** @internal */
export function positiveInt(op: string, name: string, v: unknown): number {
  return checkNumber(v, op, name, 'a positive integer', (x) => Number.isInteger(x) && x >= 1);
}

/** @internal The options of a layer, checked: an object with only the `accepted` keys. */
export function layerOptions<T extends LayerOptions>(op: string, options: T, accepted: readonly string[]): T {
  return checkOptions(options, op, "{ dtype: 'float64' }", ['dtype', ...accepted]);
}

/** @internal The dtype of a layer's parameters (float32 by default). */
export function layerDtype(op: string, options: LayerOptions): 'float32' | 'float64' {
  return checkChoice(options.dtype ?? 'float32', op, 'dtype', ['float32', 'float64']);
}

/** @internal A probability: Dropout's p, an attention or MLP dropout. */
export function probability(op: string, name: string, v: unknown): number {
  return checkNumber(v, op, name, 'a probability in [0, 1]', (x) => x >= 0 && x <= 1);
}

/**
 * @internal Makes a layer's parameters; an allocation that fails names the
 * layer, the shape and the bytes asked for, not only the factory that failed.
 */
export function allocate<T>(op: string, what: string, shape: readonly number[], dtype: 'float32' | 'float64', make: () => T): T {
  try {
    return make();
  } catch (e) {
    // A shape past the element limit fails before any memory is asked for; either way the layer is named.
    if (!isAllocationFailure(e)) throw e;
    // Exact past 2^53 bytes, where a number would round.
    const bytes = shape.reduce((n, s) => n * BigInt(s), BigInt(dtype === 'float64' ? 8 : 4));
    throw new RangeError(`${op}: cannot allocate ${what} of shape [${shape.join(', ')}] (${dtype}, ${bytes} bytes): ${e.message}`);
  }
}

/** y = x·Wᵀ + b, with W of shape [outFeatures, inFeatures]; PyTorch's default initialisation. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions & { bias?: boolean } = {}) {
    super();
    const op = 'Linear';
    this.inFeatures = positiveInt(op, 'inFeatures', inFeatures);
    this.outFeatures = positiveInt(op, 'outFeatures', outFeatures);
    layerOptions(op, options, ['bias']);
    const dtype = layerDtype(op, options);
    const bias = checkBoolean(options.bias, op, 'bias', true);
    // kaiming_uniform(a=√5) gives U(±1/√inFeatures), as torch.nn.Linear.
    this.weight = allocate(op, 'the weight', [outFeatures, inFeatures], dtype, () =>
      parameter(init.kaimingUniform(zeros([outFeatures, inFeatures], { dtype }), { a: Math.sqrt(5) })),
    );
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = bias ? parameter(init.uniform(zeros([outFeatures], { dtype }), -bound, bound)) : null;
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  /**
   * @internal Followed by a ReLU in a Sequential, both running their
   * classes' forward (not replaced on the instance or the prototype): one op,
   * "linearRelu", with ReLU applied right after the product. The same values
   * and gradients as the two modules, with one graph node and one native
   * call fewer (MLP 784-256-256-10 step, batch 128, two threads: 2-3% faster).
   */
  [forwardWithNext](next: Module, x: Tensor): Tensor | null {
    if (this.forward !== linearForward || next.forward !== reluForward) return null;
    const h = (t: Tensor) => operand(t) as Handle;
    return fromHandle(native.linear(h(x), h(this.weight), this.bias === null ? null : h(this.bias), true));
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface Conv2dOptions extends LayerOptions {
  /** Step between output positions. Default 1. */
  stride?: F.Size2;
  /** Zeros on both sides of each spatial dim (default 0), 'valid' (none) or 'same' (stride 1 only). */
  padding?: F.Size2 | 'same' | 'valid';
  /** Spacing between kernel elements. Default 1. */
  dilation?: F.Size2;
  /** Channel groups; inChannels and outChannels must both be divisible by it. Default 1. */
  groups?: number;
  /** Learn an additive bias per output channel. Default true. */
  bias?: boolean;
}

// A layer's number-or-pair option as a checked pair of integers >= min.
function sizePair(op: string, name: string, v: unknown, min: number): [number, number] {
  const p = plainArray(v);
  const expected = `${min === 1 ? 'a positive' : 'a non-negative'} integer or a pair of them`;
  const pair = typeof p === 'number' ? [p, p] : Array.isArray(p) && p.length === 2 ? p : null;
  if (pair === null) throw new TypeError(`${op}: ${name} must be ${expected}, got ${describe(p)}`);
  for (const x of pair) checkNumber(x, op, name, expected, (n) => Number.isInteger(n) && n >= min);
  return [pair[0] as number, pair[1] as number];
}

/**
 * 2-D convolution over [N, C, H, W] (or [C, H, W]) inputs: weight
 * [outChannels, inChannels / groups, kh, kw] and bias [outChannels], both
 * initialised U(±1/√fanIn) with fanIn = inChannels / groups · kh · kw, as
 * torch.nn.Conv2d. Zero padding only.
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number] | 'same' | 'valid';
  readonly dilation: readonly [number, number];
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: F.Size2, options: Conv2dOptions = {}) {
    super();
    const op = 'Conv2d';
    this.inChannels = positiveInt(op, 'inChannels', inChannels);
    this.outChannels = positiveInt(op, 'outChannels', outChannels);
    this.kernelSize = Object.freeze(sizePair(op, 'kernelSize', kernelSize, 1));
    layerOptions(op, options, ['stride', 'padding', 'dilation', 'groups', 'bias']);
    const dtype = layerDtype(op, options);
    this.stride = Object.freeze(sizePair(op, 'stride', options.stride ?? 1, 1));
    this.dilation = Object.freeze(sizePair(op, 'dilation', options.dilation ?? 1, 1));
    const padding = options.padding ?? 0;
    this.padding = typeof padding === 'string'
      ? checkChoice(padding, op, 'padding', ['same', 'valid'] as const)
      : Object.freeze(sizePair(op, 'padding', padding, 0));
    if (this.padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1))
      throw new RangeError(`${op}: padding 'same' needs stride 1, got stride [${this.stride.join(', ')}]`);
    this.groups = positiveInt(op, 'groups', options.groups ?? 1);
    if (inChannels % this.groups !== 0)
      throw new RangeError(`${op}: inChannels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0)
      throw new RangeError(`${op}: outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    const bias = checkBoolean(options.bias, op, 'bias', true);
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    // kaiming_uniform(a=√5) gives U(±1/√fanIn), fanIn = shape[1]·kh·kw, as torch.nn.Conv2d.
    this.weight = allocate(op, 'the weight', shape, dtype, () =>
      parameter(init.kaimingUniform(zeros(shape, { dtype }), { a: Math.sqrt(5) })),
    );
    const bound = 1 / Math.sqrt((inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1]);
    this.bias = bias ? parameter(init.uniform(zeros([outChannels], { dtype }), -bound, bound)) : null;
  }

  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
  }

  protected override extraRepr(): string {
    const pair = (p: readonly number[]) => `[${p.join(', ')}]`;
    let s = `${this.inChannels}, ${this.outChannels}, kernelSize=${pair(this.kernelSize)}, stride=${pair(this.stride)}`;
    if (typeof this.padding === 'string') s += `, padding='${this.padding}'`;
    else if (this.padding[0] !== 0 || this.padding[1] !== 0) s += `, padding=${pair(this.padding)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${pair(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=false';
    return s;
  }
}

// ---- activations ----------------------------------------------------------------

/** max(x, 0) elementwise. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

// The forward passes a Linear and a ReLU run when Sequential fuses them.
const linearForward = Linear.prototype.forward, reluForward = ReLU.prototype.forward;

/** x·Φ(x), or its tanh approximation with { approximate: 'tanh' }. */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';

  constructor(options: GeluOptions = {}) {
    super();
    checkOptions(options, 'GELU', "{ approximate: 'tanh' }", ['approximate']);
    this.approximate = checkChoice(options.approximate ?? 'none', 'GELU', 'approximate', ['none', 'tanh']);
  }

  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }

  protected override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}

/** 1 / (1 + e^-x). */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}

/** x·sigmoid(x). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}

/** x where x > 0, else negativeSlope·x (F.leakyRelu). */
export class LeakyReLU extends Module {
  readonly negativeSlope: number;

  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = checkNumber(negativeSlope, 'LeakyReLU', 'negativeSlope', 'a finite number', Number.isFinite);
  }

  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }

  protected override extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
}

/** x where x > 0, else alpha·(e^x - 1) (F.elu). */
export class ELU extends Module {
  readonly alpha: number;

  constructor(alpha = 1) {
    super();
    this.alpha = checkNumber(alpha, 'ELU', 'alpha', 'a finite number', Number.isFinite);
  }

  forward(x: Tensor): Tensor {
    return F.elu(x, this.alpha);
  }

  protected override extraRepr(): string {
    return `alpha=${this.alpha}`;
  }
}

/** log(1 + e^(beta·x)) / beta, x itself where beta·x > threshold (F.softplus). */
export class Softplus extends Module {
  readonly beta: number;
  readonly threshold: number;

  constructor(beta = 1, threshold = 20) {
    super();
    this.beta = checkNumber(beta, 'Softplus', 'beta', 'a finite nonzero number', (v) => Number.isFinite(v) && v !== 0);
    this.threshold = checkNumber(threshold, 'Softplus', 'threshold', 'a number', (v) => !Number.isNaN(v));
  }

  forward(x: Tensor): Tensor {
    return F.softplus(x, this.beta, this.threshold);
  }

  protected override extraRepr(): string {
    return `beta=${this.beta}, threshold=${this.threshold}`;
  }
}

function intArg(op: string, name: string, v: unknown): number {
  return checkNumber(v, op, name, 'an integer', Number.isInteger);
}

/** softmax along `dim` (negative dims count from the end). */
export class Softmax extends Module {
  readonly dim: number;
  constructor(dim: number) {
    super();
    this.dim = intArg('Softmax', 'dim', dim);
  }
  forward(x: Tensor): Tensor {
    return F.softmax(x, this.dim);
  }
  protected override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

/** log(softmax(x)) along `dim`, computed stably. */
export class LogSoftmax extends Module {
  readonly dim: number;
  constructor(dim: number) {
    super();
    this.dim = intArg('LogSoftmax', 'dim', dim);
  }
  forward(x: Tensor): Tensor {
    return F.logSoftmax(x, this.dim);
  }
  protected override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

// ---- regularisation and normalisation ---------------------------------------------

/**
 * In training mode zeroes each element with probability p (drawn from the
 * generator seeded by tg.manualSeed) and scales the rest by 1/(1 - p); in
 * eval mode returns its input unchanged.
 */
export class Dropout extends Module {
  readonly p: number;
  constructor(p = 0.5) {
    super();
    this.p = probability('Dropout', 'p', p);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}

type Pair = readonly [number, number];
const showPair = (p: Pair) => (p[0] === p[1] ? String(p[0]) : `[${p[0]}, ${p[1]}]`);

/**
 * Max pooling over the last two dims, as F.maxPool2d. Its sizes are checked
 * and resolved when it is made (stride defaults to the kernel size).
 */
export class MaxPool2d extends Module {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly ceilMode: boolean;
  constructor(kernelSize: F.Size2, options: Omit<F.MaxPool2dOptions, 'returnIndices'> = {}) {
    super();
    const op = 'MaxPool2d';
    checkOptions(options, op, '{ stride: 2 }', ['stride', 'padding', 'dilation', 'ceilMode']);
    this.kernelSize = Object.freeze(sizePair(op, 'kernelSize', kernelSize, 1));
    this.stride = Object.freeze(sizePair(op, 'stride', options.stride ?? this.kernelSize, 1));
    this.padding = Object.freeze(sizePair(op, 'padding', options.padding ?? 0, 0));
    this.dilation = Object.freeze(sizePair(op, 'dilation', options.dilation ?? 1, 1));
    this.ceilMode = checkBoolean(options.ceilMode, op, 'ceilMode', false);
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }
  protected override extraRepr(): string {
    return `kernelSize=${showPair(this.kernelSize)}, stride=${showPair(this.stride)}, padding=${showPair(this.padding)}, ` +
      `dilation=${showPair(this.dilation)}, ceilMode=${this.ceilMode}`;
  }
}

/**
 * Average pooling over the last two dims, as F.avgPool2d. Its sizes are
 * checked and resolved when it is made (stride defaults to the kernel size).
 */
export class AvgPool2d extends Module {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;
  constructor(kernelSize: F.Size2, options: F.AvgPool2dOptions = {}) {
    super();
    const op = 'AvgPool2d';
    checkOptions(options, op, '{ stride: 2 }', ['stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride']);
    this.kernelSize = Object.freeze(sizePair(op, 'kernelSize', kernelSize, 1));
    this.stride = Object.freeze(sizePair(op, 'stride', options.stride ?? this.kernelSize, 1));
    this.padding = Object.freeze(sizePair(op, 'padding', options.padding ?? 0, 0));
    this.ceilMode = checkBoolean(options.ceilMode, op, 'ceilMode', false);
    this.countIncludePad = checkBoolean(options.countIncludePad, op, 'countIncludePad', true);
    const divisor = options.divisorOverride ?? null;
    this.divisorOverride = divisor === null ? null
      : checkNumber(divisor, op, 'divisorOverride', 'a nonzero integer or null', (v) => Number.isInteger(v) && v !== 0);
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, {
      stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad,
      divisorOverride: this.divisorOverride,
    });
  }
  protected override extraRepr(): string {
    return `kernelSize=${showPair(this.kernelSize)}, stride=${showPair(this.stride)}, padding=${showPair(this.padding)}, ` +
      `ceilMode=${this.ceilMode}, countIncludePad=${this.countIncludePad}` +
      (this.divisorOverride !== null ? `, divisorOverride=${this.divisorOverride}` : '');
  }
}

/** Average pooling to a fixed output size, as F.adaptiveAvgPool2d (a null entry keeps that dim). */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: readonly [number | null, number | null];
  constructor(outputSize: number | readonly [number | null, number | null]) {
    super();
    const op = 'AdaptiveAvgPool2d';
    const p = plainArray(outputSize);
    const pair = typeof p === 'number' ? [p, p] : Array.isArray(p) && p.length === 2 ? p : null;
    if (pair === null) throw new TypeError(`${op}: outputSize must be a positive integer or a pair of them (or null), got ${describe(p)}`);
    for (const v of pair)
      if (v !== null) checkNumber(v, op, 'outputSize', 'a positive integer or a pair of them (or null)', (n) => Number.isInteger(n) && n >= 1);
    this.outputSize = Object.freeze([pair[0] as number | null, pair[1] as number | null]);
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  protected override extraRepr(): string {
    const [h, w] = this.outputSize;
    return `outputSize=${h === w ? String(h) : `[${h}, ${w}]`}`;
  }
}

export interface BatchNormOptions extends LayerOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Weight of each batch in the running statistics; null: their plain average over all batches. Default 0.1. */
  momentum?: number | null;
  /** Learn a per-channel weight (ones) and bias (zeros). Default true. */
  affine?: boolean;
  /** Keep running statistics for eval mode (else eval normalises by the batch too). Default true. */
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over channel dim 1 (F.batchNorm), as PyTorch's
 * _BatchNorm: batch statistics in training mode, which also updates the
 * running ones; the running statistics in eval mode. Its tensors carry
 * PyTorch's names (weight, bias, running_mean, running_var,
 * num_batches_tracked, int32 here, counting up to 2^31 - 1), so state dicts
 * load as they are.
 */
abstract class BatchNorm extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean: Tensor | null;
  running_var: Tensor | null;
  num_batches_tracked: Tensor | null;

  protected constructor(op: string, numFeatures: number, options: BatchNormOptions) {
    super();
    this.numFeatures = positiveInt(op, 'numFeatures', numFeatures);
    layerOptions(op, options, ['eps', 'momentum', 'affine', 'trackRunningStats']);
    this.eps = checkNumber(options.eps ?? 1e-5, op, 'eps', 'a finite non-negative number', (v) => v >= 0 && Number.isFinite(v));
    const momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.momentum = momentum === null ? null : checkNumber(momentum, op, 'momentum', 'a finite number or null', Number.isFinite);
    this.affine = checkBoolean(options.affine, op, 'affine', true);
    this.trackRunningStats = checkBoolean(options.trackRunningStats, op, 'trackRunningStats', true);
    const dtype = layerDtype(op, options);
    const shape = [numFeatures];
    this.weight = this.affine ? allocate(op, 'the weight', shape, dtype, () => parameter(ones(shape, { dtype }))) : null;
    this.bias = this.affine ? allocate(op, 'the bias', shape, dtype, () => parameter(zeros(shape, { dtype }))) : null;
    const track = this.trackRunningStats;
    this.running_mean = track ? allocate(op, 'running_mean', shape, dtype, () => buffer(zeros(shape, { dtype }))) : null;
    this.running_var = track ? allocate(op, 'running_var', shape, dtype, () => buffer(ones(shape, { dtype }))) : null;
    this.num_batches_tracked = track ? buffer(zeros([], { dtype: 'int32' })) : null;
  }

  /** Throws unless x has the dims this layer takes. */
  protected abstract checkInput(x: Tensor): void;

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let momentum = this.momentum ?? 0;
    if (this.training && this.num_batches_tracked !== null) {
      const counter = this.num_batches_tracked;
      // int32 (PyTorch's is int64): the count stops at 2^31 - 1 instead of
      // wrapping to a negative one (momentum null would then divide by it).
      noGrad(() => tidy(() => counter.addInPlace(counter.lt(2147483647))));
      if (this.momentum === null) momentum = 1 / counter.item();
    }
    // Eval mode without running statistics normalises by the batch, as PyTorch's.
    const useBatch = this.training || this.running_mean === null;
    return F.batchNorm(x, useBatch && !this.training ? null : this.running_mean, useBatch && !this.training ? null : this.running_var, {
      weight: this.weight, bias: this.bias, training: useBatch, momentum, eps: this.eps,
    });
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}

function dimsOf(x: unknown, op: string): number {
  if (!isTensor(x)) throw new TypeError(`${op}: input must be a Tensor, got ${describe(x)}`);
  if ((x as Tensor).isDisposed) throw new TapegradError(`${op}: input is a disposed tensor`);
  return (x as Tensor).ndim;
}

/** BatchNorm over [N, C] or [N, C, L] inputs. */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, options);
  }
  protected checkInput(x: Tensor): void {
    const nd = dimsOf(x, 'BatchNorm1d');
    if (nd !== 2 && nd !== 3) throw new RangeError(`BatchNorm1d: input must be 2-D [N, C] or 3-D [N, C, L], got shape [${x.shape.join(', ')}]`);
  }
}

/** BatchNorm over [N, C, H, W] inputs. */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, options);
  }
  protected checkInput(x: Tensor): void {
    if (dimsOf(x, 'BatchNorm2d') !== 4) throw new RangeError(`BatchNorm2d: input must be 4-D [N, C, H, W], got shape [${x.shape.join(', ')}]`);
  }
}

export interface LayerNormOptions extends LayerOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learn a per-element weight (ones) and bias (zeros) of normalizedShape. Default true. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, whether to learn the bias too. Default true. */
  bias?: boolean;
}

/** Normalises over the trailing dims `normalizedShape`, then applies weight and bias of that shape. */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const op = 'LayerNorm';
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : plainArray(normalizedShape);
    if (!Array.isArray(shape) || shape.length === 0)
      throw new TypeError(`${op}: normalizedShape must be a positive integer or a non-empty array of them, got ${describe(normalizedShape)}`);
    shape.forEach((s, i) => positiveInt(op, `normalizedShape[${i}]`, s));
    this.normalizedShape = Object.freeze([...shape]);
    layerOptions(op, options, ['eps', 'elementwiseAffine', 'bias']);
    this.eps = checkNumber(options.eps ?? 1e-5, op, 'eps', 'a non-negative number', (v) => v >= 0);
    this.elementwiseAffine = checkBoolean(options.elementwiseAffine, op, 'elementwiseAffine', true);
    const bias = checkBoolean(options.bias, op, 'bias', true);
    const dtype = layerDtype(op, options);
    this.weight = this.elementwiseAffine ? allocate(op, 'the weight', shape, dtype, () => parameter(ones(shape, { dtype }))) : null;
    this.bias = this.elementwiseAffine && bias ? allocate(op, 'the bias', shape, dtype, () => parameter(zeros(shape, { dtype }))) : null;
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return `[${this.normalizedShape.join(', ')}], eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}` +
      (this.elementwiseAffine ? `, bias=${this.bias !== null}` : '');
  }
}

export interface EmbeddingOptions extends LayerOptions {
  /** A row that starts at zero and gets no gradient (negative counts from the end). */
  paddingIdx?: number | null;
  /** Looked-up rows whose norm exceeds it are scaled down to it in place first (F.embedding's maxNorm). */
  maxNorm?: number | null;
  /** The p of maxNorm's p-norm (default 2). */
  normType?: number;
}

/** A lookup table: int32 indices of any shape → rows of weight [numEmbeddings, embeddingDim], initialised N(0, 1). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  readonly maxNorm: number | null;
  readonly normType: number;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = positiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = positiveInt('Embedding', 'embeddingDim', embeddingDim);
    layerOptions('Embedding', options, ['paddingIdx', 'maxNorm', 'normType']);
    const dtype = layerDtype('Embedding', options);
    const pad = options.paddingIdx ?? null;
    if (pad !== null) {
      intArg('Embedding', 'paddingIdx', pad);
      if (pad < -numEmbeddings || pad >= numEmbeddings)
        throw new RangeError(`Embedding: paddingIdx must be in [${-numEmbeddings}, ${numEmbeddings - 1}], got ${pad}`);
    }
    this.paddingIdx = pad === null ? null : pad < 0 ? pad + numEmbeddings : pad;
    const maxNorm = options.maxNorm ?? null;
    this.maxNorm = maxNorm === null ? null
      : checkNumber(maxNorm, 'Embedding', 'maxNorm', 'a finite non-negative number', (v) => v >= 0 && Number.isFinite(v));
    this.normType = checkNumber(options.normType ?? 2, 'Embedding', 'normType', 'a positive number (Infinity for the largest magnitude)', (v) => v > 0);
    const weight = allocate('Embedding', 'the weight', [numEmbeddings, embeddingDim], dtype, () =>
      init.normal(zeros([numEmbeddings, embeddingDim], { dtype })),
    );
    if (this.paddingIdx !== null) {
      const row = this.paddingIdx;
      noGrad(() => tidy(() => weight.narrow(0, row, 1).zero()));
    }
    this.weight = parameter(weight);
  }

  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, { paddingIdx: this.paddingIdx, maxNorm: this.maxNorm, normType: this.normType });
  }

  protected override extraRepr(): string {
    return (
      `${this.numEmbeddings}, ${this.embeddingDim}` +
      (this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : '') +
      (this.maxNorm !== null ? `, maxNorm=${this.maxNorm}` : '') +
      (this.maxNorm !== null && this.normType !== 2 ? `, normType=${this.normType}` : '')
    );
  }
}

// ---- shape ------------------------------------------------------------------------

/** Flattens dims startDim..endDim into one (by default all but the batch dim). */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;
  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = intArg('Flatten', 'startDim', startDim);
    this.endDim = intArg('Flatten', 'endDim', endDim);
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
  protected override extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}

// ---- MLP --------------------------------------------------------------------------

export type Activation = 'relu' | 'gelu' | 'tanh' | 'silu';

export interface MLPOptions extends LayerOptions {
  /** Activation between the linear layers (not after the last one). Default 'relu'. */
  activation?: Activation;
  /** Dropout probability after each hidden activation; 0 (default) adds no Dropout layers. */
  dropout?: number;
}

function mlpLayers(sizesArg: readonly number[], options: MLPOptions): Module[] {
  const sizes = plainArray(sizesArg);
  if (!Array.isArray(sizes))
    throw new TypeError(`MLP: sizes must be an array of at least 2 layer widths, like [784, 256, 10], got ${describe(sizes)}`);
  if (sizes.length < 2)
    throw new RangeError(`MLP: sizes must be an array of at least 2 layer widths, like [784, 256, 10], got ${sizes.length}`);
  sizes.forEach((s, i) => positiveInt('MLP', `sizes[${i}]`, s));
  layerOptions('MLP', options, ['activation', 'dropout']);
  const dtype = layerDtype('MLP', options);
  const makers: Record<Activation, () => Module> = {
    relu: () => new ReLU(),
    gelu: () => new GELU(),
    tanh: () => new Tanh(),
    silu: () => new SiLU(),
  };
  const make = makers[checkChoice(options.activation ?? 'relu', 'MLP', 'activation', ['relu', 'gelu', 'tanh', 'silu'])];
  const p = probability('MLP', 'dropout', options.dropout ?? 0);
  const layers: Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i] as number, sizes[i + 1] as number, { dtype }));
    if (i + 2 < sizes.length) {
      layers.push(make());
      if (p > 0) layers.push(new Dropout(p));
    }
  }
  return layers;
}

/**
 * A multi-layer perceptron: Linear, activation[, Dropout], ..., Linear (no
 * activation after the last). A Sequential, so parameters are named as in the
 * equivalent torch.nn.Sequential: 0.weight, 0.bias, 2.weight, ...
 */
export class MLP extends Sequential {
  constructor(sizes: readonly number[], options: MLPOptions = {}) {
    super(...mlpLayers(sizes, options));
  }
}
