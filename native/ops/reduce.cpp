// The reduction plan shared by the family, and the linear reductions: sum, mean.
#include "ops/reduce.h"

#include <algorithm>
#include <type_traits>

#include "core/autograd.h"
#include "ops/elementwise.h"
#include "ops/elementwise_fast.h"
#include "ops/reduce_fast.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

ReducePlan plan_reduce(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim, const char* op) {
  ReducePlan plan;
  plan.dims = normalize_dims(dims, t.dim(), op);
  if (dims.empty())
    for (std::int64_t d = 0; d < t.dim(); ++d) plan.dims.push_back(d);
  plan.kept_shape = t.shape();
  for (std::int64_t d : plan.dims) {
    plan.group *= t.shape()[d];
    plan.kept_shape[d] = 1;
  }
  for (std::int64_t s : plan.kept_shape) plan.outputs *= s;
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    const bool reduced = std::find(plan.dims.begin(), plan.dims.end(), d) != plan.dims.end();
    if (keepdim || !reduced) plan.out_shape.push_back(plan.kept_shape[d]);
  }
  return plan;
}

void require_nonempty_groups(const Tensor& t, const ReducePlan& plan, const char* op) {
  for (std::int64_t d : plan.dims)
    if (t.shape()[d] == 0)
      throw_range_error(op, ": cannot reduce over dim ", d, " of size 0 (input shape ", shape_str(t.shape()), "); ",
                        op, " of an empty set is undefined");
}

namespace {

// A strided view is copied by the fast paths (one pass; the generic loop is
// several times slower), unless it broadcasts: the copy would be larger than
// its data.
bool broadcasts(const Tensor& t) {
  if (t.is_contiguous()) return false;
  for (std::int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] > 1 && t.strides()[d] == 0) return true;
  return false;
}

// The products of the runs of dims of size > 1 that alternate kept,
// reduced, kept, reduced, kept (a run may be empty: each starts at 1);
// the number of runs reached, or 0 past the fifth.
int reduced_runs(const Tensor& t, const ReducePlan& plan, std::int64_t (&sizes)[5]) {
  int run = 0;  // even: kept, odd: reduced
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    const std::int64_t size = t.shape()[d];
    if (size == 1) continue;
    const bool reduced = std::find(plan.dims.begin(), plan.dims.end(), d) != plan.dims.end();
    if (reduced != (run % 2 == 1)) ++run;
    if (run > 4) return 0;
    sizes[run] *= size;
  }
  return run + 1;
}

}  // namespace

std::optional<BlockLayout> block_layout(const Tensor& t, const ReducePlan& plan) {
  if (!elementwise_fast_paths() || plan.dims.empty()) return std::nullopt;
  // The dims of size > 1 must read kept* reduced* kept*.
  std::int64_t sizes[5] = {1, 1, 1, 1, 1};
  const int runs = reduced_runs(t, plan, sizes);
  if (runs == 0 || runs > 3 || broadcasts(t)) return std::nullopt;
  return BlockLayout{sizes[0], plan.group, sizes[2]};
}

std::optional<TwoBlockLayout> two_block_layouts(const Tensor& t, const ReducePlan& plan) {
  if (!elementwise_fast_paths() || plan.dims.empty()) return std::nullopt;
  // kept* reduced+ kept+ reduced+ kept*. The inner block's sums are kept in
  // double, numel / r2 of them: below 8 they would take more memory than a
  // float32 input's quarter.
  std::int64_t sizes[5] = {1, 1, 1, 1, 1};
  const int runs = reduced_runs(t, plan, sizes);
  if (runs < 4 || sizes[3] < 8 || broadcasts(t)) return std::nullopt;
  const auto [a, r1, b, r2, c] = sizes;
  return TwoBlockLayout{{a * r1 * b, r2, c}, {a, r1, b * c}};
}

Tensor expand_reduced(const Tensor& g, const ReducePlan& plan, const Shape& input_shape) {
  return expand(reshape(g, plan.kept_shape), input_shape);
}

Unrepeated without_repeats(const Tensor& t, const ReducePlan& plan) {
  Unrepeated u{t, plan};
  if (t.numel() == 0) return u;
  Shape shape = t.shape();
  for (std::int64_t d : plan.dims)
    if (shape[d] > 1 && t.strides()[d] == 0) {
      u.repeats *= shape[d];
      shape[d] = 1;
    }
  if (u.repeats > 1) {
    u.view = make_view(t, shape, t.strides(), t.offset());
    u.plan.group /= u.repeats;
  }
  return u;
}

Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  const ReducePlan plan = plan_reduce(t, dims, keepdim, "sum");
  const Unrepeated u = without_repeats(t, plan);
  Tensor out = visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      auto acc = reduce_into<T, std::uint64_t>(u.view, u.plan, 0u, [](std::uint64_t& a, T x, std::int64_t) {
        a += static_cast<std::uint64_t>(static_cast<std::int64_t>(x));
      });
      for (std::uint64_t& a : acc) a *= static_cast<std::uint64_t>(u.repeats);
      return int32_from_wide(acc, plan.out_shape, "sum");
    } else {
      // Accumulate in double so float32 sums keep their accuracy.
      if (auto fast = fast_sum(u.view, u.plan, static_cast<double>(u.repeats), 1.0, "sum")) return *std::move(fast);
      auto acc = reduce_into<T, double>(u.view, u.plan, 0.0, [](double& a, T x, std::int64_t) { a += x; });
      for (double& a : acc) a *= static_cast<double>(u.repeats);
      return tensor_from<T>(acc, plan.out_shape, "sum");
    }
  });
  record("sum", {t}, out, [plan, in = t.shape()](const Grads& g, const Node&) {
    return Grads{expand_reduced(g[0], plan, in)};
  });
  return out;
}

Tensor mean(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  // PyTorch refuses to guess a floating dtype for an integer mean.
  if (!is_floating(t.dtype()))
    throw_type_error("mean: input must be a float32 or float64 tensor, got ", dtype_name(t.dtype()),
                     "; convert it first, e.g. x.to('float32').mean()");
  const ReducePlan plan = plan_reduce(t, dims, keepdim, "mean");
  // Repeated values leave the mean as it is: it is the mean of the rest.
  const Unrepeated u = without_repeats(t, plan);
  Tensor out = visit_floating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto group = static_cast<double>(u.plan.group);
    if (auto fast = fast_sum(u.view, u.plan, 1.0, group, "mean")) return *std::move(fast);
    auto acc = reduce_into<T, double>(u.view, u.plan, 0.0, [](double& a, T x, std::int64_t) { a += x; });
    // 0 / 0 gives NaN for the mean of nothing, as in PyTorch.
    for (double& a : acc) a /= group;
    return tensor_from<T>(acc, plan.out_shape, "mean");
  });
  record("mean", {t}, out, [plan, in = t.shape()](const Grads& g, const Node&) {
    return Grads{mul(expand_reduced(g[0], plan, in), scalar(1.0 / static_cast<double>(plan.group), g[0].dtype()))};
  });
  return out;
}

}  // namespace tapegrad::ops
