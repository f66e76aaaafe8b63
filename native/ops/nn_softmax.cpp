// softmax and logSoftmax: fused, max-shifted loops forward; their gradients
// fused too along the last dim, as ops whose own backward is made of
// differentiable ops, so they differentiate again.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/elementwise_fast.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/unary.h"
#include "ops/unary_math.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

// Softmax along the middle dim of a block of `size` × `inner` contiguous
// elements, in passes: the maximum, y = x - max, exponentiate, normalise.
// Max and sum are kept per inner position so the inner loops run over
// contiguous memory, and taken in order. Along the last dim (inner == 1)
// the kernel table's softmax_rows runs instead, when fast paths are on.

// mx[i] = the maximum at inner position i, as a running maximum. A NaN
// value may or may not end up in mx[i], but its own exp is NaN, so the sum,
// and with it the whole row, is NaN either way.
template <typename T>
void column_max(const T* x, i64 size, i64 inner, T* mx) {
  std::fill(mx, mx + inner, -std::numeric_limits<T>::infinity());
  for (i64 d = 0; d < size; ++d)
    for (i64 i = 0; i < inner; ++i) {
      const T v = x[d * inner + i];
      if (!(v <= mx[i])) mx[i] = v;
    }
}

// y = x - mx, the values to exponentiate.
template <typename T>
void subtract_max(const T* x, T* y, i64 size, i64 inner, const T* mx) {
  for (i64 d = 0; d < size; ++d)
    for (i64 i = 0; i < inner; ++i) y[d * inner + i] = x[d * inner + i] - mx[i];
}

// From y = exp(x - mx): y / Σy, or for log-softmax (x - mx) - log Σy, with
// the sums (total, `inner` doubles of scratch) taken in double along the
// middle dim, in order.
template <typename T, bool Log>
void normalise(const T* x, T* y, i64 size, i64 inner, const T* mx, double* total) {
  std::fill(total, total + inner, 0.0);
  for (i64 d = 0; d < size; ++d)
    for (i64 i = 0; i < inner; ++i) total[i] += y[d * inner + i];
  if constexpr (Log) {
    for (i64 i = 0; i < inner; ++i) total[i] = std::log(total[i]);
    for (i64 d = 0; d < size; ++d)
      for (i64 i = 0; i < inner; ++i)
        y[d * inner + i] = static_cast<T>(static_cast<double>(x[d * inner + i] - mx[i]) - total[i]);
  } else {
    for (i64 d = 0; d < size; ++d)
      for (i64 i = 0; i < inner; ++i) y[d * inner + i] = static_cast<T>(y[d * inner + i] / total[i]);
  }
}

// The generic path: each of `outer` blocks in turn, exponentiated as the
// ops' generic loops do (math::exp_of).
template <typename T, bool Log>
void softmax_blocks(const T* x, T* y, i64 outer, i64 size, i64 inner) {
  std::vector<T> mx(static_cast<std::size_t>(inner));
  std::vector<double> total(static_cast<std::size_t>(inner));
  for (i64 o = 0; o < outer; ++o) {
    const T* xo = x + o * size * inner;
    T* yo = y + o * size * inner;
    column_max(xo, size, inner, mx.data());
    subtract_max(xo, yo, size, inner, mx.data());
    for (i64 k = 0; k < size * inner; ++k) yo[k] = math::exp_of(yo[k]);
    normalise<T, Log>(xo, yo, size, inner, mx.data(), total.data());
  }
}

// Calls fn(begin, end) on runs of `rows` rows of `size` elements, split
// across the pool, `grain` elements at least per run: the kernel table's
// softmax kernels compute each row alone, so its bits do not depend on the
// run or thread it falls in.
template <typename Fn>
void split_rows(i64 rows, i64 size, i64 grain, Fn&& fn) {
  runtime::parallel_for(0, rows, std::max<i64>(1, grain / size), fn);
}

// Softmax along the last dim (inner == 1, the common case): the kernel
// table's vectorised rows.
template <typename T, bool Log>
void softmax_rows(const T* x, T* y, i64 rows, i64 size) {
  const auto& table = kernels::active();
  const auto kernel = kernel_for<T>(table.softmax_rows_f32, table.softmax_rows_f64);
  // An exponential per element.
  split_rows(rows, size, runtime::kTranscendentalGrain,
             [&](i64 begin, i64 end) { kernel(end - begin, size, x + begin * size, y + begin * size, Log); });
}

