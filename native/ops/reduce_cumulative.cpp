// Scans along one dim: cumsum and cumprod.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/reduce.h"
#include "ops/reduce_impl.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

// A contiguous tensor seen as [outer, n, inner] around dim d (the scanned dim
// in the middle): the block layout of a reduction over d.
BlockLayout around(const Shape& shape, std::int64_t d) {
  BlockLayout l{1, 1, 1};
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(shape.size()); ++k)
    (k < d ? l.outer : k == d ? l.group : l.inner) *= shape[k];
  return l;
}

// The running value a, as T; an int32 one must fit (`what`: "sum", "product").
template <typename T, typename Acc>
T narrowed(Acc a, const char* op, const char* what) {
  if constexpr (std::is_same_v<T, std::int32_t>) {
    const auto v = static_cast<std::int64_t>(a);
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
      throw_range_error(op, ": the running ", what, " ", v, " does not fit in int32 (an int32 tensor's ", op,
                        " is int32); convert first, e.g. x.to('float64').", op, "(dim)");
    return static_cast<T>(v);
  } else {
    return static_cast<T>(a);
  }
}

// out[o, i, j] = step-fold of x[o, 0..i, j] (`reverse`: of x[o, i..n-1, j]),
// for contiguous x and out seen as l. Each line runs in order from `init`,
// so results do not depend on the thread count; lines split across the
// pool, in strips of up to kOutputStrip lines when inner > 1 (so that one
// pass reads each row of the strip once), a task's columns in page-sized
// runs (split_outputs).
template <typename T, typename Acc, typename Step>
void scan(const T* x, T* out, const BlockLayout& l, bool reverse, Acc init, Step step, const char* op,
          const char* what) {
  const std::int64_t n = l.group, inner = l.inner;
  split_outputs(
      l,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          const T* row = x + r * n;
          T* o = out + r * n;
          Acc a = init;
          for (std::int64_t i = 0; i < n; ++i) {
            const std::int64_t at = reverse ? n - 1 - i : i;
            step(a, row[at]);
            o[at] = narrowed<T>(a, op, what);
          }
        }
      },
      [&](std::int64_t o, std::int64_t j0, std::int64_t width) {
        Acc a[kOutputStrip];
        std::fill(a, a + width, init);
        for (std::int64_t i = 0; i < n; ++i) {
          const std::int64_t at = (o * n + (reverse ? n - 1 - i : i)) * inner + j0;
          for (std::int64_t j = 0; j < width; ++j) {
            step(a[j], x[at + j]);
            out[at + j] = narrowed<T>(a[j], op, what);
          }
        }
      },
      runtime::kElementwiseGrain, sizeof(T));
}

// The scan of t along d by `Product` (else sum); the result has no graph.
template <bool Product>
Tensor scan_of(const Tensor& t, std::int64_t d, bool reverse, const char* op) {
  const Tensor x = contiguous_data(t);
  Tensor out = empty(t.shape(), t.dtype(), op);
  if (t.numel() == 0) return out;
  const BlockLayout l = around(t.shape(), d);
  const char* what = Product ? "product" : "sum";
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // int32 in 64 bits, unsigned so that wrapping stays defined (as sum and prod).
    using Acc = std::conditional_t<std::is_same_v<T, std::int32_t>, std::uint64_t, double>;
    const auto widen = [](T v) {
      if constexpr (std::is_same_v<Acc, std::uint64_t>) return static_cast<Acc>(static_cast<std::int64_t>(v));
      else return static_cast<Acc>(v);
    };
    if constexpr (Product)
      scan<T, Acc>(x.data<T>(), out.data<T>(), l, reverse, Acc(1), [&](Acc& a, T v) { a *= widen(v); }, op, what);
    else
      scan<T, Acc>(x.data<T>(), out.data<T>(), l, reverse, Acc(0), [&](Acc& a, T v) { a += widen(v); }, op, what);
  });
  return out;
}

// cumsum, or its reverse (the gradient of each other). Differentiable.
Tensor running_sum(const Tensor& t, std::int64_t d, bool reverse) {
  const char* op = reverse ? "cumsumBackward" : "cumsum";
  Tensor out = scan_of<false>(t, d, reverse, "cumsum");
  record(op, {t}, out, [d, reverse](const Grads& g, const Node&) { return Grads{running_sum(g[0], d, !reverse)}; });
  return out;
}

