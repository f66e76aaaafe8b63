// Sorting along a dim: sort (and argsort, its indices) and topk. Elements
// are ordered as PyTorch orders them: NaN above +Infinity, -0 equal to +0.
// Equal elements keep their order along the dim (every sort is stable), so
// results are deterministic. Indices are int32, as argmax's (PyTorch: int64).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace tapegrad::ops {

struct Sorted {
  Tensor values;   // differentiable: the gradient goes back to each value's position
  Tensor indices;  // int32 positions along dim in the input
};

// Every element along dim, ascending (or descending). `op` names errors and
// the graph node (sort, argsort).
Sorted sort(const Tensor& t, std::int64_t dim, bool descending, const char* op = "sort");
// The k largest (or smallest) along dim, in sorted order (k in [0, size]).
Sorted topk(const Tensor& t, std::int64_t k, std::int64_t dim, bool largest);

}  // namespace tapegrad::ops
