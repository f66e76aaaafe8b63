// Helpers shared by the op families: dimension arguments, broadcasting.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

// Turns a possibly negative dim into 0..ndim-1; RangeError naming op/arg.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op, const char* arg = "dim");
// Normalises a list of dims, rejecting repeats. Empty means "all dims".
std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim, const char* op);

// NumPy broadcasting of two shapes; RangeError showing both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read `t` as if it had `shape` (stride 0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// Throws a TypeError naming op/arg unless t is float32 or float64.
void require_floating(const Tensor& t, const char* op, const char* arg);
// Throws unless both tensors have the same dtype.
void require_same_dtype(const Tensor& a, const Tensor& b, const char* op);

}  // namespace tapegrad::ops
