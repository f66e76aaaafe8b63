// Functions over several tensors, exported at the top level (tg.cat, tg.where, ...).
import { native, type Handle } from './native.js';
import { Tensor, operand } from './tensor.js';

// ---- linear algebra ---------------------------------------------------------

/** Matrix product with PyTorch's rules (see Tensor.matmul). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.matmul(operand(a) as Handle, operand(b) as Handle));
}
/** Dot product of two 1-D tensors of the same size. */
export function dot(a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.dot(operand(a) as Handle, operand(b) as Handle));
}
/** Outer product of two 1-D tensors. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.outer(operand(a) as Handle, operand(b) as Handle));
}
