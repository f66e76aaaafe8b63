#include "ops/shape.h"

#include <limits>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/reduce.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

// Strides that view `t` as `shape` without copying, if any exist (PyTorch's
// computeStride): split or merge runs of dims that are laid out contiguously.
bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  const Shape& old_shape = t.shape();
  const Shape& old_strides = t.strides();
  out.assign(shape.size(), 0);
  if (t.numel() == 0 || old_shape.empty()) {
    out = contiguous_strides(shape);
    return true;
  }
  std::int64_t view_d = static_cast<std::int64_t>(shape.size()) - 1;
  std::int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

[[noreturn]] void invalid_shape(const Tensor& t, const Shape& requested, const char* op) {
  throw_range_error(op, ": shape ", shape_str(requested), " is invalid for a tensor of shape ", shape_str(t.shape()),
                    " (", t.numel(), " elements)");
}

// Resolves one -1 entry and checks the element count.
Shape infer_shape(const Tensor& t, const Shape& requested, const char* op) {
  Shape shape = requested;
  std::int64_t infer = -1, known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw_range_error(op, ": only one dimension can be -1, got shape ", shape_str(requested));
      infer = static_cast<std::int64_t>(i);
    } else if (shape[i] < 0) {
      throw_range_error(op, ": dimensions must be non-negative or -1, got shape ", shape_str(requested));
    } else {
      known = checked_numel({known, shape[i]}, op);
    }
  }
  if (infer >= 0) {
    if (known == 0 || t.numel() % known != 0) invalid_shape(t, requested, op);
    shape[infer] = t.numel() / known;
  }
  if (checked_numel(shape, op) != t.numel()) invalid_shape(t, requested, op);
  return shape;
}

// Every op that only rearranges elements: the gradient is reshaped back.
Tensor record_reshape(const char* name, const Tensor& t, const Tensor& out) {
  record(name, {t}, out, [in = t.shape()](const Grads& g, const Node&) { return Grads{reshape(g[0], in)}; });
  return out;
}

Tensor view_of(const Tensor& t, const Shape& shape, const Shape& strides, const char* name) {
  return record_reshape(name, t, make_view(t, shape, strides, t.offset()));
}

// A view when the strides allow it, else a copy.
Tensor reshape_as(const Tensor& t, const Shape& shape, const char* name) {
  Shape strides;
  if (view_strides(t, shape, strides)) return view_of(t, shape, strides, name);
  return record_reshape(name, t, relayout(copy_of(t, name), shape, contiguous_strides(shape)));
}

}  // namespace

Tensor reshape(const Tensor& t, const Shape& requested) {
  const Shape shape = infer_shape(t, requested, "reshape");
  if (shape == t.shape()) return t;
  return reshape_as(t, shape, "reshape");
}

Tensor view(const Tensor& t, const Shape& requested) {
  const Shape shape = infer_shape(t, requested, "view");
  Shape strides;
  if (!view_strides(t, shape, strides))
    throw_range_error("view: a tensor of shape ", shape_str(t.shape()), " and strides ", shape_str(t.strides()),
                      " cannot be viewed as shape ", shape_str(shape),
                      " without a copy (the merged dims are not contiguous in memory); use reshape()");
  return view_of(t, shape, strides, "view");
}

Tensor flatten(const Tensor& t, std::int64_t start_dim, std::int64_t end_dim) {
  const std::int64_t start = normalize_dim(start_dim, t.dim(), "flatten", "startDim");
  const std::int64_t end = normalize_dim(end_dim, t.dim(), "flatten", "endDim");
  if (start > end)
    throw_range_error("flatten: startDim (", start_dim, ") must not come after endDim (", end_dim,
                      ") for a tensor with ", t.dim(), " dimensions");
  if (t.dim() == 0) return reshape_as(t, {1}, "flatten");
  if (start == end) return t;  // as PyTorch: nothing to merge
  Shape shape(t.shape().begin(), t.shape().begin() + start);
  // Checked: beside a 0-sized dim, the merged dims' product can exceed what
  // any tensor may hold ([0, 2**40, 2**40].flatten(1)) and would overflow.
  try {
    shape.push_back(checked_numel(Shape(t.shape().begin() + start, t.shape().begin() + end + 1), "flatten"));
  } catch (const Error&) {
    throw_range_error("flatten: merging dims ", start, " to ", end, " of shape ", shape_str(t.shape()),
                      " gives more elements than a tensor may hold");
  }
  shape.insert(shape.end(), t.shape().begin() + end + 1, t.shape().end());
  return reshape_as(t, shape, "flatten");
}

Tensor squeeze(const Tensor& t, const std::optional<std::vector<std::int64_t>>& dims) {
  std::vector<bool> drop(t.shape().size(), false);
  if (!dims) {
    for (std::size_t d = 0; d < drop.size(); ++d) drop[d] = t.shape()[d] == 1;
  } else {
    for (std::int64_t d : normalize_dims(*dims, t.dim(), "squeeze")) drop[d] = t.shape()[d] == 1;
  }
  Shape shape, strides;
  for (std::size_t d = 0; d < drop.size(); ++d) {
    if (drop[d]) continue;
    shape.push_back(t.shape()[d]);
    strides.push_back(t.strides()[d]);
  }
  return view_of(t, shape, strides, "squeeze");
}

