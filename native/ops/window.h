// What the 2-D window ops (unfold/fold/conv2d, pooling) share: which outputs
// along a row read inside the input.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tapegrad::ops {

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
