// Layers: each holds its parameters and calls nn.functional in forward().
import { noGrad } from '../autograd.js';
import { ones, zeros } from '../creation.js';
import { tidy } from '../memory.js';
import { where } from '../ops.js';
import type { DType, GeluOptions, Tensor } from '../tensor.js';
import { Sequential } from './containers.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Module, parameter } from './module.js';

export interface LayerOptions {
  /** Dtype of the layer's parameters (default float32). */
  dtype?: DType;
}

/** @internal */
export function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`${op}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** y = x·Wᵀ + b, with W of shape [outFeatures, inFeatures]; PyTorch's default initialisation. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions & { bias?: boolean } = {}) {
    super();
    this.inFeatures = positiveInt('Linear', 'inFeatures', inFeatures);
    this.outFeatures = positiveInt('Linear', 'outFeatures', outFeatures);
    const dtype = options.dtype ?? 'float32';
    // kaiming_uniform(a=√5) gives U(±1/√inFeatures), as torch.nn.Linear.
    this.weight = parameter(init.kaimingUniform(zeros([outFeatures, inFeatures], { dtype }), { a: Math.sqrt(5) }));
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : parameter(init.uniform(zeros([outFeatures], { dtype }), -bound, bound));
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

// ---- activations ----------------------------------------------------------------

/** max(x, 0) elementwise. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

/** x·Φ(x), or its tanh approximation with { approximate: 'tanh' }. */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';

  constructor(options: GeluOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`GELU: options must be an object like { approximate: 'tanh' }, got ${String(options)}`);
    const approximate = options.approximate ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh')
      throw new RangeError(`GELU: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
    this.approximate = approximate;
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

function intArg(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${op}: ${name} must be an integer, got ${String(v)}`);
  return v;
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
    if (typeof p !== 'number' || !(p >= 0 && p <= 1))
      throw new RangeError(`Dropout: p must be a probability in [0, 1], got ${String(p)}`);
    this.p = p;
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  protected override extraRepr(): string {
    return `p=${this.p}`;
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
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(shape) || shape.length === 0)
      throw new TypeError(`LayerNorm: normalizedShape must be a positive integer or a non-empty array of them, got ${String(normalizedShape)}`);
    shape.forEach((s, i) => positiveInt('LayerNorm', `normalizedShape[${i}]`, s));
    this.normalizedShape = Object.freeze([...shape]);
    const eps = options.eps ?? 1e-5;
    if (typeof eps !== 'number' || !(eps >= 0)) throw new RangeError(`LayerNorm: eps must be a non-negative number, got ${String(eps)}`);
    this.eps = eps;
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    const dtype = options.dtype ?? 'float32';
    this.weight = this.elementwiseAffine ? parameter(ones(shape, { dtype })) : null;
    this.bias = this.elementwiseAffine && options.bias !== false ? parameter(zeros(shape, { dtype })) : null;
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
}

/** A lookup table: int32 indices of any shape → rows of weight [numEmbeddings, embeddingDim], initialised N(0, 1). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = positiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = positiveInt('Embedding', 'embeddingDim', embeddingDim);
    const pad = options.paddingIdx ?? null;
    if (pad !== null) {
      intArg('Embedding', 'paddingIdx', pad);
      if (pad < -numEmbeddings || pad >= numEmbeddings)
        throw new RangeError(`Embedding: paddingIdx must be in [${-numEmbeddings}, ${numEmbeddings - 1}], got ${pad}`);
    }
    this.paddingIdx = pad === null ? null : pad < 0 ? pad + numEmbeddings : pad;
    const weight = init.normal(zeros([numEmbeddings, embeddingDim], { dtype: options.dtype ?? 'float32' }));
    if (this.paddingIdx !== null) {
      const row = this.paddingIdx;
      noGrad(() => tidy(() => weight.narrow(0, row, 1).zero()));
    }
    this.weight = parameter(weight);
  }

  forward(indices: Tensor): Tensor {
    const out = F.embedding(indices, this.weight);
    if (this.paddingIdx === null || !this.weight.requiresGrad) return out;
    // Lookups of the padding row pass their value but no gradient, as in PyTorch.
    return tidy(() => where(indices.eq(this.paddingIdx as number).unsqueeze(-1), out.detach(), out));
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}` + (this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : '');
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

function mlpLayers(sizes: readonly number[], options: MLPOptions): Module[] {
  if (!Array.isArray(sizes) || sizes.length < 2)
    throw new TypeError(`MLP: sizes must be an array of at least 2 layer widths, like [784, 256, 10], got ${String(sizes)}`);
  sizes.forEach((s, i) => positiveInt('MLP', `sizes[${i}]`, s));
  const activation = options.activation ?? 'relu';
  const makers: Record<Activation, () => Module> = {
    relu: () => new ReLU(),
    gelu: () => new GELU(),
    tanh: () => new Tanh(),
    silu: () => new SiLU(),
  };
  if (!Object.hasOwn(makers, activation))
    throw new RangeError(`MLP: activation must be 'relu', 'gelu', 'tanh' or 'silu', got '${String(activation)}'`);
  const make = makers[activation];
  const p = options.dropout ?? 0;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RangeError(`MLP: dropout must be a probability in [0, 1], got ${String(p)}`);
  const layers: Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i] as number, sizes[i + 1] as number, { dtype: options.dtype }));
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
