// The loop behind reductions. Only op families include this file.
#pragma once

#include <vector>

#include "core/strided.h"
#include "ops/common.h"

namespace tapegrad::ops {

struct ReducePlan {
  std::vector<std::int64_t> dims;  // normalised, sorted
  Shape kept_shape;                // reduced dims as size 1
  Shape out_shape;                 // as returned (keepdim or not)
  std::int64_t group = 1;          // elements reduced into each output
};

ReducePlan plan_reduce(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim, const char* op);

// Runs acc = step(acc, x) over every input element into a kept_shape buffer of
// Acc initialised to `init`, in a fixed order (row-major over the input).
template <typename T, typename Acc, typename Step>
std::vector<Acc> reduce_into(const Tensor& t, const ReducePlan& plan, Acc init, Step step) {
  std::int64_t outputs = 1;
  for (std::int64_t s : plan.kept_shape) outputs *= s;
  std::vector<Acc> acc(static_cast<std::size_t>(outputs), init);
  Shape out_strides = contiguous_strides(plan.kept_shape);
  for (std::int64_t d : plan.dims) out_strides[d] = 0;
  const T* p = static_cast<const T*>(t.storage().data);
  std::int64_t index = 0;  // row-major position, for steps that need it (argmax)
  for_each_row<2>(t.shape(), {&t.strides(), &out_strides}, {t.offset(), 0},
                  [&](const auto& off, std::int64_t n, const auto& in) {
                    for (std::int64_t i = 0; i < n; ++i, ++index)
                      step(acc[off[1] + i * in[1]], p[off[0] + i * in[0]], index);
                  });
  return acc;
}

}  // namespace tapegrad::ops
