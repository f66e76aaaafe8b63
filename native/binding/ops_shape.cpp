// Shape and indexing ops.
#include <cmath>
#include <limits>
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/indexing.h"
#include "ops/shape.h"

namespace tapegrad::binding {

namespace {

Tensor reshape(OpArgs& info) {
  return ops::reshape(info.tensor(0, "reshape", "input"),
                      info.shape(1, "reshape", "shape", true));
}

Tensor expand(OpArgs& info) {
  return ops::expand(info.tensor(0, "expand", "input"),
                     info.shape(1, "expand", "shape", true));
}

Tensor transpose(OpArgs& info) {
  return ops::transpose(info.tensor(0, "transpose", "input"), info.integer(1, "transpose", "dim0"),
                        info.integer(2, "transpose", "dim1"));
}

Tensor permute(OpArgs& info) {
  return ops::permute(info.tensor(0, "permute", "input"), info.dims(1, "permute"));
}

Tensor repeat(OpArgs& info) {
  return ops::repeat(info.tensor(0, "repeat", "input"), info.shape(1, "repeat", "sizes"));
}

Tensor contiguous(OpArgs& info) {
  return ops::contiguous(info.tensor(0, "contiguous", "input"));
}

Tensor clone(OpArgs& info) {
  return ops::clone(info.tensor(0, "clone", "input"));
}

Tensor view(OpArgs& info) {
  return ops::view(info.tensor(0, "view", "input"), info.shape(1, "view", "shape", true));
}

Tensor flatten(OpArgs& info) {
  return ops::flatten(info.tensor(0, "flatten", "input"), info.integer(1, "flatten", "startDim"),
                      info.integer(2, "flatten", "endDim"));
}

// squeeze(t) drops every size-1 dim; squeeze(t, dims) only those listed.
Tensor squeeze(OpArgs& info) {
  const Tensor t = info.tensor(0, "squeeze", "input");
  std::optional<std::vector<std::int64_t>> dims;
  if (info.present(1)) dims = info.dims(1, "squeeze");
  return ops::squeeze(t, dims);
}

Tensor unsqueeze(OpArgs& info) {
  return ops::unsqueeze(info.tensor(0, "unsqueeze", "input"), info.integer(1, "unsqueeze", "dim"));
}

Tensor broadcast_to(OpArgs& info) {
  return ops::expand(info.tensor(0, "broadcastTo", "input"),
                     info.shape(1, "broadcastTo", "shape", true), "broadcastTo");
}

// A slice bound: absent, an integer, or ±Infinity, which lies past either
// end and is clamped there as any such bound is.
std::optional<std::int64_t> slice_bound(OpArgs& info, std::size_t i, const char* arg) {
  if (!info.present(i)) return std::nullopt;
  if (info.is_number(i)) {
    const double x = info.number(i, "slice", arg);
    if (std::isinf(x)) return x > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return info.integer(i, "slice", arg);
}

// slice(t, dim, start?, end?, step)
Tensor slice(OpArgs& info) {
  const Tensor t = info.tensor(0, "slice", "input");
  const std::int64_t dim = info.integer(1, "slice", "dim");
  const auto start = slice_bound(info, 2, "start");
  const auto end = slice_bound(info, 3, "end");
  return ops::slice(t, dim, start, end, info.integer(4, "slice", "step"));
}

Tensor narrow(OpArgs& info) {
  return ops::narrow(info.tensor(0, "narrow", "input"), info.integer(1, "narrow", "dim"),
                     info.integer(2, "narrow", "start"), info.integer(3, "narrow", "length"));
}


// split(t, splitSizeOrSections, dim): a number is a piece size, an array the sizes of the pieces.
std::vector<Tensor> split(OpArgs& info) {
  const Tensor t = info.tensor(0, "split", "input");
  const std::int64_t dim = info.integer(2, "split", "dim");
  if (info.is_array(1)) {
    const Shape sizes = info.sizes(1, "split", "splitSizeOrSections");
    return ops::split_with_sizes(t, std::vector<std::int64_t>(sizes.begin(), sizes.end()), dim);
  }
  return ops::split(t, info.integer(1, "split", "splitSizeOrSections"), dim);
}

std::vector<Tensor> chunk(OpArgs& info) {
  return ops::chunk(info.tensor(0, "chunk", "input"), info.integer(1, "chunk", "chunks"), info.integer(2, "chunk", "dim"));
}

Tensor cat(OpArgs& info) {
  return ops::cat(info.tensors(0, "cat", "tensors"), info.integer(1, "cat", "dim"));
}

Tensor stack(OpArgs& info) {
  return ops::stack(info.tensors(0, "stack", "tensors"), info.integer(1, "stack", "dim"));
}

// (input, widths: an array of integers, value). The TypeScript layer checks
// the widths' types; here any array of integers is taken.
Tensor pad(OpArgs& info) {
  const char* op = "pad";
  const Tensor x = info.tensor(0, op, "input");
  const std::vector<std::int64_t> widths = info.dims(1, op);
  return ops::pad(x, widths, info.number(2, op, "value"));
}

Tensor tril(OpArgs& info) {
  return ops::tril(info.tensor(0, "tril", "input"), info.integer(1, "tril", "diagonal"));
}

Tensor triu(OpArgs& info) {
  return ops::triu(info.tensor(0, "triu", "input"), info.integer(1, "triu", "diagonal"));
}

Tensor index_select(OpArgs& info) {
  return ops::index_select(info.tensor(0, "indexSelect", "input"),
                           info.integer(1, "indexSelect", "dim"),
                           info.tensor(2, "indexSelect", "index"));
}

Tensor gather(OpArgs& info) {
  return ops::gather(info.tensor(0, "gather", "input"), info.integer(1, "gather", "dim"),
                     info.tensor(2, "gather", "index"));
}

Tensor scatter_add(OpArgs& info) {
  return ops::scatter_add(info.tensor(0, "scatterAdd", "input"),
                          info.integer(1, "scatterAdd", "dim"),
                          info.tensor(2, "scatterAdd", "index"),
                          info.tensor(3, "scatterAdd", "src"));
}

}  // namespace

void register_shape(Napi::Env env, Napi::Object exports) {
  define_op<reshape>(env, exports, "reshape");
  define_op<expand>(env, exports, "expand");
  define_op<transpose>(env, exports, "transpose");
  define_op<permute>(env, exports, "permute");
  define_op<repeat>(env, exports, "repeat");
  define_op<contiguous>(env, exports, "contiguous");
  define_op<clone>(env, exports, "clone");
  define_op<view>(env, exports, "view");
  define_op<flatten>(env, exports, "flatten");
  define_op<squeeze>(env, exports, "squeeze");
  define_op<unsqueeze>(env, exports, "unsqueeze");
  define_op<broadcast_to>(env, exports, "broadcastTo");
  define_op<slice>(env, exports, "slice");
  define_op<narrow>(env, exports, "narrow");
  define_op<split>(env, exports, "split");
  define_op<chunk>(env, exports, "chunk");
  define_op<cat>(env, exports, "cat");
  define_op<stack>(env, exports, "stack");
  define_op<pad>(env, exports, "pad");
  define_op<tril>(env, exports, "tril");
  define_op<triu>(env, exports, "triu");
  define_op<index_select>(env, exports, "indexSelect");
  define_op<gather>(env, exports, "gather");
  define_op<scatter_add>(env, exports, "scatterAdd");
}

}  // namespace tapegrad::binding
