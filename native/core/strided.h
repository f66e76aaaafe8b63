// Loops over the elements of strided tensors of one shape. Each call of `row`
// covers the innermost dimension: row(offsets, n, inner_strides), with
// offsets[k] the element offset of operand k at the start of the row.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "runtime/parallel.h"

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

// for_each_row split across the pool: the rows (all dims but the last) in
// chunks of at least `grain` elements, each chunk walked as for_each_row
// walks it. Only for row() that writes nothing outside its own row's
// elements (a fresh output, never a view that repeats elements) and has no
// state shared between calls.
template <std::size_t N, typename Row>
void parallel_for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                           const std::array<std::int64_t, N>& base, std::int64_t grain, Row&& row) {
  const std::size_t nd = shape.size();
  std::int64_t numel = 1;
  for (std::int64_t s : shape) numel *= s;
  if (nd <= 1 || numel < 2 * grain) return for_each_row<N>(shape, strides, base, row);
  const std::int64_t n = shape[nd - 1], rows = numel / n;
  std::array<std::int64_t, N> inner{};
  for (std::size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[nd - 1];
  runtime::parallel_for(0, rows, std::max<std::int64_t>(1, grain / n), [&](std::int64_t r0, std::int64_t r1) {
    // The multi-index of row r0 over dims [0, nd - 1), and its offsets.
    std::vector<std::int64_t> index(nd - 1, 0);
    std::array<std::int64_t, N> offs = base;
    for (std::int64_t r = r0, d = static_cast<std::int64_t>(nd) - 2; d >= 0; --d) {
      index[d] = r % shape[d];
      r /= shape[d];
      for (std::size_t k = 0; k < N; ++k) offs[k] += index[d] * (*strides[k])[d];
    }
    for (std::int64_t r = r0; r < r1; ++r) {
      row(offs, n, inner);
      for (std::size_t d = nd - 1; d-- > 0;) {
        ++index[d];
        for (std::size_t k = 0; k < N; ++k) offs[k] += (*strides[k])[d];
        if (index[d] < shape[d]) break;
        for (std::size_t k = 0; k < N; ++k) offs[k] -= (*strides[k])[d] * shape[d];
        index[d] = 0;
      }
    }
  });
}

// A contiguous copy of `t` (or `t` itself when already contiguous), with no
// autograd history.
Tensor contiguous_data(const Tensor& t);
// Copies src's elements into dst (same shape and dtype; any strides).
void copy_elements(const Tensor& src, const Tensor& dst);

}  // namespace tapegrad
