// The pieces of a training step shared by fit and Trainer: calling the
// model and the loss, splitting batches, checking what comes back.
import { describe } from '../errors.js';
import { Module } from '../nn/module.js';
import { Tensor, isTensor } from '../tensor.js';
import type { Metric } from './metrics.js';

/** A model: an nn.Module (its forward is called) or a function of the input tensors. */
export type Model = Module | ((...inputs: Tensor[]) => Tensor);
/** A loss: a loss module (nn.CrossEntropyLoss, ...) or a function (prediction, target) => scalar tensor. */
export type LossFn = Module | ((prediction: Tensor, target: Tensor) => Tensor);
/**
 * Training data: a DataLoader, or any iterable of batches. A batch is a
 * list of tensors: the model's inputs followed by the target.
 */
export type Batches = Iterable<Tensor[]>;

/** @internal */
export function forwardOf(model: Model, op: string): (inputs: Tensor[]) => Tensor {
  if (model instanceof Module) return (inputs) => model.forward(...inputs);
  if (typeof model === 'function') return (inputs) => model(...inputs);
  throw new TypeError(`${op}: model must be an nn.Module or a function, got ${describe(model)}`);
}

/** @internal */
export function lossOf(loss: LossFn | undefined, op: string): (p: Tensor, t: Tensor) => Tensor {
  if (loss instanceof Module) return (p, t) => loss.forward(p, t);
  if (typeof loss === 'function') return loss;
  throw new TypeError(`${op}: options.loss must be a loss module or a function (prediction, target) => tensor, got ${describe(loss)}`);
}

/** @internal */
export function splitBatch(batch: unknown, op: string): { inputs: Tensor[]; target: Tensor } {
  if (!Array.isArray(batch) || batch.length < 2 || !batch.every((t) => isTensor(t)))
    throw new TypeError(`${op}: each batch must be a list of tensors, the inputs followed by the target (e.g. [x, y])`);
  return { inputs: batch.slice(0, -1) as Tensor[], target: batch[batch.length - 1] as Tensor };
}

/** @internal */
export function scalarLoss(l: unknown, op: string): Tensor {
  if (!isTensor(l)) throw new TypeError(`${op}: the loss function must return a Tensor, got ${describe(l)}`);
  if (l.size !== 1) throw new RangeError(`${op}: the loss must be a single value, got shape [${l.shape.join(', ')}]; use reduction 'mean' or 'sum'`);
  return l;
}

/** @internal */
export function metricValues(metrics: Metric[], prediction: Tensor, target: Tensor): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) out[m.name] = m.fn(prediction, target);
  return out;
}
