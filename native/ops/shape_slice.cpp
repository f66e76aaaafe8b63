// Views of a range along one dim (slice, narrow, split, chunk) and the
// scatter of a gradient back into the full shape that undoes them.
#include <algorithm>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/factory.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

// Elements start, start + step, ... (length of them) along dim d; the caller
// has checked the range. Records a backward that scatters into zeros.
Tensor range_view(const Tensor& t, std::int64_t d, std::int64_t start, std::int64_t length, std::int64_t step,
                  const char* name) {
  Shape shape = t.shape(), strides = t.strides();
  shape[d] = length;
  // With at most one element the stride is never used; keeping it small
  // keeps stride * step from overflowing for huge steps.
  if (length > 1) strides[d] *= step;
  // An empty view addresses nothing: keep its offset inside the storage.
  const std::int64_t offset = length == 0 ? t.offset() : t.offset() + start * t.strides()[d];
  Tensor out = make_view(t, shape, strides, offset);
  record(name, {t}, out, [in = t.shape(), d, start, step](const Grads& g, const Node&) {
    return Grads{slice_backward(g[0], in, d, start, step)};
  });
  return out;
}

std::int64_t dim_of(const Tensor& t, std::int64_t dim, const char* op) {
  if (t.dim() == 0) throw_range_error(op, ": cannot be applied to a 0-d tensor");
  return normalize_dim(dim, t.dim(), op);
}

// Python's rule for a slice bound: negative counts from the end, then clamp to [0, size].
std::int64_t clamp_bound(std::int64_t v, std::int64_t size) {
  if (v < 0) v += size;
  return std::clamp<std::int64_t>(v, 0, size);
}

// The input's gradient of `pieces` when some pieces got none: zeros with the
// given gradients copied into their places (a cat with zero-filled pieces
// wrote the missing pieces and then the whole again: x.chunk(4, 1)[1] of a
// [4096, 1024] float32, forward + backward, took 2.4-2.6 ms, now about 1, as
// narrow). Differentiable: each given gradient gets back its slice.
Tensor pieces_backward(const Grads& g, const Node& node, std::int64_t d) {
  const DType dtype = node.outputs[0].dtype;
  Shape shape = node.outputs[0].shape;
  shape[d] = 0;
  for (const auto& piece : node.outputs) shape[d] += piece.shape[d];
  Tensor out = full(shape, 0.0, dtype, "split");
  std::vector<Tensor> given;
  std::vector<std::int64_t> starts, lengths;
  std::int64_t at = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const std::int64_t length = node.outputs[i].shape[d];
    if (g[i].defined()) {  // backward() checked its shape and dtype
      given.push_back(g[i]);
      copy_elements(g[i], make_view(out, g[i].shape(), out.strides(), at * out.strides()[d]));
      starts.push_back(at);
      lengths.push_back(length);
    }
    at += length;
  }
  record("splitBackward", given, {out}, [d, starts, lengths](const Grads& gg, const Node& n) {
    Grads grads(starts.size());
    for (std::size_t i = 0; i < starts.size(); ++i)
      if (n.needs_grad(i)) grads[i] = narrow(gg[0], d, starts[i], lengths[i]);
    return grads;
  });
  return out;
}

// Views of consecutive pieces with one backward node: its backward joins the
// pieces' gradients with one cat when every piece got one, else copies them
// into zeros (pieces_backward), so n pieces cost one full-size gradient, not n.
std::vector<Tensor> pieces(const Tensor& t, std::int64_t d, const std::vector<std::int64_t>& sizes) {
  std::vector<Tensor> out;
  if (sizes.empty()) return out;  // split([]) of an empty dim: no pieces, no node (as PyTorch's)
  out.reserve(sizes.size());
  std::int64_t start = 0;
  for (std::int64_t n : sizes) {
    Shape shape = t.shape();
    shape[d] = n;
    out.push_back(make_view(t, shape, t.strides(), n == 0 ? t.offset() : t.offset() + start * t.strides()[d]));
    start += n;
  }
  record("split", {t}, out, [d](const Grads& g, const Node& node) {
    for (const Tensor& part : g)
      if (!part.defined()) return Grads{pieces_backward(g, node, d)};
    return Grads{cat(g, d)};
  });
  if (const auto& node = out.front().grad_fn()) node->takes_missing_grads = true;
  return out;
}

}  // namespace

