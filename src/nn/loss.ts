// Losses as modules: each keeps its options and calls nn.functional in
// forward(input, target). Class weights are buffers, so they are saved in
// the state dict as in PyTorch.
import { Tensor, isTensor } from '../tensor.js';
import * as F from './functional.js';
import { buffer, Module } from './module.js';

function reductionArg(op: string, r: unknown): F.Reduction {
  const value = r ?? 'mean';
  if (value !== 'mean' && value !== 'sum' && value !== 'none')
    throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${typeof value === 'string' ? `'${value}'` : String(value)}`);
  return value;
}

function optionalBuffer(op: string, name: string, t: unknown): Tensor | null {
  if (t === undefined || t === null) return null;
  if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor or null, got ${String(t)}`);
  return buffer(t);
}

function optionsArg<T>(op: string, options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${op}: options must be an object, got ${String(options)}`);
  return options;
}

/** The shared part of every loss: the reduction. */
abstract class Loss extends Module {
  readonly reduction: F.Reduction;
  protected constructor(options: F.LossOptions) {
    super();
    this.reduction = reductionArg(this.constructor.name, options.reduction);
  }
  abstract override forward(input: Tensor, target: Tensor): Tensor;
}

/**
 * Cross-entropy between logits [N, C] (or [C], [N, C, d1, ...]) and int32 class
 * indices or class probabilities; see nn.functional.crossEntropy.
 */
export class CrossEntropyLoss extends Loss {
  weight: Tensor | null;
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;

  constructor(options: F.CrossEntropyOptions = {}) {
    const o = optionsArg('CrossEntropyLoss', options);
    super(o);
    this.weight = optionalBuffer('CrossEntropyLoss', 'weight', o.weight);
    this.ignoreIndex = o.ignoreIndex ?? -100;
    if (!Number.isInteger(this.ignoreIndex))
      throw new TypeError(`CrossEntropyLoss: ignoreIndex must be an integer, got ${String(o.ignoreIndex)}`);
    this.labelSmoothing = o.labelSmoothing ?? 0;
    if (typeof this.labelSmoothing !== 'number' || !(this.labelSmoothing >= 0 && this.labelSmoothing <= 1))
      throw new RangeError(`CrossEntropyLoss: labelSmoothing must be in [0, 1], got ${String(o.labelSmoothing)}`);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.crossEntropy(input, target, {
      weight: this.weight, ignoreIndex: this.ignoreIndex, labelSmoothing: this.labelSmoothing, reduction: this.reduction,
    });
  }
}

/** Negative log-likelihood of int32 class indices under log-probabilities (after LogSoftmax). */
export class NLLLoss extends Loss {
  weight: Tensor | null;
  readonly ignoreIndex: number;

  constructor(options: F.NllLossOptions = {}) {
    const o = optionsArg('NLLLoss', options);
    super(o);
    this.weight = optionalBuffer('NLLLoss', 'weight', o.weight);
    this.ignoreIndex = o.ignoreIndex ?? -100;
    if (!Number.isInteger(this.ignoreIndex))
      throw new TypeError(`NLLLoss: ignoreIndex must be an integer, got ${String(o.ignoreIndex)}`);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

/** Mean (or sum) of squared differences. */
export class MSELoss extends Loss {
  constructor(options: F.LossOptions = {}) {
    super(optionsArg('MSELoss', options));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, { reduction: this.reduction });
  }
}

/** Mean (or sum) of absolute differences. */
export class L1Loss extends Loss {
  constructor(options: F.LossOptions = {}) {
    super(optionsArg('L1Loss', options));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, { reduction: this.reduction });
  }
}

/** Quadratic for |input - target| < delta, linear beyond. */
export class HuberLoss extends Loss {
  readonly delta: number;
  constructor(options: F.HuberLossOptions = {}) {
    const o = optionsArg('HuberLoss', options);
    super(o);
    this.delta = o.delta ?? 1;
    if (typeof this.delta !== 'number' || !(this.delta > 0))
      throw new RangeError(`HuberLoss: delta must be a positive number, got ${String(o.delta)}`);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.huberLoss(input, target, { delta: this.delta, reduction: this.reduction });
  }
}

/** Binary cross-entropy of probabilities in [0, 1] (after Sigmoid). */
export class BCELoss extends Loss {
  weight: Tensor | null;
  constructor(options: F.BinaryCrossEntropyOptions = {}) {
    const o = optionsArg('BCELoss', options);
    super(o);
    this.weight = optionalBuffer('BCELoss', 'weight', o.weight);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

/** Binary cross-entropy of logits, computed stably; posWeight weighs the positive term per class. */
export class BCEWithLogitsLoss extends Loss {
  weight: Tensor | null;
  posWeight: Tensor | null;
  constructor(options: F.BinaryCrossEntropyWithLogitsOptions = {}) {
    const o = optionsArg('BCEWithLogitsLoss', options);
    super(o);
    this.weight = optionalBuffer('BCEWithLogitsLoss', 'weight', o.weight);
    this.posWeight = optionalBuffer('BCEWithLogitsLoss', 'posWeight', o.posWeight);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.posWeight, reduction: this.reduction });
  }
}
