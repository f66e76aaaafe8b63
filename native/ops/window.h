// What the 2-D window ops (unfold/fold/conv2d, pooling) share: the check of
// their image input, and which outputs along a row read inside the input.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/tensor.h"
#include "ops/common.h"
#include "runtime/error.h"

namespace tapegrad::ops {

// x is a float [C, H, W] or [N, C, H, W] with C, H and W non-zero (an empty
// batch is fine), or a RangeError/TypeError naming `op`.
inline void check_image_input(const Tensor& x, const char* op) {
  require_floating(x, op, "input");
  if (x.dim() != 3 && x.dim() != 4)
    throw_range_error(op, ": input must be 3-D [C, H, W] or 4-D [N, C, H, W], got shape ", shape_str(x.shape()));
  for (std::int64_t d = x.dim() - 3; d < x.dim(); ++d)
    if (x.size(d) == 0)
      throw_range_error(op, ": input must have non-zero C, H and W (only N may be 0), got shape ", shape_str(x.shape()));
}

// The outputs o in [lo, hi) whose tap at offset `off` (o·stride + off) lies
// inside [0, size), of `outputs` along the row.
struct Span {
  std::int64_t lo, hi;
};
inline Span inside(std::int64_t off, std::int64_t stride, std::int64_t size, std::int64_t outputs) {
  const std::int64_t lo = off >= 0 ? 0 : std::min(outputs, (-off + stride - 1) / stride);
  const std::int64_t hi = size - 1 - off < 0 ? 0 : std::min(outputs, (size - 1 - off) / stride + 1);
  return {lo, std::max(lo, hi)};
}

}  // namespace tapegrad::ops
