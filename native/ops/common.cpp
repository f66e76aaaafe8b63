#include "ops/common.h"

#include <algorithm>

#include "runtime/error.h"

namespace tapegrad::ops {

std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op, const char* arg) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim;
  const std::int64_t hi = ndim == 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi)
    throw_range_error(op, ": ", arg, " must be in [", lo, ", ", hi, "] for a tensor with ", ndim,
                      " dimensions, got ", dim);
  return dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim;
}

std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim, const char* op) {
  std::vector<std::int64_t> out;
  out.reserve(dims.size());
  for (std::int64_t d : dims) {
    std::int64_t n = normalize_dim(d, ndim, op);
    if (ndim == 0) continue;  // dim 0 / -1 of a scalar means the scalar itself
    if (std::find(out.begin(), out.end(), n) != out.end())
      throw_range_error(op, ": dim ", n, " appears more than once in the list of dims");
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw_range_error(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast together (dim ",
                        i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Shape& from_shape, const Shape& from_strides, const Shape& shape) {
  const std::size_t n = shape.size(), k = from_shape.size();
  Shape strides(n, 0);
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = n - k + i;
    strides[j] = from_shape[i] == 1 && shape[j] != 1 ? 0 : from_strides[i];
  }
  return strides;
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  return broadcast_strides(t.shape(), t.strides(), shape);
}

void require_floating(const Tensor& t, const char* op, const char* arg) {
  if (!is_floating(t.dtype()))
    throw_type_error(op, ": ", arg, " must be a float32 or float64 tensor, got ", dtype_name(t.dtype()));
}

void require_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw_type_error(op, ": tensors must have the same dtype, got ", dtype_name(a.dtype()), " and ",
                     dtype_name(b.dtype()));
}

}  // namespace tapegrad::ops