Tensor slice(const Tensor& t, std::int64_t dim, std::optional<std::int64_t> start_arg,
             std::optional<std::int64_t> end_arg, std::int64_t step) {
  const std::int64_t d = dim_of(t, dim, "slice");
  if (step <= 0) throw_range_error("slice: step must be a positive integer, got ", step);
  const std::int64_t size = t.shape()[d];
  const std::int64_t start = start_arg ? clamp_bound(*start_arg, size) : 0;
  const std::int64_t end = std::max(start, end_arg ? clamp_bound(*end_arg, size) : size);
  // Ceil division without overflow: end - start <= size.
  const std::int64_t length = (end - start) / step + ((end - start) % step != 0);
  return range_view(t, d, start, length, step, "slice");
}

Tensor narrow(const Tensor& t, std::int64_t dim, std::int64_t start, std::int64_t length) {
  const std::int64_t d = dim_of(t, dim, "narrow");
  const std::int64_t size = t.shape()[d];
  if (start < -size || start > size)
    throw_range_error("narrow: start ", start, " is out of range for dim ", d, " of size ", size, " (expected ",
                      -size, " to ", size, ")");
  if (start < 0) start += size;
  if (length < 0) throw_range_error("narrow: length must be non-negative, got ", length);
  if (length > size - start)
    throw_range_error("narrow: start (", start, ") + length (", length, ") exceeds dim ", d, " of size ", size);
  return range_view(t, d, start, length, 1, "narrow");
}

Tensor slice_backward(const Tensor& grad, const Shape& shape, std::int64_t d, std::int64_t start, std::int64_t step) {
  Tensor out = full(shape, 0.0, grad.dtype(), "slice");
  const std::int64_t length = grad.shape()[d];
  Shape strides = out.strides();
  if (length > 1) strides[d] *= step;
  copy_elements(grad, make_view(out, grad.shape(), strides, start * out.strides()[d]));
  record("sliceBackward", {grad}, out, [d, start, length, step](const Grads& g, const Node&) {
    return Grads{slice(g[0], d, start, start + length * step, step)};
  });
  return out;
}

std::vector<Tensor> split(const Tensor& t, std::int64_t split_size, std::int64_t dim) {
  const std::int64_t d = dim_of(t, dim, "split");
  const std::int64_t size = t.shape()[d];
  if (split_size < 0) throw_range_error("split: splitSize must be non-negative, got ", split_size);
  if (split_size == 0 && size != 0)
    throw_range_error("split: splitSize can be 0 only when the dim has size 0, but dim ", d, " has size ", size);
  std::vector<std::int64_t> sizes;
  if (size == 0) sizes.push_back(0);
  for (std::int64_t at = 0; at < size; at += split_size) sizes.push_back(std::min(split_size, size - at));
  return pieces(t, d, sizes);
}

std::vector<Tensor> split_with_sizes(const Tensor& t, const std::vector<std::int64_t>& sizes, std::int64_t dim) {
  const std::int64_t d = dim_of(t, dim, "split");
  const std::int64_t size = t.shape()[d];
  std::int64_t total = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0) throw_range_error("split: sections must be non-negative, got ", sizes[i], " at index ", i);
    if (sizes[i] > size - total)  // also keeps the running total from overflowing
      throw_range_error("split: sections ", shape_str(Shape(sizes.begin(), sizes.end())), " sum to more than the size ", size, " of dim ", d);
    total += sizes[i];
  }
  if (total != size)
    throw_range_error("split: sections ", shape_str(Shape(sizes.begin(), sizes.end())), " sum to ", total, " but dim ", d, " has size ", size);
  return pieces(t, d, sizes);
}

std::vector<Tensor> chunk(const Tensor& t, std::int64_t chunks, std::int64_t dim) {
  const std::int64_t d = dim_of(t, dim, "chunk");
  if (chunks <= 0) throw_range_error("chunk: chunks must be a positive integer, got ", chunks);
  const std::int64_t size = t.shape()[d];
  // As PyTorch: an empty dim gives `chunks` empty pieces; otherwise pieces of
  // ceil(size / chunks), which may be fewer than `chunks`.
  if (size == 0) {
    if (chunks > (1 << 24)) throw_range_error("chunk: ", chunks, " empty pieces is too many (at most ", 1 << 24, ")");
    return pieces(t, d, std::vector<std::int64_t>(static_cast<std::size_t>(chunks), 0));
  }
  const std::int64_t piece = size / chunks + (size % chunks != 0);
  return split(t, piece, d);
}

}  // namespace tapegrad::ops
