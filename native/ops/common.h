// Helpers shared by the op families: dimension arguments, broadcasting.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

// Turns a possibly negative dim into 0..ndim-1; RangeError naming op/arg.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op, const char* arg = "dim");
// Normalises a list of dims, rejecting repeats. Empty means "all dims".
std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim, const char* op);

// NumPy broadcasting of two shapes; RangeError showing both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read `t` as if it had `shape` (stride 0 on broadcast dims);
// the same for a layout given as its shape and strides.
Shape broadcast_strides(const Tensor& t, const Shape& shape);
Shape broadcast_strides(const Shape& from_shape, const Shape& from_strides, const Shape& shape);

// Throws a TypeError naming op/arg unless t is float32 or float64.
void require_floating(const Tensor& t, const char* op, const char* arg);
// Throws unless both tensors have the same dtype.
void require_same_dtype(const Tensor& a, const Tensor& b, const char* op);

// The entry of a float32/float64 pair in the kernel table for element type
// T: kernel_for<T>(table.binary_f32, table.binary_f64). (Baseline code only:
// see kernels/kernels.h on templates shared with the per-ISA units.)
template <typename T, typename F32, typename F64>
auto kernel_for(F32 f32, F64 f64) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  if constexpr (std::is_same_v<T, float>)
    return f32;
  else
    return f64;
}

// t's elements, or null for an undefined (absent) tensor.
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace tapegrad::ops
