#include "core/strided.h"

#include <algorithm>

namespace tapegrad {

void copy_elements(const Tensor& src, const Tensor& dst) {
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src.storage().data);
    T* d = static_cast<T*>(dst.storage().data);
    for_each_row<2>(src.shape(), {&src.strides(), &dst.strides()}, {src.offset(), dst.offset()},
                    [&](const auto& off, std::int64_t n, const auto& inner) {
                      // Contiguous and broadcast rows as library copies and fills (vectorised).
                      if (inner[1] == 1 && inner[0] == 1) {
                        std::copy_n(s + off[0], n, d + off[1]);
                      } else if (inner[1] == 1 && inner[0] == 0) {
                        std::fill_n(d + off[1], n, s[off[0]]);
                      } else {
                        for (std::int64_t i = 0; i < n; ++i) d[off[1] + i * inner[1]] = s[off[0] + i * inner[0]];
                      }
                    });
  });
}

Tensor contiguous_data(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.shape(), t.dtype(), "contiguous");
  copy_elements(t, out);
  return out;
}

}  // namespace tapegrad