Tensor unsqueeze(const Tensor& t, std::int64_t dim) {
  const std::int64_t nd = t.dim();
  if (dim < -nd - 1 || dim > nd)
    throw_range_error("unsqueeze: dim must be in [", -nd - 1, ", ", nd, "] for a tensor with ", nd,
                      " dimensions, got ", dim);
  if (nd >= kMaxDims)
    throw_range_error("unsqueeze: the input has ", nd, " dimensions already; at most ", kMaxDims, " are supported");
  const std::int64_t d = dim < 0 ? dim + nd + 1 : dim;
  Shape shape = t.shape(), strides = t.strides();
  // Any stride is valid for a size-1 dim; this one keeps contiguous tensors contiguous.
  const std::int64_t stride = d >= nd ? 1 : shape[d] * strides[d];
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return view_of(t, shape, strides, "unsqueeze");
}

Tensor expand(const Tensor& t, const Shape& shape, const char* op) {
  if (shape.size() < t.shape().size())
    throw_range_error(op, ": the target shape ", shape_str(shape), " has fewer dimensions than the tensor's shape ",
                      shape_str(t.shape()));
  const std::size_t lead = shape.size() - t.shape().size();
  Shape target = shape;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::int64_t have = i < lead ? 1 : t.shape()[i - lead];
    if (target[i] == -1 && i >= lead) target[i] = have;
    if (target[i] < 0 || (have != 1 && have != target[i]))
      throw_range_error(op, ": cannot expand shape ", shape_str(t.shape()), " to ", shape_str(shape), " (dim ", i,
                        ": ", have, " to ", shape[i], ")");
  }
  checked_numel(target, op);  // make_view multiplies the sizes: no overflow
  if (target == t.shape()) return t;
  Tensor out = make_view(t, target, broadcast_strides(t, target), t.offset());
  record("expand", {t}, out, [in = t.shape()](const Grads& g, const Node&) { return Grads{sum_to(g[0], in)}; });
  return out;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const std::size_t lead = t.shape().size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < t.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && t.shape()[i] != 1)) dims.push_back(static_cast<std::int64_t>(i));
  Tensor summed = sum(t, dims, true);
  return reshape(summed, shape);
}

Tensor transpose(const Tensor& t, std::int64_t dim0, std::int64_t dim1) {
  const std::int64_t d0 = normalize_dim(dim0, t.dim(), "transpose", "dim0");
  const std::int64_t d1 = normalize_dim(dim1, t.dim(), "transpose", "dim1");
  if (d0 == d1 || t.dim() < 2) return t;
  Shape shape = t.shape(), strides = t.strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  Tensor out = make_view(t, shape, strides, t.offset());
  record("transpose", {t}, out, [d0, d1](const Grads& g, const Node&) { return Grads{transpose(g[0], d0, d1)}; });
  return out;
}

Tensor permute(const Tensor& t, const std::vector<std::int64_t>& dims) {
  if (static_cast<std::int64_t>(dims.size()) != t.dim())
    throw_range_error("permute: expected ", t.dim(), " dims for a tensor of shape ", shape_str(t.shape()), ", got ",
                      dims.size());
  std::vector<std::int64_t> order(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape shape(dims.size()), strides(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = normalize_dim(dims[i], t.dim(), "permute");
    if (seen[d]) throw_range_error("permute: dim ", d, " appears more than once");
    seen[d] = true;
    order[i] = d;
    inverse[d] = static_cast<std::int64_t>(i);
    shape[i] = t.shape()[d];
    strides[i] = t.strides()[d];
  }
  Tensor out = make_view(t, shape, strides, t.offset());
  record("permute", {t}, out, [inverse](const Grads& g, const Node&) { return Grads{permute(g[0], inverse)}; });
  return out;
}

Tensor repeat(const Tensor& t, const Shape& sizes) {
  const char* op = "repeat";
  if (static_cast<std::int64_t>(sizes.size()) < t.dim())
    throw_range_error(op, ": sizes must have at least as many entries as the tensor has dims (", t.dim(),
                      ") for a tensor of shape ", shape_str(t.shape()), ", got ", shape_str(sizes));
  // t read as [1, s0, 1, s1, ...] and broadcast to `tiled` = [r0, s0, r1, s1, ...]:
  // walked row-major, that is the output [r0 * s0, r1 * s1, ...].
  const std::size_t lead = sizes.size() - t.shape().size();
  Shape tiled, strides, shape;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::int64_t r = sizes[k], s = k < lead ? 1 : t.shape()[k - lead];
    if (s != 0 && r > std::numeric_limits<std::int64_t>::max() / 16 / s)
      throw_range_error(op, ": dim ", k, " of size ", s, " repeated ", r, " times has too many elements");
    tiled.insert(tiled.end(), {r, s});
    strides.insert(strides.end(), {0, k < lead ? 0 : t.strides()[k - lead]});
    shape.push_back(r * s);
  }
  Tensor out = empty(shape, t.dtype(), op);
  if (out.numel() > 0)
    copy_elements(make_view(t, tiled, strides, t.offset()), make_view(out, tiled, contiguous_strides(tiled), 0));
  // Each input element's gradient is the sum over its tiles.
  record(op, {t}, out, [tiled, in = t.shape()](const Grads& g, const Node&) {
    Shape once = tiled;
    for (std::size_t k = 0; k < once.size(); k += 2) once[k] = 1;
    return Grads{reshape(sum_to(reshape(g[0], tiled), once), in)};
  });
  return out;
}

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  return clone(t);
}

Tensor clone(const Tensor& t) {
  Tensor out = copy_of(t, "clone");
  record("clone", {t}, out, [](const Grads& g, const Node&) { return Grads{g[0]}; });
  return out;
}

}  // namespace tapegrad::ops
