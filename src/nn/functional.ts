// tg.nn.functional: activations, losses and layers as functions.
import { native, type Handle } from '../native.js';
import { Tensor, operand } from '../tensor.js';

// ---- layers -------------------------------------------------------------------

/**
 * x·weightᵀ + bias, with weight of shape [outFeatures, inFeatures] as in
 * PyTorch (a 1-D weight gives one dot product per row) and a bias that
 * broadcasts to the output.
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const b = bias === undefined || bias === null ? null : (operand(bias) as Handle);
  return new Tensor(native.linear(operand(input) as Handle, operand(weight) as Handle, b));
}
