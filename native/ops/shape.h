// Shape and indexing ops. Views share storage with their input.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

// One -1 allowed. A view when the strides allow it, else a copy.
Tensor reshape(const Tensor& t, const Shape& shape);
Tensor expand(const Tensor& t, const Shape& shape);
// Sums a broadcast gradient back to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& t, const Shape& shape);
// Views with dims reordered (negative dims allowed).
Tensor transpose(const Tensor& t, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& t, const std::vector<std::int64_t>& dims);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);

}  // namespace tapegrad::ops
