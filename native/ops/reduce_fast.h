// The fast path of sum and mean: a contiguous float32/float64 input whose
// reduced dims are a trailing block (rows summed) or a leading block (column
// sums, e.g. a bias gradient), through the active ISA's kernels and the pool.
// Summation is blocked: fixed blocks summed in 16 lanes, block sums combined
// pairwise, in double; the order depends only on the shape, never on the
// thread count or ISA, so results are deterministic.
#pragma once

#include <optional>
#include <vector>

#include "ops/reduce_impl.h"

namespace tapegrad::ops {

// The group sums in double, one per output (kept_shape order); nullopt when
// the layout has no fast path.
std::optional<std::vector<double>> fast_sum(const Tensor& t, const ReducePlan& plan);

}  // namespace tapegrad::ops