// The gradient of cumprod, which must hold where x has zeros:
//   grad_i = sum over k >= i of g_k * (product of x_j for j <= k, j != i).
// For one line of n elements (stride s) with its first zero at z1 and its
// second at z2 (n where there is none): before z1 that is
// (sum over i <= k < z1 of g_k * y_k) / x_i, with y the running product;
// at z1, y_{z1 - 1} times R_{z1}, where R_i = g_i + x_{i+1} * R_{i+1} over
// [z1, z2) (terms past z2 hold that zero: they are dropped, so an Infinity
// there cannot make 0 * Infinity); after z1, 0 (every term holds x_{z1}).
// PyTorch's formula, with the sums in double, in order.
template <typename T>
void cumprod_grad_line(const T* x, const T* g, T* out, std::int64_t n, std::int64_t s, std::vector<double>& y) {
  std::int64_t z1 = n, z2 = n;
  double p = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i * s] == T(0)) {
      if (z1 < n) {
        z2 = i;
        break;
      }
      z1 = i;
    }
    if (z1 == n) y[i] = p *= x[i * s];
  }
  double tail = 0;
  for (std::int64_t i = z1; i-- > 0;) {
    tail += static_cast<double>(g[i * s]) * y[i];
    out[i * s] = static_cast<T>(tail / x[i * s]);
  }
  if (z1 == n) return;
  double r = 0;
  for (std::int64_t i = z2; i-- > z1;) r = static_cast<double>(g[i * s]) + (i + 1 < z2 ? x[(i + 1) * s] * r : 0.0);
  out[z1 * s] = static_cast<T>((z1 == 0 ? 1.0 : y[z1 - 1]) * r);
  for (std::int64_t i = z1 + 1; i < n; ++i) out[i * s] = T(0);
}

// The same gradient from differentiable ops, for gradients of gradients
// (createGraph) through an input that holds zeros: for each position i,
// x with x_i set to 1, its running product times g, summed over k >= i.
// n passes over the input, exact to every order (PyTorch also takes a slower
// path there).
Tensor cumprod_grad_graph(const Tensor& g, const Tensor& x, std::int64_t d) {
  const std::int64_t n = x.shape()[d];
  Shape one = x.shape();
  one[d] = 1;
  const Tensor ones = full(one, 1.0, x.dtype(), "cumprod");
  std::vector<Tensor> parts;
  for (std::int64_t i = 0; i < n; ++i) {
    const Tensor without_i = cat({narrow(x, d, 0, i), ones, narrow(x, d, i + 1, n - i - 1)}, d);
    const Tensor from_i = narrow(cumprod(without_i, d), d, i, n - i);
    parts.push_back(sum(mul(narrow(g, d, i, n - i), from_i), {d}, true));
  }
  return cat(parts, d);
}

}  // namespace

Tensor cumsum(const Tensor& t, std::int64_t dim) {
  return running_sum(t, normalize_dim(dim, t.dim(), "cumsum"), false);
}

Tensor cumprod(const Tensor& t, std::int64_t dim) {
  const char* op = "cumprod";
  const std::int64_t d = normalize_dim(dim, t.dim(), op);
  Tensor out = scan_of<true>(t, d, false, op);
  record(op, {t}, out, [d, op, x = SavedTensor(t), o = SavedTensor::output(out)](const Grads& grads, const Node& node) {
    const Tensor in = x.unpack(), g = grads[0];
    if (in.dim() == 0 || in.numel() == 0) return Grads{g};
    const Tensor xc = contiguous_data(in);
    const bool zeros = visit_floating(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = xc.data<T>();
      return std::find(p, p + xc.numel(), T(0)) != p + xc.numel();
    });
    // No zeros: the running sum from the end of g * y, divided by x (differentiable).
    if (!zeros) return Grads{div(running_sum(mul(g, o.unpack(&node)), d, true), in)};
    if (grad_enabled()) return Grads{cumprod_grad_graph(g, in, d)};
    const Tensor gc = contiguous_data(g);
    Tensor result = empty(in.shape(), in.dtype(), op);
    const BlockLayout l = around(in.shape(), d);
    visit_floating(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T *px = xc.data<T>(), *pg = gc.data<T>();
      T* pr = result.data<T>();
      runtime::parallel_for(0, l.outer * l.inner, std::max<std::int64_t>(1, runtime::kElementwiseGrain / l.group),
                            [&](std::int64_t begin, std::int64_t end) {
                              std::vector<double> y(static_cast<std::size_t>(l.group));
                              for (std::int64_t line = begin; line < end; ++line) {
                                const std::int64_t at = (line / l.inner) * l.group * l.inner + line % l.inner;
                                cumprod_grad_line(px + at, pg + at, pr + at, l.group, l.inner, y);
                              }
                            });
    });
    return Grads{result};
  });
  return out;
}

}  // namespace tapegrad::ops
