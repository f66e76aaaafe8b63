// Constant padding (F.pad's 'constant' mode): each of the last dims grown by
// `before` and `after` elements of `value`, or cut where they are negative.
// Its gradient is the same padding negated (a cut of the gradient, or zeros
// around it), so it has gradients of every order.
#include <algorithm>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/factory.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, double value) {
  const char* op = "pad";
  if (widths.size() % 2 != 0)
    throw_range_error(op, ": pad must have an even length (before and after for each dim from the last), got length ",
                      widths.size());
  const std::int64_t dims = static_cast<std::int64_t>(widths.size() / 2);
  if (dims > x.dim())
    throw_range_error(op, ": pad of length ", widths.size(), " pads ", dims, " dims, but the input has shape ",
                      shape_str(x.shape()));
  Shape shape = x.shape(), src_strides = x.strides(), dst_sizes = x.shape();
  std::int64_t src_offset = x.offset();
  std::vector<std::int64_t> dst_start(static_cast<std::size_t>(x.dim()), 0);
  bool empty_overlap = false;
  for (std::int64_t k = 0; k < dims; ++k) {
    const std::int64_t d = x.dim() - 1 - k;
    const auto i = static_cast<std::size_t>(d);
    const std::int64_t before = widths[static_cast<std::size_t>(2 * k)], after = widths[static_cast<std::size_t>(2 * k + 1)];
    const std::int64_t size = x.size(d) + before + after;
    if (size < 0)
      throw_range_error(op, ": padding (", before, ", ", after, ") of dim ", d, " (size ", x.size(d),
                        ") leaves a negative size ", size);
    shape[i] = size;
    // The part of x that survives the cuts, and where it lands in the output.
    // As PyTorch, the cuts may take all of the dim but no more: padding
    // (3, -2) of a size-1 dim is refused, not the two padding elements it
    // would leave.
    const std::int64_t cut_before = std::max<std::int64_t>(-before, 0), cut_after = std::max<std::int64_t>(-after, 0);
    const std::int64_t kept = x.size(d) - cut_before - cut_after;
    if (kept < 0)
      throw_range_error(op, ": padding (", before, ", ", after, ") of dim ", d, " (size ", x.size(d), ") cuts ",
                        cut_before + cut_after, " elements from it");
    if (kept == 0) empty_overlap = true;
    dst_sizes[i] = std::max<std::int64_t>(kept, 0);
    src_offset += cut_before * src_strides[i];
    dst_start[i] = std::max<std::int64_t>(before, 0);
  }
  Tensor out = full(shape, value, x.dtype(), op);
  if (!empty_overlap && x.numel() > 0) {
    const Shape dst_strides = out.strides();
    std::int64_t dst_offset = 0;
    for (std::size_t i = 0; i < dst_start.size(); ++i) dst_offset += dst_start[i] * dst_strides[i];
    copy_elements(make_view(x, dst_sizes, src_strides, src_offset), make_view(out, dst_sizes, dst_strides, dst_offset));
  }
  std::vector<std::int64_t> negated(widths.size());
  std::transform(widths.begin(), widths.end(), negated.begin(), [](std::int64_t w) { return -w; });
  record(op, {x}, out, [negated](const Grads& g, const Node&) { return Grads{pad(g[0], negated, 0)}; });
  return out;
}

}  // namespace tapegrad::ops
