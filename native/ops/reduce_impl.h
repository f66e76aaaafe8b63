// The loops and helpers behind reductions. Only op families include this file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "core/strided.h"
#include "ops/common.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

// Backward rules of logsumexp and the general p-norm use exp, pow, eq, where.
#include "ops/unary.h"

namespace tapegrad::ops {

struct ReducePlan {
  std::vector<std::int64_t> dims;  // normalised, sorted
  Shape kept_shape;                // reduced dims as size 1
  Shape out_shape;                 // as returned (keepdim or not)
  std::int64_t group = 1;          // elements reduced into each output
  std::int64_t outputs = 1;        // number of output elements
};

ReducePlan plan_reduce(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim, const char* op);

// t with the reduced dims along which it broadcasts (stride 0, size > 1)
// made size 1, its plan, and how many times each of its elements repeats in
// a group. Reductions read a repeated value once and account for the
// repeats (sum multiplies, max takes it once): the gradient of sum() reaches
// the add of a bias as such a view, and a view of 2**40 repeats of one value
// takes no longer than the value itself. Gradients still see the whole view.
struct Unrepeated {
  Tensor view;
  ReducePlan plan;
  std::int64_t repeats = 1;
};
Unrepeated without_repeats(const Tensor& t, const ReducePlan& plan);

// For ops with no identity (max, argmax): a RangeError naming the op when a
// reduced dim is empty.
void require_nonempty_groups(const Tensor& t, const ReducePlan& plan, const char* op);

// An input whose reduced dims of size > 1 are one block of consecutive dims,
// seen as [outer, group, inner] (row-major, the block in the middle), once
// made contiguous; nullopt for other dims, for a strided view that
// broadcasts (its copy would be larger than its data) and when
// TAPEGRAD_ELEMENTWISE=generic.
struct BlockLayout {
  std::int64_t outer, group, inner;
};
std::optional<BlockLayout> block_layout(const Tensor& t, const ReducePlan& plan);

// An input whose reduced dims of size > 1 are two blocks with kept dims
// between them ([N, C, H, W] over N, H and W, a batch norm's statistics):
// the inner block is reduced first (`inner`, its outputs in the order of
// the input's remaining dims), then the outer one over those (`outer`).
struct TwoBlockLayout {
  BlockLayout inner, outer;
};
std::optional<TwoBlockLayout> two_block_layouts(const Tensor& t, const ReducePlan& plan);

// Splits a block layout's outputs across the pool: with inner == 1, rows
// [begin, end) of `group` contiguous elements each, to rows(begin, end);
// else strips of at most kOutputStrip outputs of one slice, to
// strip(o, j0, width) (outputs o·inner + j0 ... o·inner + j0 + width - 1).
// Each output falls in exactly one call. A task takes `input_grain` input
// elements at least (runtime/parallel.h). Walks that write an element for
// every input element (scans, max's gradient weights) pass their element
// size as element_bytes: a task's columns of a slice then start at multiples
// of a 4 KiB page's elements (so two tasks share at most a page at each
// boundary; with fewer columns than a page and one slice, the walk runs on
// one thread). Two cores writing alternate parts of the same pages took longer
// than one core alone (Zen 5: two threads each writing half of every 4 KiB
// row of a 4 MiB buffer 0.93 ms, one thread writing it all 0.49; each
// reading half of every row, or writing its own buffer, 1.9-2x faster).
inline constexpr std::int64_t kOutputStrip = 1024;
template <typename Rows, typename Strip>
void split_outputs(const BlockLayout& l, Rows&& rows, Strip&& strip,
                   std::int64_t input_grain = runtime::kElementwiseGrain, std::int64_t element_bytes = 0) {
  const std::int64_t grain = std::max<std::int64_t>(1, input_grain / std::max<std::int64_t>(l.group, 1));
  if (l.inner == 1) return runtime::parallel_for(0, l.outer, grain, rows);
  // Columns in units of `unit` (a page's elements for writers), the last of a slice shorter.
  const std::int64_t unit = element_bytes > 0 ? std::max<std::int64_t>(1, 4096 / element_bytes) : 1;
  const std::int64_t units = (l.inner + unit - 1) / unit;
  const std::int64_t unit_columns = std::min(unit, l.inner), columns_grain = std::max<std::int64_t>(64, grain);
  runtime::parallel_for(0, l.outer * units, (columns_grain + unit_columns - 1) / unit_columns,
                        [&](std::int64_t begin, std::int64_t end) {
                          for (std::int64_t u = begin; u < end;) {
                            const std::int64_t o = u / units, u0 = u % units, u1 = std::min(units, u0 + end - u);
                            for (std::int64_t j0 = u0 * unit, j1 = std::min(l.inner, u1 * unit); j0 < j1;) {
                              const std::int64_t width = std::min(j1 - j0, kOutputStrip);
                              strip(o, j0, width);
                              j0 += width;
                            }
                            u += u1 - u0;
                          }
                        });
}

// row(r, x + r·group, parallel) for each row of a layout with inner == 1:
// a single row with `parallel` (its pieces may go on the pool, piece_values),
// else the rows split across the pool.
template <typename T, typename Row>
void each_row(const T* x, const BlockLayout& l, Row&& row) {
  const std::int64_t group = l.group;
  if (l.outer == 1) return row(0, x, true);
  split_outputs(
      l,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) row(r, x + r * group, false);
      },
      [](std::int64_t, std::int64_t, std::int64_t) {});  // inner == 1: rows only
}

