// Losses as modules: each keeps its options and calls nn.functional in
// forward(input, target). Class weights are buffers, so they are saved in
// the state dict as in PyTorch.
import { checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { Tensor, isTensor } from '../tensor.js';
import * as F from './functional.js';
import { buffer, Module } from './module.js';

// The options of a loss module: reduction and the loss's own `accepted` keys (a misspelt one would keep its default).
function lossOptions<T>(options: T, op: string, accepted: readonly string[] = []): T {
  return checkOptions(options, op, "{ reduction: 'sum' }", ['reduction', ...accepted]);
}

function reductionArg(op: string, r: unknown): F.Reduction {
  return checkChoice(r ?? 'mean', op, 'reduction', ['mean', 'sum', 'none']);
}

function optionalBuffer(op: string, name: string, t: unknown): Tensor | null {
  if (t === undefined || t === null) return null;
  if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor or null, got ${describe(t)}`);
  return buffer(t);
}

function ignoreIndexArg(op: string, v: unknown): number {
  return checkNumber(v ?? -100, op, 'ignoreIndex', 'an integer', Number.isInteger);
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
    const o = lossOptions(options, 'CrossEntropyLoss', ['weight', 'ignoreIndex', 'labelSmoothing']);
    super(o);
    this.weight = optionalBuffer('CrossEntropyLoss', 'weight', o.weight);
    this.ignoreIndex = ignoreIndexArg('CrossEntropyLoss', o.ignoreIndex);
    this.labelSmoothing = checkNumber(o.labelSmoothing ?? 0, 'CrossEntropyLoss', 'labelSmoothing', 'in [0, 1]', (v) => v >= 0 && v <= 1);
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
    const o = lossOptions(options, 'NLLLoss', ['weight', 'ignoreIndex']);
    super(o);
    this.weight = optionalBuffer('NLLLoss', 'weight', o.weight);
    this.ignoreIndex = ignoreIndexArg('NLLLoss', o.ignoreIndex);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

/** Mean (or sum) of squared differences. */
export class MSELoss extends Loss {
  constructor(options: F.LossOptions = {}) {
    super(lossOptions(options, 'MSELoss'));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, { reduction: this.reduction });
  }
}

/** Mean (or sum) of absolute differences. */
export class L1Loss extends Loss {
  constructor(options: F.LossOptions = {}) {
    super(lossOptions(options, 'L1Loss'));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, { reduction: this.reduction });
  }
}

/** Quadratic for |input - target| < delta, linear beyond. */
export class HuberLoss extends Loss {
  readonly delta: number;
  constructor(options: F.HuberLossOptions = {}) {
    const o = lossOptions(options, 'HuberLoss', ['delta']);
    super(o);
    this.delta = checkNumber(o.delta ?? 1, 'HuberLoss', 'delta', 'a positive number', (v) => v > 0);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.huberLoss(input, target, { delta: this.delta, reduction: this.reduction });
  }
}

/** Binary cross-entropy of probabilities in [0, 1] (after Sigmoid). */
export class BCELoss extends Loss {
  weight: Tensor | null;
  constructor(options: F.BinaryCrossEntropyOptions = {}) {
    const o = lossOptions(options, 'BCELoss', ['weight']);
    super(o);
    this.weight = optionalBuffer('BCELoss', 'weight', o.weight);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

/**
 * Binary cross-entropy of logits, computed stably; the posWeight option
 * weighs the positive term per class. It is held as `pos_weight`, PyTorch's
 * state-dict name, so that PyTorch's state dicts load.
 */
export class BCEWithLogitsLoss extends Loss {
  weight: Tensor | null;
  pos_weight: Tensor | null;
  constructor(options: F.BinaryCrossEntropyWithLogitsOptions = {}) {
    const o = lossOptions(options, 'BCEWithLogitsLoss', ['weight', 'posWeight']);
    super(o);
    this.weight = optionalBuffer('BCEWithLogitsLoss', 'weight', o.weight);
    this.pos_weight = optionalBuffer('BCEWithLogitsLoss', 'posWeight', o.posWeight);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.pos_weight, reduction: this.reduction });
  }
}
