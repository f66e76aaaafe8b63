// Matrix products. Every product runs on the strided GEMM of the kernel table,
// so transposed and sliced operands are read in place.
#pragma once

#include "core/tensor.h"

namespace tapegrad::ops {

// PyTorch's matmul: 1-D·1-D is a dot product; a 1-D operand is a row on the
// left or a column on the right (the added dim is removed from the result);
// N-D operands are stacks of matrices whose batch dims broadcast. Both
// operands must have the same dtype; int32 is supported (wrapping, no grad).
Tensor matmul(const Tensor& a, const Tensor& b);
// Dot product of two 1-D tensors of the same size (a 0-d result).
Tensor dot(const Tensor& a, const Tensor& b);
// out[i, j] = a[i]·b[j] for 1-D a and b.
Tensor outer(const Tensor& a, const Tensor& b);
// x·weightᵀ + bias with weight [out, in] (or [in]: a dot product per row) and
// an optional bias that broadcasts to the output; relu_after applies ReLU to
// the result right after the product, in the same op: relu()'s values and
// gradients in one node, "linearRelu".
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool relu_after = false);

}  // namespace tapegrad::ops
