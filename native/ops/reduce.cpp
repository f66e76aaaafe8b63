#include "ops/reduce.h"
#include <algorithm>

#include "core/autograd.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"

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
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    const bool reduced = std::find(plan.dims.begin(), plan.dims.end(), d) != plan.dims.end();
    if (keepdim || !reduced) plan.out_shape.push_back(plan.kept_shape[d]);
  }
  return plan;
}

Tensor sum(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  const ReducePlan plan = plan_reduce(t, dims, keepdim, "sum");
  Tensor out = empty(plan.out_shape, t.dtype(), "sum");
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Accumulate in double (int64 for int32) so float32 sums keep their accuracy.
    using Acc = std::conditional_t<std::is_same_v<T, std::int32_t>, std::int64_t, double>;
    auto acc = reduce_into<T, Acc>(t, plan, Acc(0), [](Acc& a, T x, std::int64_t) { a += x; });
    T* po = out.data<T>();
    for (std::size_t i = 0; i < acc.size(); ++i) po[i] = static_cast<T>(acc[i]);
  });
  record("sum", {t}, out, [in = t.shape(), kept = plan.kept_shape](const Grads& g, const Node&) {
    return Grads{expand(reshape(g[0], kept), in)};
  });
  return out;
}

}  // namespace tapegrad::ops
