// Shape and indexing ops. Views share storage with their input.
#pragma once

#include "core/tensor.h"

namespace tapegrad::ops {

// One -1 allowed. A view when the strides allow it, else a copy.
Tensor reshape(const Tensor& t, const Shape& shape);
Tensor expand(const Tensor& t, const Shape& shape);
// Sums a broadcast gradient back to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& t, const Shape& shape);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);

}  // namespace tapegrad::ops