// piece(begin, length) for the pieces of [0, n) of `size` elements (the
// last one shorter), one value each, in order; `grain` pieces per task on
// the pool when `parallel`. The values do not depend on the thread count.
template <typename Value, typename Piece>
std::vector<Value> piece_values(std::int64_t n, std::int64_t size, bool parallel, std::int64_t grain, Piece&& piece) {
  std::vector<Value> values(static_cast<std::size_t>((n + size - 1) / size));
  const auto run = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p)
      values[static_cast<std::size_t>(p)] = piece(p * size, std::min(size, n - p * size));
  };
  if (parallel)
    runtime::parallel_for(0, static_cast<std::int64_t>(values.size()), grain, run);
  else
    run(0, static_cast<std::int64_t>(values.size()));
  return values;
}

// Calls f(out_pos, x, index) for every input element, each output's
// elements in input order: out_pos is the element's output position in a
// contiguous kept_shape buffer, index its row-major position in the input.
// With a block layout the input is walked contiguously (a strided one copied
// first) and split across the pool by outputs, so f may update state of its
// own out_pos only; else one row-major walk over the input.
template <typename T, typename F>
void for_each_reduced(const Tensor& t, const ReducePlan& plan, F&& f) {
  if (const std::optional<BlockLayout> layout = block_layout(t, plan)) {
    const Tensor c = contiguous_data(t);
    const T* x = c.data<T>();
    const std::int64_t group = layout->group, inner = layout->inner;
    if (layout->outer * inner == 0 || group == 0) return;
    split_outputs(
        *layout,
        [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t o = begin; o < end; ++o)
            for (std::int64_t g = 0, i = o * group; g < group; ++g, ++i) f(o, x[i], i);
        },
        [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
          for (std::int64_t g = 0; g < group; ++g) {
            const std::int64_t row = (o * group + g) * inner;
            for (std::int64_t j = j0; j < j0 + width; ++j) f(o * inner + j, x[row + j], row + j);
          }
        },
        // f writes its outputs' state (a double each at most) for every
        // element: page-sized runs of it per task (prod over dim 0 of [4096,
        // 128], two threads writing alternate halves of one page of state:
        // 281 us, one thread 94).
        runtime::kElementwiseGrain, sizeof(double));
    return;
  }
  Shape out_strides = contiguous_strides(plan.kept_shape);
  for (std::int64_t d : plan.dims) out_strides[d] = 0;
  const T* p = static_cast<const T*>(t.storage().data);
  std::int64_t index = 0;
  for_each_row<2>(t.shape(), {&t.strides(), &out_strides}, {t.offset(), 0},
                  [&](const auto& off, std::int64_t n, const auto& in) {
                    for (std::int64_t i = 0; i < n; ++i, ++index) f(off[1] + i * in[1], p[off[0] + i * in[0]], index);
                  });
}

// Runs step(acc, x, index) over every input element into a kept_shape buffer
// of Acc initialised to `init`, in a fixed order (row-major over the input).
template <typename T, typename Acc, typename Step>
std::vector<Acc> reduce_into(const Tensor& t, const ReducePlan& plan, Acc init, Step step) {
  std::vector<Acc> acc(static_cast<std::size_t>(plan.outputs), init);
  for_each_reduced<T>(t, plan, [&](std::int64_t pos, T x, std::int64_t index) { step(acc[pos], x, index); });
  return acc;
}

// A contiguous tensor of `shape` filled from a kept_shape or input-shaped buffer.
template <typename T, typename Src>
Tensor tensor_from(const std::vector<Src>& values, const Shape& shape, const char* op) {
  Tensor out = empty(shape, dtype_of<T>::value, op);
  T* po = out.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) po[i] = static_cast<T>(values[i]);
  return out;
}

// The int32 result of an int32 sum or product, accumulated in 64 bits
// (unsigned, so wrapping past 2**63 stays defined and matches PyTorch's int64
// result). PyTorch's int64 holds values that int32 cannot: those throw rather
// than wrap.
inline Tensor int32_from_wide(const std::vector<std::uint64_t>& values, const Shape& shape, const char* op) {
  Tensor out = empty(shape, DType::Int32, op);
  std::int32_t* po = out.data<std::int32_t>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto v = static_cast<std::int64_t>(values[i]);
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
      throw_range_error(op, ": the result ", v, " does not fit in int32 (an int32 tensor's ", op,
                        " is int32); convert first, e.g. x.to('float64').", op, "()");
    po[i] = static_cast<std::int32_t>(v);
  }
  return out;
}

// An input-shaped contiguous tensor of T with element i = f(out_pos, x_i):
// the non-differentiable masks and weights that backward rules multiply by.
template <typename T, typename F>
Tensor map_reduced(const Tensor& t, const ReducePlan& plan, const char* op, F&& f) {
  Tensor out = empty(t.shape(), dtype_of<T>::value, op);
  T* po = out.data<T>();
  for_each_reduced<T>(t, plan, [&](std::int64_t pos, T x, std::int64_t index) { po[index] = static_cast<T>(f(pos, x)); });
  return out;
}

// The gradient of a reduction's output brought back to the input's shape
// (reduced dims restored as size 1, then broadcast). Differentiable.
Tensor expand_reduced(const Tensor& g, const ReducePlan& plan, const Shape& input_shape);

}  // namespace tapegrad::ops
