// Elementwise binary ops with NumPy broadcasting, type casts, comparisons,
// where, and the in-place forms.
#pragma once

#include "core/tensor.h"

namespace tapegrad::ops {

// A 0-d tensor holding `value`, for the number operand of a binary op.
Tensor scalar(double value, DType dtype);
// Converts to `dtype` (differentiable between floating dtypes). Floats
// become int32 truncated toward zero; one int32 cannot hold (NaN, ±Infinity,
// ±2**31 and beyond) is a RangeError naming `op`.
Tensor cast(const Tensor& t, DType dtype, const char* op = "to");

// Arithmetic: both operands are brought to their promoted dtype first.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// a ** b. Gradients for both operands as PyTorch (0 for the base where b == 0,
// 0 for the exponent where a == 0 and b >= 0). int32 ** negative is 0 except
// for bases 1 and -1, as PyTorch's integer kernel.
Tensor pow(const Tensor& a, const Tensor& b);
// NaN wins; on ties the gradient is split half and half, as PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// The remainder of a / b with the sign of b (Python's %, torch.remainder)
// or of a (C's fmod, torch.fmod). Gradients as PyTorch's: 1 for a, and
// -floor(a / b) (remainder) or -trunc(a / b) (fmod) for b. A zero divisor
// gives NaN in floats; with int32 operands it is a RangeError (as PyTorch's
// ZeroDivisionError), checked before anything is divided.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, const Tensor& b);

// Comparisons: 1 where true and 0 where false, in the promoted dtype of the
// operands (there is no bool dtype), so a mask multiplies directly. They are
// not differentiable: the result never requires grad.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// a where cond is nonzero (NaN counts as nonzero), else b; cond of any dtype,
// all three broadcast together. Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` (0-d, converted to x's dtype: int32 truncates toward zero)
// where mask is nonzero; mask of any dtype, broadcast to x's shape.
// Differentiable in x (the gradient where mask is zero) and value (the sum
// of the gradient where mask is nonzero).
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);

// In-place: a op= b, b broadcast to a's shape. Bumps a's version.
void add_inplace(const Tensor& a, const Tensor& b);
void sub_inplace(const Tensor& a, const Tensor& b);
void mul_inplace(const Tensor& a, const Tensor& b);
void copy_inplace(const Tensor& dst, const Tensor& src);  // copyFrom
void fill_inplace(const Tensor& dst, const Tensor& value);  // fill, zero

}  // namespace tapegrad::ops
