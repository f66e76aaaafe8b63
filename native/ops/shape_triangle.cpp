// tril and triu: the lower or upper triangle of each matrix in the last two
// dims, the rest zeroed. A copy, not a view; the gradient is the same
// triangle of the output's gradient.
#include <algorithm>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/shape.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad::ops {

namespace {

// Keeps element (i, j) of each matrix where j - i <= diagonal (Lower) or
// j - i >= diagonal (not Lower), zeroing the others in a contiguous copy.
template <bool Lower>
Tensor triangle(const Tensor& x, std::int64_t diagonal, const char* op) {
  if (x.dim() < 2)
    throw_range_error(op, ": input must have at least 2 dims (a matrix or a batch of them), got shape ",
                      shape_str(x.shape()));
  Tensor out = copy_of(x, op);
  const std::int64_t rows = x.size(x.dim() - 2), cols = x.size(x.dim() - 1);
  const std::int64_t all_rows = cols == 0 ? 0 : x.numel() / cols;
  const std::int64_t grain = std::max<std::int64_t>(1, runtime::kElementwiseGrain / std::max<std::int64_t>(cols, 1));
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    runtime::parallel_for(0, all_rows, grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        // Row i keeps the columns up to i + diagonal (tril) or from it on
        // (triu). diagonal comes from JS as a safe integer: no overflow.
        const std::int64_t edge = r % rows + diagonal;
        T* row = p + r * cols;
        if (Lower)
          std::fill(row + std::clamp<std::int64_t>(edge + 1, 0, cols), row + cols, T(0));
        else
          std::fill(row, row + std::clamp<std::int64_t>(edge, 0, cols), T(0));
      }
    });
  });
  record(op, {x}, out, [diagonal, op](const Grads& g, const Node&) { return Grads{triangle<Lower>(g[0], diagonal, op)}; });
  return out;
}

}  // namespace

Tensor tril(const Tensor& x, std::int64_t diagonal) { return triangle<true>(x, diagonal, "tril"); }
Tensor triu(const Tensor& x, std::int64_t diagonal) { return triangle<false>(x, diagonal, "triu"); }

}  // namespace tapegrad::ops
