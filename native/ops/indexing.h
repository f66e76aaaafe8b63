// Indexing by int32 index tensors: indexSelect, gather and scatterAdd (out
// of place), and their gradients. Every index value is
// checked before any element is read: out of range or negative values are a
// RangeError naming the op, the value, the dim and its size.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace tapegrad::ops {

// Entries index[i] of dim (index 0-d or 1-d).
Tensor index_select(const Tensor& t, std::int64_t dim, const Tensor& index);
// out[p] = t[p with p[dim] replaced by index[p]]; index has t's number of dims.
Tensor gather(const Tensor& t, std::int64_t dim, const Tensor& index);
// The gradient of gather from an input of `shape`: grad added through the
// index into zeros of that shape. Differentiable (its gradient gathers).
Tensor gather_backward(const Tensor& grad, std::int64_t dim, const Tensor& index, const Shape& shape);
// A copy of t with src[p] added at (p with p[dim] replaced by index[p]).
Tensor scatter_add(const Tensor& t, std::int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace tapegrad::ops