template <bool Log>
Tensor softmax_forward(const Tensor& x, i64 dim, const char* op) {
  require_floating(x, op, "input");
  const i64 d = normalize_dim(dim, x.dim(), op);
  i64 outer = 1, size = 1, inner = 1;
  for (i64 i = 0; i < x.dim(); ++i) (i < d ? outer : i == d ? size : inner) *= x.shape()[i];
  const Tensor xc = contiguous_data(x);
  Tensor out = empty(x.shape(), x.dtype(), op);
  if (out.numel() > 0)
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (!elementwise_fast_paths()) {
        softmax_blocks<T, Log>(xc.data<T>(), out.data<T>(), outer, size, inner);
      } else if (inner == 1) {
        softmax_rows<T, Log>(xc.data<T>(), out.data<T>(), outer, size);
      } else {
        // Along another dim: that dim moved last by a transposing copy, the
        // rows' kernel, and back (the same bits as along the last dim of the
        // moved input). softmax_blocks, in baseline code on one thread, took
        // [4096, 128] over dim 0 1.7 ms, PyTorch 0.63 (Zen 5, one thread).
        const Tensor rows =
            contiguous_data(make_view(xc, {outer, inner, size}, {size * inner, 1, inner}, xc.offset()), op);
        const Tensor moved = empty(rows.shape(), x.dtype(), op);
        softmax_rows<T, Log>(rows.data<T>(), moved.data<T>(), outer * inner, size);
        copy_elements(make_view(moved, {outer, size, inner}, {inner * size, 1, size}, 0),
                      make_view(out, {outer, size, inner}, {size * inner, inner, 1}, 0));
      }
    });
  return out;
}

// The gradient of softmax (Log: log-softmax) along dim from its output y
// and y's gradient g: softmax dx = y·(g - Σ g·y), log-softmax
// dx = g - e^y·Σ g. Along the last dim with fast paths on, one fused pass
// per row (the kernel table's softmax_backward_rows), recorded as its own
// op with inputs {g, y} and a backward made of differentiable ops, so that
// gradients of any order work; otherwise those formulas in ops.
Tensor softmax_grad(const Tensor& g0, const Tensor& y, i64 dim, bool log) {
  const char* op = log ? "logSoftmaxBackward" : "softmaxBackward";
  const Tensor g = g0.dtype() == y.dtype() ? g0 : cast(g0, y.dtype());
  const i64 d = normalize_dim(dim, y.dim(), op);
  if (d != y.dim() - 1 || !elementwise_fast_paths()) {
    if (log) return sub(g, mul(exp(y), sum(g, {dim}, true)));
    return mul(y, sub(g, sum(mul(g, y), {dim}, true)));
  }
  const i64 size = y.shape()[d], rows = size == 0 ? 0 : y.numel() / size;
  Tensor dx = empty(y.shape(), y.dtype(), op);
  if (rows > 0) {
    const Tensor gc = contiguous_data(g), yc = contiguous_data(y);
    visit_floating(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto& table = kernels::active();
      const auto kernel = kernel_for<T>(table.softmax_backward_rows_f32, table.softmax_backward_rows_f64);
      const T *py = yc.data<T>(), *pg = gc.data<T>();
      T* pd = dx.data<T>();
      // Split as the forward pass (softmax_rows), so that each thread reads
      // the rows of y it wrote: split from 32768 elements instead, softmax's
      // gradient read half of a [32, 1024] y from the other core's cache
      // (forward and backward, two threads, 31 -> 17 µs).
      const i64 grain = runtime::kTranscendentalGrain;
      split_rows(rows, size, grain, [&](i64 begin, i64 end) {
        kernel(end - begin, size, py + begin * size, pg + begin * size, pd + begin * size, log);
      });
    });
  }
  // With u the gradient of dx. softmax: g's gradient is this same op on u,
  // y·(u - Σ u·y); y's is u·(g - Σ g·y) - g·Σ u·y. log-softmax: g's is
  // u - Σ u·e^y, y's -u·e^y·Σ g.
  record(op, {g, y}, dx, [sg = SavedTensor(g), sy = SavedTensor(y), dim, log](const Grads& gu, const Node& node) {
    const Tensor g = sg.unpack(), y = sy.unpack();
    const Tensor& u = gu[0];
    Grads result(2);
    if (log) {
      const Tensor ue = mul(u, exp(y));
      if (node.needs_grad(0)) result[0] = sub(u, sum(ue, {dim}, true));
      if (node.needs_grad(1)) result[1] = neg(mul(ue, sum(g, {dim}, true)));
    } else {
      if (node.needs_grad(0)) result[0] = softmax_grad(u, y, dim, false);
      if (node.needs_grad(1))
        result[1] = sub(mul(u, sub(g, sum(mul(g, y), {dim}, true))), mul(g, sum(mul(u, y), {dim}, true)));
    }
    return result;
  });
  return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = softmax_forward<false>(x, dim, "softmax");
  record("softmax", {x}, y, [sy = SavedTensor::output(y), dim](const Grads& g, const Node& node) {
    return Grads{softmax_grad(g[0], sy.unpack(&node), dim, false)};
  });
  return y;
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = softmax_forward<true>(x, dim, "logSoftmax");
  record("logSoftmax", {x}, y, [sy = SavedTensor::output(y), dim](const Grads& g, const Node& node) {
    return Grads{softmax_grad(g[0], sy.unpack(&node), dim, true)};
  });
  return y;
}

}  // namespace tapegrad::ops
