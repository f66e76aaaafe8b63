// Vector p-norms over the reduced dims (PyTorch's linalg.vector_norm).
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/reduce_fast.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

template <typename T>
T sign_of(T v) {
  return static_cast<T>((v > 0) - (v < 0));
}

// Forward in double: (sum |x|^p)^(1/p), with the special cases computed
// directly (p = 2 without pow, p = +-inf as max / min of |x|, p = 0 counting
// nonzeros). Each element counts `repeats` times.
template <typename T>
std::vector<double> norms(const Tensor& t, const ReducePlan& plan, double p, std::int64_t repeats) {
  if (std::isinf(p)) {
    const bool largest = p > 0;
    auto acc = reduce_into<T, double>(t, plan, largest ? 0.0 : std::numeric_limits<double>::infinity(),
                                      [largest](double& a, T x, std::int64_t) {
                                        const double v = std::fabs(static_cast<double>(x));
                                        if (std::isnan(v) ? !std::isnan(a) : (largest ? v > a : v < a)) a = v;
                                      });
    return acc;
  }
  auto acc = reduce_into<T, double>(t, plan, 0.0, [p](double& a, T x, std::int64_t) {
    const double v = std::fabs(static_cast<double>(x));
    if (p == 2) a += v * v;
    else if (p == 1) a += v;
    else if (p == 0) a += v != 0 ? 1 : 0;
    else a += std::pow(v, p);
  });
  for (double& a : acc) a *= static_cast<double>(repeats);
  if (p == 2)
    for (double& a : acc) a = std::sqrt(a);
  else if (p != 1 && p != 0)
    for (double& a : acc) a = std::pow(a, 1.0 / p);
  return acc;
}

// A kept-shape 0/1 mask of the groups whose norm is (or is not) zero.
Tensor zero_norm_mask(const Tensor& result, const ReducePlan& plan, bool zero) {
  const Tensor r = contiguous_data(result);
  return visit_floating(r.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> mask(static_cast<std::size_t>(plan.outputs));
    for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = (r.data<T>()[i] == 0) == zero ? 1 : 0;
    return tensor_from<T>(mask, plan.kept_shape, "norm");
  });
}

// d norm / d x for any other p: sign(x) |x|^(p-1) / norm^(p-1) (PyTorch's
// formula). |x| is written as x * sign(x) with a constant sign, and zeros of x
// and of the norm are replaced by 1 under pow and masked afterwards, so
// neither 0^(negative) nor 0 * inf reaches the graph.
Tensor norm_backward_general(const Tensor& g, const Tensor& x, const Tensor& safe_norm, const Tensor& nonzero_norm,
                             const ReducePlan& plan, double p) {
  return visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Tensor sgn = map_reduced<T>(x, plan, "norm", [](std::int64_t, T v) { return sign_of(v); });
    const Tensor is_zero = map_reduced<T>(x, plan, "norm", [](std::int64_t, T v) { return v == 0 ? 1 : 0; });
    const Tensor exponent = scalar(p - 1, x.dtype());
    const Tensor scaled = mul(sgn, pow(add(mul(x, sgn), is_zero), exponent));
    return mul(scaled, div(mul(g, nonzero_norm), pow(safe_norm, exponent)));
  });
}

// d norm / d x, for each case of p (g is the output gradient in kept shape).
Tensor norm_backward(const Tensor& g, const Tensor& x, const Tensor& result, const ReducePlan& plan, double p) {
  const char* op = "norm";
  return visit_floating(x.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    if (p == 0) return mul(expand(g, x.shape()), scalar(0, x.dtype()));
    if (p == 1) {
      // sign(x), 0 at 0 (PyTorch's sgn).
      return mul(g, map_reduced<T>(x, plan, op, [](std::int64_t, T v) { return sign_of(v); }));
    }
    if (std::isinf(p)) {
      // The gradient of max / min |x|: sign(x), split evenly among the elements that reach it.
      const Tensor r = contiguous_data(result);
      const T* rv = r.data<T>();
      auto hits = [&](std::int64_t pos, T v) {
        const T a = std::fabs(v);
        return std::isnan(rv[pos]) ? std::isnan(a) : a == rv[pos];
      };
      std::vector<double> count(static_cast<std::size_t>(plan.outputs), 0.0);
      for_each_reduced<T>(x, plan, [&](std::int64_t pos, T v, std::int64_t) { count[pos] += hits(pos, v) ? 1 : 0; });
      return mul(g, map_reduced<T>(x, plan, op, [&](std::int64_t pos, T v) {
        return hits(pos, v) ? (std::isnan(v) ? 1 : sign_of(v)) / count[pos] : 0.0;
      }));
    }
    // Groups with a zero norm get a zero gradient, as in PyTorch; their norm
    // is replaced by 1 first so that no 0/0 enters the graph.
    const Tensor zero = zero_norm_mask(result, plan, true), nonzero = zero_norm_mask(result, plan, false);
    const Tensor safe = add(result, zero);
    if (p == 2) return mul(x, div(mul(g, nonzero), safe));  // x / norm
    return norm_backward_general(g, x, safe, nonzero, plan, p);
  });
}

}  // namespace

Tensor norm(const Tensor& t, double p, const std::vector<std::int64_t>& dims, bool keepdim) {
  const char* op = "norm";
  if (!is_floating(t.dtype()))
    throw_type_error(op, ": input must be a float32 or float64 tensor, got ", dtype_name(t.dtype()));
  if (std::isnan(p)) throw_range_error(op, ": p must be a number or 'fro', got NaN");
  const ReducePlan plan = plan_reduce(t, dims, keepdim, op);
  // max / min of nothing is undefined; PyTorch refuses the infinity norms of empty tensors too.
  if (std::isinf(p)) require_nonempty_groups(t, plan, p > 0 ? "norm (p = Infinity)" : "norm (p = -Infinity)");
  // p = 2 and p = 1 over trailing dims (a whole tensor, rows): blocked sums
  // of squares or magnitudes on the pool, as sum's ([4096,1024] float32
  // whole, one thread, p = 2: 3.5 ms in order, 0.65 so; PyTorch 0.62); other
  // cases in order, in double. A broadcast view's repeated values are read
  // once (the infinity norms take them once, the others count them).
  const Unrepeated u = without_repeats(t, plan);
  std::optional<Tensor> fast = u.repeats == 1 ? fast_norm(t, plan, p, op) : std::nullopt;
  Tensor out = fast ? *std::move(fast) : visit_floating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return tensor_from<T>(norms<T>(u.view, u.plan, p, u.repeats), plan.out_shape, op);
  });
  record(op, {t}, out, [plan, p, x = SavedTensor(t), o = SavedTensor::output(out)](const Grads& g, const Node& node) {
    const Tensor in = x.unpack();
    const Tensor res = reshape(o.unpack(&node), plan.kept_shape);
    return Grads{norm_backward(reshape(g[0], plan.kept_shape), in, res, plan, p)};
  });
  return out;
}

}  // namespace tapegrad::ops
