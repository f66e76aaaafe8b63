// Functions over several tensors, exported at the top level (tg.cat, tg.where, ...).
import { native } from './native.js';
import { operand, Tensor } from './tensor.js';

function handles(op: string, tensors: readonly Tensor[]): ReturnType<typeof operand>[] {
  if (!Array.isArray(tensors)) throw new TypeError(`${op}: tensors must be an array of tensors, got ${typeof tensors}`);
  return tensors.map(operand);
}

/**
 * Joins tensors along an existing dim; their shapes must match in every other
 * dim. Dtypes promote (int32 < float32 < float64). As PyTorch, 1-D empty
 * tensors (shape [0]) are skipped.
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(handles('cat', tensors), dim));
}

/** Joins tensors of one shape along a new dim `dim` (in [-ndim-1, ndim]). Dtypes promote as in cat. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.stack(handles('stack', tensors), dim));
}
