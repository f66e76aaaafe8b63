// Second moments: var and std with PyTorch's `correction`.
#include <cmath>

#include "core/autograd.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/reduce_fast.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

struct Moments {
  ReducePlan plan;
  double divisor;  // max(0, N - correction), as in PyTorch
};

Moments plan_moments(const Tensor& t, const std::vector<std::int64_t>& dims, double correction, bool keepdim,
                     const char* op) {
  if (!is_floating(t.dtype()))
    throw_type_error(op, ": input must be a float32 or float64 tensor, got ", dtype_name(t.dtype()));
  if (!std::isfinite(correction)) throw_range_error(op, ": correction must be a finite number, got ", correction);
  Moments m{plan_reduce(t, dims, keepdim, op), 0.0};
  m.divisor = std::max(0.0, static_cast<double>(m.plan.group) - correction);
  return m;
}

// Sum of squared deviations from the mean per group, in double: two passes
// (mean, then deviations) with the compensation term of the corrected
// two-pass algorithm, which stays accurate when the mean is large.
// Rows (trailing reduced dims) take the blocked kernels of reduce_fast.h.
template <typename T>
std::vector<double> unrepeated_squared_deviations(const Tensor& t0, const ReducePlan& plan) {
  if (std::optional<std::vector<double>> fast = fast_squared_deviations(t0, plan)) return std::move(*fast);
  // A strided input with a block layout is copied once here, not by each pass.
  const Tensor t = block_layout(t0, plan) ? contiguous_data(t0) : t0;
  auto mean = reduce_into<T, double>(t, plan, 0.0, [](double& a, T x, std::int64_t) { a += x; });
  for (double& m : mean) m /= static_cast<double>(plan.group);
  std::vector<double> sq(mean.size(), 0.0), dev(mean.size(), 0.0);
  for_each_reduced<T>(t, plan, [&](std::int64_t pos, T x, std::int64_t) {
    const double d = static_cast<double>(x) - mean[pos];
    sq[pos] += d * d;
    dev[pos] += d;
  });
  for (std::size_t i = 0; i < sq.size(); ++i) sq[i] -= dev[i] * dev[i] / static_cast<double>(plan.group);
  return sq;
}

// The same for any input: repeated values (a broadcast view) leave the mean as
// it is and repeat their deviations.
template <typename T>
std::vector<double> squared_deviations(const Tensor& t, const ReducePlan& plan) {
  const Unrepeated u = without_repeats(t, plan);
  std::vector<double> sq = unrepeated_squared_deviations<T>(u.view, u.plan);
  for (double& v : sq) v *= static_cast<double>(u.repeats);
  return sq;
}

// x - mean(x) over the reduced dims, differentiable.
Tensor centered(const Tensor& x, const ReducePlan& plan) { return sub(x, mean(x, plan.dims, true)); }

}  // namespace

Tensor variance(const Tensor& t, const std::vector<std::int64_t>& dims, double correction, bool keepdim) {
  const Moments m = plan_moments(t, dims, correction, keepdim, "var");
  Tensor out = visit_floating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto sq = squared_deviations<T>(t, m.plan);
    for (double& v : sq) v /= m.divisor;
    return tensor_from<T>(sq, m.plan.out_shape, "var");
  });
  // d var / d x = 2 (x - mean) / divisor.
  record("var", {t}, out, [m, x = SavedTensor(t)](const Grads& g, const Node&) {
    const Tensor in = x.unpack();
    const Tensor scale = scalar(2.0 / m.divisor, in.dtype());
    return Grads{mul(expand_reduced(g[0], m.plan, in.shape()), mul(centered(in, m.plan), scale))};
  });
  return out;
}

Tensor std_dev(const Tensor& t, const std::vector<std::int64_t>& dims, double correction, bool keepdim) {
  const Moments m = plan_moments(t, dims, correction, keepdim, "std");
  Tensor out = visit_floating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto sq = squared_deviations<T>(t, m.plan);
    for (double& v : sq) v = std::sqrt(v / m.divisor);
    return tensor_from<T>(sq, m.plan.out_shape, "std");
  });
  // d std / d x = (x - mean) / (divisor * std). Where std is 0 the gradient
  // is 0, as in PyTorch: std is replaced by 1 there and the factor masked,
  // so no 0/0 reaches the graph (which would poison gradients of gradients).
  record("std", {t}, out, [m, x = SavedTensor(t), o = SavedTensor::output(out)](const Grads& g, const Node& node) {
    const Tensor in = x.unpack();
    const Tensor res = reshape(o.unpack(&node), m.plan.kept_shape);
    const Tensor data = contiguous_data(res);
    Tensor zero = empty(m.plan.kept_shape, in.dtype(), "std"), nonzero = empty(m.plan.kept_shape, in.dtype(), "std");
    visit_floating(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      for (std::int64_t i = 0; i < m.plan.outputs; ++i) {
        const bool z = data.data<T>()[i] == 0;
        zero.data<T>()[i] = z ? 1 : 0;
        nonzero.data<T>()[i] = z ? 0 : 1;
      }
    });
    const Tensor safe = mul(add(res, zero), scalar(m.divisor, in.dtype()));
    const Tensor factor = div(mul(reshape(g[0], m.plan.kept_shape), nonzero), safe);
    return Grads{mul(centered(in, m.plan), factor)};
  });
  return out;
}

}  // namespace tapegrad::ops
