// Elementwise binary ops with NumPy broadcasting, type casts, comparisons,
// where, and the in-place forms.
#pragma once

#include "core/tensor.h"

namespace tapegrad::ops {

// A 0-d tensor holding `value`, for the number operand of a binary op.
Tensor scalar(double value, DType dtype);
// Converts to `dtype` (differentiable between floating dtypes).
Tensor cast(const Tensor& t, DType dtype);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// In-place: a op= b, b broadcast to a's shape. Bumps a's version.
void add_inplace(const Tensor& a, const Tensor& b);
void sub_inplace(const Tensor& a, const Tensor& b);
void mul_inplace(const Tensor& a, const Tensor& b);
void copy_inplace(const Tensor& dst, const Tensor& src);  // copyFrom

}  // namespace tapegrad::ops
