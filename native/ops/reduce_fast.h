// The fast path of sum and mean: a float32/float64 input whose reduced dims
// are one block of consecutive dims (ignoring dims of size 1), trailing (rows
// summed), leading (column sums, e.g. a bias gradient) or in the middle
// (column sums per slice), through the active ISA's kernels and the pool.
// A strided input is copied first, unless it broadcasts.
// Summation is blocked: fixed blocks summed in 16 lanes, block sums combined
// pairwise, in double; the order depends only on the shape, never on the
// thread count or ISA, so results are deterministic.
#pragma once

#include <optional>
#include <vector>

#include "ops/reduce_impl.h"

namespace tapegrad::ops {

// The group sums (in double) times `repeats` (how many times each element
// counts), divided by `divisor` (1 for sum, the group size for mean) and
// rounded once, as a new tensor of plan.out_shape; nullopt when the layout
// has no fast path.
std::optional<Tensor> fast_sum(const Tensor& t, const ReducePlan& plan, double repeats, double divisor,
                               const char* op);

// Per group, Σ (x - mean)² - (Σ (x - mean))²/n in double (the corrected
// two-pass sum of squared deviations of var and std), when the reduced
// dims are one block and not empty: trailing ones (rows) with the mean and
// both sums blocked as above, others (columns) in fast_sum's row blocks of
// 256, the blocks' totals added in order; nullopt for other layouts.
std::optional<std::vector<double>> fast_squared_deviations(const Tensor& t, const ReducePlan& plan);

// Σ (a - b)² over all elements of two contiguous floating tensors of one
// shape and dtype, each difference and square rounded in their dtype (the
// values of square(sub(a, b))), summed as sum() sums a whole tensor: the
// same result as sum(square(sub(a, b))) without its two intermediate
// tensors; nullopt for other inputs or with the fast paths off.
std::optional<double> fast_sum_squared_differences(const Tensor& a, const Tensor& b);
// Σ of huberLoss's elementwise terms over same-shape contiguous a and b, the
// bits of summing huberLoss's unreduced output; nullopt otherwise.
std::optional<double> fast_sum_huber(const Tensor& a, const Tensor& b, double delta);

// The p-norms of the groups for p = 2 (√(Σ x²)) and p = 1 (Σ |x|), the
// terms in double summed in the same blocked order, rounded once, when the
// reduced dims are trailing (or all of them); nullopt for other layouts and p.
std::optional<Tensor> fast_norm(const Tensor& t, const ReducePlan& plan, double p, const char* op);

}  // namespace tapegrad::ops
