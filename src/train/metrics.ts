// Metrics computed per batch and averaged over an epoch, weighted by batch size.
import { noGrad } from '../autograd.js';
import { describe } from '../errors.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

/** A metric: `fn` returns the batch's mean value (a plain number). */
export interface Metric {
  /** The name in logs and history ('f1' is logged as 'f1' and 'valF1'). */
  name: string;
  fn: (prediction: Tensor, target: Tensor) => number;
  /** Whether larger values are better (default true); early stopping uses it in 'auto' mode. */
  higherIsBetter?: boolean;
}

/** A metric by name ('accuracy') or a custom one. */
export type MetricSpec = 'accuracy' | Metric;

/**
 * The fraction of examples whose predicted class (argmax over the last
 * dimension) is the target: int32 class indices, or one-hot / probability
 * rows of the prediction's shape.
 */
export function accuracy(prediction: Tensor, target: Tensor): number {
  return noGrad(() =>
    tidy(() => {
      const predicted = prediction.argmax(-1);
      let expected: Tensor;
      if (target.dtype === 'int32' && target.shape.join() === predicted.shape.join()) expected = target;
      else if (target.shape.join() === prediction.shape.join()) expected = target.argmax(-1);
      else
        throw new RangeError(
          `accuracy: the target must hold int32 class indices of shape [${predicted.shape.join(', ')}] or rows of the prediction's shape [${prediction.shape.join(', ')}], got ${target.dtype} of shape [${target.shape.join(', ')}]`,
        );
      const n = predicted.size;
      return n === 0 ? 0 : predicted.eq(expected).sum().item() / n;
    }),
  );
}

/** @internal */
export function resolveMetrics(specs: readonly MetricSpec[] | undefined, op: string): Metric[] {
  if (specs === undefined) return [];
  if (!Array.isArray(specs)) throw new TypeError(`${op}: metrics must be an array, got ${describe(specs)}`);
  return specs.map((m, i) => {
    if (m === 'accuracy') return { name: 'accuracy', fn: accuracy, higherIsBetter: true };
    if (m !== null && typeof m === 'object' && typeof m.name === 'string' && typeof m.fn === 'function') return m;
    throw new TypeError(`${op}: metrics[${i}] must be 'accuracy' or { name, fn }, got ${describe(m)}`);
  });
}

/** 'accuracy' -> 'valAccuracy'. */
export function validationName(name: string): string {
  return `val${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}
