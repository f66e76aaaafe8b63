// Functions over several tensors, exported at the top level (tg.cat, tg.where, ...).
import { describe } from './errors.js';
import { native, type Handle } from './native.js';
import { fromHandle, operand, type Tensor, type TensorLike } from './tensor.js';

// ---- elementwise ----------------------------------------------------------
// Functional forms of the binary ops: a number is allowed on either side
// (tg.sub(2, t)), with at least one tensor.

/** a + b. */
export function add(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.add(operand(a), operand(b)));
}
/** a - b. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.sub(operand(a), operand(b)));
}
/** a * b. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.mul(operand(a), operand(b)));
}
/** a / b (true division: int32 operands divide as float32). */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.div(operand(a), operand(b)));
}
/** a ** b, differentiable in both (see Tensor.pow). */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.pow(operand(a), operand(b)));
}
/** Elementwise maximum (see Tensor.maximum). */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.maximum(operand(a), operand(b)));
}
/** Elementwise minimum (see Tensor.minimum). */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.minimum(operand(a), operand(b)));
}
/** The remainder of a / b with the sign of b, as Python's % (see Tensor.remainder). */
export function remainder(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.remainder(operand(a), operand(b)));
}
/** The remainder of a / b with the sign of a, as C's fmod (see Tensor.fmod). */
export function fmod(a: TensorLike, b: TensorLike): Tensor {
  return fromHandle(native.fmod(operand(a), operand(b)));
}
/**
 * `input` where `condition` is nonzero (NaN counts as nonzero), else `other`.
 * condition may have any dtype; the three broadcast together; the result has
 * the promoted dtype of input and other (float32 when both are numbers).
 * Differentiable in input and other.
 */
export function where(condition: Tensor, input: TensorLike, other: TensorLike): Tensor {
  return fromHandle(native.where(operand(condition) as Handle, operand(input), operand(other)));
}

// ---- linear algebra ---------------------------------------------------------

/** Matrix product with PyTorch's rules (see Tensor.matmul). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return fromHandle(native.matmul(operand(a) as Handle, operand(b) as Handle));
}
/** Dot product of two 1-D tensors of the same size. */
export function dot(a: Tensor, b: Tensor): Tensor {
  return fromHandle(native.dot(operand(a) as Handle, operand(b) as Handle));
}
/** Outer product of two 1-D tensors. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return fromHandle(native.outer(operand(a) as Handle, operand(b) as Handle));
}

// ---- joining ----------------------------------------------------------------

function handles(op: string, tensors: readonly Tensor[]): ReturnType<typeof operand>[] {
  if (!Array.isArray(tensors)) throw new TypeError(`${op}: tensors must be an array of tensors, got ${describe(tensors)}`);
  return tensors.map(operand);
}

/**
 * Joins tensors along an existing dim; their shapes must match in every other
 * dim. Dtypes promote (int32 < float32 < float64). As PyTorch, 1-D empty
 * tensors (shape [0]) are skipped.
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return fromHandle(native.cat(handles('cat', tensors), dim));
}

/** Joins tensors of one shape along a new dim `dim` (in [-ndim-1, ndim]). Dtypes promote as in cat. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return fromHandle(native.stack(handles('stack', tensors), dim));
}
