// softmax and logSoftmax: fused, max-shifted loops forward; backward rules
// made of differentiable ops, so they differentiate again.
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

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

// For each of `outer` blocks of `size` × `inner` contiguous elements, the
// softmax (or log-softmax) along the middle dim. Max and sum are kept per
// inner position so the inner loops run over contiguous memory.
template <typename T, bool Log>
void softmax_blocks(const T* x, T* y, i64 outer, i64 size, i64 inner) {
  std::vector<T> mx(static_cast<std::size_t>(inner));
  std::vector<double> total(static_cast<std::size_t>(inner));
  for (i64 o = 0; o < outer; ++o) {
    const T* xo = x + o * size * inner;
    T* yo = y + o * size * inner;
    std::fill(mx.begin(), mx.end(), -std::numeric_limits<T>::infinity());
    std::fill(total.begin(), total.end(), 0.0);
    for (i64 d = 0; d < size; ++d)
      for (i64 i = 0; i < inner; ++i) {
        const T v = xo[d * inner + i];
        if (!(v <= mx[i])) mx[i] = v;  // NaN propagates to the whole row
      }
    for (i64 d = 0; d < size; ++d)
      for (i64 i = 0; i < inner; ++i) {
        const T e = std::exp(xo[d * inner + i] - mx[i]);
        total[i] += e;
        if constexpr (!Log) yo[d * inner + i] = e;
      }
    for (i64 d = 0; d < size; ++d)
      for (i64 i = 0; i < inner; ++i) {
        if constexpr (Log)
          yo[d * inner + i] = static_cast<T>(static_cast<double>(xo[d * inner + i] - mx[i]) - std::log(total[i]));
        else
          yo[d * inner + i] = static_cast<T>(yo[d * inner + i] / total[i]);
      }
  }
}

// Softmax along the last dim (inner == 1, the common case): the shifted
// values of all rows are exponentiated in one call of the active ISA's
// vectorised exp (rows are often short), then each row is summed in double.
template <typename T, bool Log>
void softmax_rows(const T* x, T* y, i64 rows, i64 size) {
  std::vector<T> mx(static_cast<std::size_t>(rows));
  for (i64 r = 0; r < rows; ++r) {
    const T* xr = x + r * size;
    T m = -std::numeric_limits<T>::infinity();
    for (i64 d = 0; d < size; ++d)
      if (!(xr[d] <= m)) m = xr[d];  // NaN propagates to the whole row
    mx[static_cast<std::size_t>(r)] = m;
    T* yr = y + r * size;
    for (i64 d = 0; d < size; ++d) yr[d] = xr[d] - m;
  }
  if constexpr (sizeof(T) == 4) kernels::active().unary_f32(kernels::UnaryOp::Exp, rows * size, y, y, 0, 0);
  else kernels::active().unary_f64(kernels::UnaryOp::Exp, rows * size, y, y, 0, 0);
  for (i64 r = 0; r < rows; ++r) {
    const T* xr = x + r * size;
    T* yr = y + r * size;
    double total = 0;
    for (i64 d = 0; d < size; ++d) total += yr[d];
    if constexpr (Log) {
      const T m = mx[static_cast<std::size_t>(r)];
      const double log_total = std::log(total);
      for (i64 d = 0; d < size; ++d) yr[d] = static_cast<T>(static_cast<double>(xr[d] - m) - log_total);
    } else {
      for (i64 d = 0; d < size; ++d) yr[d] = static_cast<T>(yr[d] / total);
    }
  }
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
      if (inner == 1 && elementwise_fast_paths())
        softmax_rows<T, Log>(xc.data<T>(), out.data<T>(), outer, size);
      else
        softmax_blocks<T, Log>(xc.data<T>(), out.data<T>(), outer, size, inner);
    });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = softmax_forward<false>(x, dim, "softmax");
  // dx = y·(g - sum(g·y)) along dim. y is the op's own output: saved after
  // record() so that it refers to this node weakly.
  auto saved = std::make_shared<SavedTensor>();
  record("softmax", {x}, y, [saved, dim](const Grads& g, const Node&) {
    const Tensor s = saved->unpack();
    return Grads{mul(s, sub(g[0], sum(mul(g[0], s), {dim}, true)))};
  });
  *saved = SavedTensor(y, true);
  return y;
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = softmax_forward<true>(x, dim, "logSoftmax");
  // dx = g - exp(y)·sum(g) along dim (exp(y) is the softmax).
  auto saved = std::make_shared<SavedTensor>();
  record("logSoftmax", {x}, y, [saved, dim](const Grads& g, const Node&) {
    return Grads{sub(g[0], mul(exp(saved->unpack()), sum(g[0], {dim}, true)))};
  });
  *saved = SavedTensor(y, true);
  return y;
}

}  // namespace tapegrad::ops
