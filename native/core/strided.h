// Loops over the elements of strided tensors of one shape. Each call of `row`
// covers the innermost dimension: row(offsets, n, inner_strides), with
// offsets[k] the element offset of operand k at the start of the row.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tapegrad {

template <std::size_t N, typename Row>
void for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                  const std::array<std::int64_t, N>& base, Row&& row) {
  const std::size_t nd = shape.size();
  for (std::int64_t s : shape)
    if (s == 0) return;
  std::array<std::int64_t, N> inner{};
  std::int64_t n = 1;
  if (nd > 0) {
    n = shape[nd - 1];
    for (std::size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[nd - 1];
  }
  if (nd <= 1) {
    row(base, n, inner);
    return;
  }
  std::vector<std::int64_t> index(nd - 1, 0);
  std::array<std::int64_t, N> offs = base;
  while (true) {
    row(offs, n, inner);
    std::size_t d = nd - 1;
    while (d-- > 0) {
      ++index[d];
      for (std::size_t k = 0; k < N; ++k) offs[k] += (*strides[k])[d];
      if (index[d] < shape[d]) break;
      for (std::size_t k = 0; k < N; ++k) offs[k] -= (*strides[k])[d] * shape[d];
      index[d] = 0;
      if (d == 0) return;
    }
  }
}

// A contiguous copy of `t` (or `t` itself when already contiguous), with no
// autograd history.
Tensor contiguous_data(const Tensor& t);
// Copies src's elements into dst (same shape and dtype; any strides).
void copy_elements(const Tensor& src, const Tensor& dst);

}  // namespace tapegrad
