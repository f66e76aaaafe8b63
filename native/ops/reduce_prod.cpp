// prod, with a gradient that stays exact where the input holds zeros.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"

namespace tapegrad::ops {

namespace {

// d prod / d x_k = the product of the other elements of x_k's group.
//
// Without zeros that is prod / x_k. With zeros, dividing would give 0/0, so
// the groups are split by their zero count z, using the product P of the
// group's nonzero elements (computed by prod itself, so it is differentiable):
//   z = 0: others(k) = P / x_k
//   z = 1: others(k) = x_0 * P / x_k for nonzero x_k (x_0 the zero element,
//          kept as a factor so that gradients of gradients see it), P for x_0
//   z > 1: others(k) = 0
// Second derivatives are exact for z <= 1; for z > 1 they are taken as zero
// (as PyTorch does for a reduction over all elements).
Tensor product_of_others(const Tensor& x, const Tensor& result, const ReducePlan& plan) {
  return visit_floating(x.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    std::vector<std::int64_t> zeros(static_cast<std::size_t>(plan.outputs), 0);
    for_each_reduced<T>(x, plan, [&](std::int64_t pos, T v, std::int64_t) { zeros[pos] += v == 0 ? 1 : 0; });
    bool any = false;
    for (std::int64_t z : zeros) any = any || z > 0;
    if (!any) return div(expand(reshape(result, plan.kept_shape), x.shape()), x);

    const char* op = "prod";
    const Tensor is_zero = map_reduced<T>(x, plan, op, [](std::int64_t, T v) { return v == 0 ? 1 : 0; });
    const Tensor not_zero = map_reduced<T>(x, plan, op, [](std::int64_t, T v) { return v == 0 ? 0 : 1; });
    // Nonzero elements of groups with at most one zero, and the zero of groups with exactly one.
    const Tensor divides = map_reduced<T>(x, plan, op, [&](std::int64_t pos, T v) { return v != 0 && zeros[pos] <= 1; });
    const Tensor lone_zero = map_reduced<T>(x, plan, op, [&](std::int64_t pos, T v) { return v == 0 && zeros[pos] == 1; });
    std::vector<T> no_zero(zeros.size());
    for (std::size_t i = 0; i < zeros.size(); ++i) no_zero[i] = zeros[i] == 0 ? 1 : 0;

    // The zeros replaced by 1 in a way whose derivative ignores them.
    const Tensor safe = add(mul(x, not_zero), is_zero);
    const Tensor nonzero_product = prod(safe, plan.dims, true);
    // x_0 for groups with one zero, 1 for groups without (0 + 1).
    const Tensor zero_factor = add(sum(mul(x, is_zero), plan.dims, true), tensor_from<T>(no_zero, plan.kept_shape, op));
    const Tensor others_nonzero = mul(divides, div(mul(zero_factor, nonzero_product), safe));
    return add(others_nonzero, mul(lone_zero, nonzero_product));
  });
}

// The product of a row of n contiguous floats in double through the kernel
// table's lanes (pieces of 2^16 on the pool when `parallel`, their products
// multiplied in order).
template <typename T>
double row_product(std::int64_t n, const T* x, bool parallel) {
  const auto kernel = kernel_for<T>(kernels::active().prod_wide_f32, kernels::active().prod_f64);
  constexpr std::int64_t kPiece = std::int64_t{1} << 16;
  if (!parallel || n <= kPiece) return kernel(n, x);
  double p = 1.0;
  const auto piece = [&](std::int64_t lo, std::int64_t len) { return kernel(len, x + lo); };
  for (const double v : piece_values<double>(n, kPiece, true, 1, piece)) p *= v;
  return p;
}

// The product of n repeats of a group's product p: floats by pow, with the
// sign from n's parity (a double would round an n above 2^53 to an even
// one); int32's 64-bit accumulator by squaring, wrapping as n multiplications do.
double repeated(double p, std::int64_t n) {
  if (n == 1) return p;
  const double magnitude = std::pow(std::fabs(p), static_cast<double>(n));
  return std::signbit(p) && n % 2 == 1 ? -magnitude : magnitude;
}
std::uint64_t repeated(std::uint64_t p, std::int64_t n) {
  std::uint64_t result = 1;
  for (auto e = static_cast<std::uint64_t>(n); e != 0; e >>= 1, p *= p)
    if (e & 1) result *= p;
  return result;
}

}  // namespace

Tensor prod(const Tensor& t, const std::vector<std::int64_t>& dims, bool keepdim) {
  const ReducePlan plan = plan_reduce(t, dims, keepdim, "prod");
  const Unrepeated u = without_repeats(t, plan);
  Tensor out = visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      auto acc = reduce_into<T, std::uint64_t>(u.view, u.plan, 1u, [](std::uint64_t& a, T x, std::int64_t) {
        a *= static_cast<std::uint64_t>(static_cast<std::int64_t>(x));
      });
      for (std::uint64_t& a : acc) a = repeated(a, u.repeats);
      return int32_from_wide(acc, plan.out_shape, "prod");
    } else {
      // Rows (trailing reduced dims, or all of them) in lanes; columns
      // (leading or middle dims) by the column kernel, each column in order
      // as the generic walk; other layouts by that walk.
      const std::optional<BlockLayout> layout = block_layout(u.view, u.plan);
      if (layout && layout->inner == 1) {
        const Tensor x = contiguous_data(u.view);
        Tensor result = empty(plan.out_shape, t.dtype(), "prod");
        T* out = result.data<T>();
        each_row(x.data<T>(), *layout, [&](std::int64_t r, const T* row, bool parallel) {
          out[r] = static_cast<T>(repeated(row_product(layout->group, row, parallel), u.repeats));
        });
        return result;
      }
      if (layout && layout->outer * layout->inner > 0 && layout->group > 0) {
        // Each strip's products in a buffer of its own, written to out once
        // (the 8-byte products, if updated in place a row at a time by two
        // threads, would share pages: slower than one thread on Zen 5).
        const Tensor x = contiguous_data(u.view);
        const T* px = x.data<T>();
        const std::int64_t group = layout->group, inner = layout->inner;
        const auto multiply = kernel_for<T>(kernels::active().multiply_rows_f32, kernels::active().multiply_rows_f64);
        std::vector<double> acc(static_cast<std::size_t>(layout->outer * inner));
        split_outputs(
            *layout, [](std::int64_t, std::int64_t) {},  // inner > 1: strips only
            [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
              double strip[kOutputStrip];
              std::fill(strip, strip + width, 1.0);
              multiply(group, width, px + o * group * inner + j0, inner, strip);
              std::copy(strip, strip + width, acc.begin() + o * inner + j0);
            });
        for (double& a : acc) a = repeated(a, u.repeats);
        return tensor_from<T>(acc, plan.out_shape, "prod");
      }
      auto acc = reduce_into<T, double>(u.view, u.plan, 1.0, [](double& a, T x, std::int64_t) { a *= x; });
      for (double& a : acc) a = repeated(a, u.repeats);
      return tensor_from<T>(acc, plan.out_shape, "prod");
    }
  });
  record("prod", {t}, out, [plan, x = SavedTensor(t), o = SavedTensor::output(out)](const Grads& g, const Node& node) {
    const Tensor in = x.unpack();
    return Grads{mul(expand_reduced(g[0], plan, in.shape()), product_of_others(in, o.unpack(&node), plan))};
  });
  return out;
}

}  // namespace tapegrad::ops
