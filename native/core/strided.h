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

namespace detail {

// Calls row() for rows [r0, r1) of `shape` (rows: every index of all dims but
// the last, row-major), starting the walk at row r0 (none when r0 >= r1, as
// for a shape with a dim of 0).
template <std::size_t N, typename Row>
void walk_rows(const Shape& shape, const std::array<const Shape*, N>& strides, const std::array<std::int64_t, N>& base,
               std::int64_t r0, std::int64_t r1, Row& row) {
  if (r0 >= r1) return;
  const std::size_t nd = shape.size();
  std::array<std::int64_t, N> inner{};
  std::int64_t n = 1;
  if (nd > 0) {
    n = shape[nd - 1];
    for (std::size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[nd - 1];
  }
  if (nd <= 1) return row(base, n, inner);
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
}

// The number of rows (all dims but the last), 0 when any dim is 0.
inline std::int64_t row_count(const Shape& shape) {
  std::int64_t rows = 1;
  for (std::size_t d = 0; d < shape.size(); ++d)
    rows *= (d + 1 == shape.size() && shape[d] != 0) ? 1 : shape[d];
  return rows;
}

}  // namespace detail

template <std::size_t N, typename Row>
void for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                  const std::array<std::int64_t, N>& base, Row&& row) {
  detail::walk_rows<N>(shape, strides, base, 0, detail::row_count(shape), row);
}

// for_each_row split across the pool: the rows in chunks of at least `grain`
// elements, each chunk walked as for_each_row walks it. Only for row() that
// writes nothing outside its own row's elements (a fresh output, never a view
// that repeats elements) and has no state shared between calls.
// chunk_done() runs after each chunk, on the thread that walked it.
template <std::size_t N, typename Row, typename ChunkDone>
void parallel_for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                           const std::array<std::int64_t, N>& base, std::int64_t grain, Row&& row,
                           ChunkDone&& chunk_done) {
  const std::int64_t rows = detail::row_count(shape);
  const std::int64_t n = shape.empty() ? 1 : shape.back();
  if (shape.size() <= 1 || rows * n < 2 * grain) {
    detail::walk_rows<N>(shape, strides, base, 0, rows, row);
    return chunk_done();
  }
  runtime::parallel_for(0, rows, std::max<std::int64_t>(1, grain / n), [&](std::int64_t r0, std::int64_t r1) {
    detail::walk_rows<N>(shape, strides, base, r0, r1, row);
    chunk_done();
  });
}

template <std::size_t N, typename Row>
void parallel_for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                           const std::array<std::int64_t, N>& base, std::int64_t grain, Row&& row) {
  parallel_for_each_row<N>(shape, strides, base, grain, row, [] {});
}

// A contiguous copy of `t` (or `t` itself when already contiguous), with no
// autograd history; `op` names a failed allocation.
Tensor contiguous_data(const Tensor& t, const char* op = "contiguous");
// A fresh contiguous copy of `t`'s elements, with no autograd history; an
// allocation failure names `op`.
Tensor copy_of(const Tensor& t, const char* op);
// Whether two non-empty tensors' spans of storage intersect (a write to one
// may change what the other reads).
bool overlaps(const Tensor& a, const Tensor& b);
// Copies src's elements into dst (same shape and dtype; any strides).
void copy_elements(const Tensor& src, const Tensor& dst);
// Copies `bytes` bytes between buffers that do not overlap, split across
// the pool; large copies write with streaming stores.
void copy_memory(const void* src, void* dst, std::int64_t bytes);

}  // namespace tapegrad
