// Joining tensors: cat along an existing dim, stack along a new one. The
// backward of both hands each input the slice of the gradient it filled.
#include <cstdint>

#include "core/autograd.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/shape.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

// The largest element count checked_numel lets through.
constexpr std::int64_t kMaxElements = INT64_MAX / 16;

// PyTorch still accepts 1-D empty tensors (shape [0]) in any cat and skips them.
bool legacy_empty(const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; }

// `op` names the public function in errors and in the graph (cat, stack).
Tensor join(const std::vector<Tensor>& given, std::int64_t dim, const char* op) {
  if (given.empty()) throw_range_error(op, ": expected a non-empty array of tensors");
  DType dtype = given[0].dtype();
  for (const Tensor& t : given) dtype = promote(dtype, t.dtype());
  std::vector<Tensor> inputs;
  inputs.reserve(given.size());
  for (const Tensor& t : given) inputs.push_back(cast(t, dtype));  // cast records its own backward

  std::size_t ref = 0;
  while (ref < inputs.size() && legacy_empty(inputs[ref])) ++ref;
  if (ref == inputs.size()) ref = 0;
  const Tensor& first = inputs[ref];
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].dim() == 0)
      throw_range_error(op, ": tensors[", i, "] is 0-d and cannot be concatenated (unsqueeze it, or use stack)");
  const std::int64_t d = normalize_dim(dim, first.dim(), op);
  auto skipped = [&](const Tensor& t) { return first.dim() != 1 && legacy_empty(t); };

  Shape shape = first.shape();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (skipped(t)) continue;
    if (t.dim() != first.dim())
      throw_range_error(op, ": tensors must have the same number of dims; tensors[", ref, "] has shape ",
                        shape_str(first.shape()), " and tensors[", i, "] has shape ", shape_str(t.shape()));
    for (std::int64_t k = 0; k < t.dim(); ++k)
      if (k != d && t.shape()[k] != first.shape()[k])
        throw_range_error(op, ": shapes must match except in dim ", d, "; tensors[", ref, "] has shape ",
                          shape_str(first.shape()), " and tensors[", i, "] has shape ", shape_str(t.shape()));
    if (t.shape()[d] > kMaxElements - total) throw_range_error(op, ": the result would have too many elements");
    total += t.shape()[d];
  }
  shape[d] = total;

  Tensor out = empty(shape, dtype, op);
  std::vector<std::int64_t> starts(inputs.size(), 0);
  std::int64_t at = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (skipped(t)) continue;
    starts[i] = at;
    copy_elements(t, make_view(out, t.shape(), out.strides(), at * out.strides()[d]));
    at += t.shape()[d];
  }

  std::vector<std::int64_t> lengths;  // -1: skipped
  for (const Tensor& t : inputs) lengths.push_back(skipped(t) ? -1 : t.shape()[d]);
  record(op, inputs, {out}, [d, starts, lengths, dtype](const Grads& g, const Node& node) {
    Grads grads(lengths.size());
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      if (!node.needs_grad(i)) continue;
      grads[i] = lengths[i] < 0 ? empty({0}, dtype, "cat") : narrow(g[0], d, starts[i], lengths[i]);
    }
    return grads;
  });
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) { return join(tensors, dim, "cat"); }

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  if (tensors.empty()) throw_range_error("stack: expected a non-empty array of tensors");
  const Shape& shape = tensors[0].shape();
  for (std::size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].shape() != shape)
      throw_range_error("stack: all tensors must have the same shape; tensors[0] has shape ", shape_str(shape),
                        " and tensors[", i, "] has shape ", shape_str(tensors[i].shape()));
  const std::int64_t nd = tensors[0].dim();
  if (dim < -nd - 1 || dim > nd)
    throw_range_error("stack: dim must be in [", -nd - 1, ", ", nd, "] for tensors with ", nd, " dimensions, got ",
                      dim);
  if (nd >= kMaxDims)
    throw_range_error("stack: the tensors have ", nd, " dimensions already; at most ", kMaxDims, " are supported");
  const std::int64_t d = dim < 0 ? dim + nd + 1 : dim;
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, d));
  return join(parts, d, "stack");
}

}  // namespace tapegrad::ops
