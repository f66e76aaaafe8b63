// Shape and indexing ops.
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/indexing.h"
#include "ops/shape.h"

namespace tapegrad::binding {

namespace {

Napi::Value reshape(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::reshape(arg_tensor(info, 0, "reshape", "input"),
                                       arg_shape(info, 1, "reshape", "shape", true)));
}

Napi::Value expand(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::expand(arg_tensor(info, 0, "expand", "input"),
                                      arg_shape(info, 1, "expand", "shape", true)));
}

Napi::Value transpose(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::transpose(arg_tensor(info, 0, "transpose", "input"), arg_int(info, 1, "transpose", "dim0"),
                                         arg_int(info, 2, "transpose", "dim1")));
}

Napi::Value permute(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::permute(arg_tensor(info, 0, "permute", "input"), arg_dims(info, 1, "permute")));
}

Napi::Value contiguous(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::contiguous(arg_tensor(info, 0, "contiguous", "input")));
}

Napi::Value clone(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::clone(arg_tensor(info, 0, "clone", "input")));
}

Napi::Value view(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::view(arg_tensor(info, 0, "view", "input"), arg_shape(info, 1, "view", "shape", true)));
}

Napi::Value flatten(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::flatten(arg_tensor(info, 0, "flatten", "input"), arg_int(info, 1, "flatten", "startDim"),
                                       arg_int(info, 2, "flatten", "endDim")));
}

// squeeze(t) drops every size-1 dim; squeeze(t, dims) only those listed.
Napi::Value squeeze(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "squeeze", "input");
  std::optional<std::vector<std::int64_t>> dims;
  if (arg_present(info, 1)) dims = arg_dims(info, 1, "squeeze");
  return wrap(info.Env(), ops::squeeze(t, dims));
}

Napi::Value unsqueeze(const Napi::CallbackInfo& info) {
  return wrap(info.Env(),
              ops::unsqueeze(arg_tensor(info, 0, "unsqueeze", "input"), arg_int(info, 1, "unsqueeze", "dim")));
}

Napi::Value broadcast_to(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::expand(arg_tensor(info, 0, "broadcastTo", "input"),
                                      arg_shape(info, 1, "broadcastTo", "shape", true), "broadcastTo"));
}

std::optional<std::int64_t> optional_int(const Napi::CallbackInfo& info, std::size_t i, const char* op,
                                         const char* arg) {
  if (!arg_present(info, i)) return std::nullopt;
  return arg_int(info, i, op, arg);
}

// slice(t, dim, start?, end?, step)
Napi::Value slice(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "slice", "input");
  const std::int64_t dim = arg_int(info, 1, "slice", "dim");
  const auto start = optional_int(info, 2, "slice", "start");
  const auto end = optional_int(info, 3, "slice", "end");
  return wrap(info.Env(), ops::slice(t, dim, start, end, arg_int(info, 4, "slice", "step")));
}

Napi::Value narrow(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::narrow(arg_tensor(info, 0, "narrow", "input"), arg_int(info, 1, "narrow", "dim"),
                                      arg_int(info, 2, "narrow", "start"), arg_int(info, 3, "narrow", "length")));
}

Napi::Value wrap_all(Napi::Env env, std::vector<Tensor> tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (std::uint32_t i = 0; i < tensors.size(); ++i) out.Set(i, wrap(env, std::move(tensors[i])));
  return out;
}

// split(t, splitSizeOrSections, dim): a number is a piece size, an array the sizes of the pieces.
Napi::Value split(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "split", "input");
  const std::int64_t dim = arg_int(info, 2, "split", "dim");
  if (info[1].IsArray()) {
    const Shape sizes = arg_shape(info, 1, "split", "splitSizeOrSections");
    return wrap_all(info.Env(), ops::split_with_sizes(t, std::vector<std::int64_t>(sizes.begin(), sizes.end()), dim));
  }
  return wrap_all(info.Env(), ops::split(t, arg_int(info, 1, "split", "splitSizeOrSections"), dim));
}

Napi::Value chunk(const Napi::CallbackInfo& info) {
  return wrap_all(info.Env(), ops::chunk(arg_tensor(info, 0, "chunk", "input"), arg_int(info, 1, "chunk", "chunks"),
                                         arg_int(info, 2, "chunk", "dim")));
}

Napi::Value cat(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::cat(arg_tensors(info, 0, "cat", "tensors"), arg_int(info, 1, "cat", "dim")));
}

Napi::Value stack(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::stack(arg_tensors(info, 0, "stack", "tensors"), arg_int(info, 1, "stack", "dim")));
}

Napi::Value index_select(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::index_select(arg_tensor(info, 0, "indexSelect", "input"),
                                            arg_int(info, 1, "indexSelect", "dim"),
                                            arg_tensor(info, 2, "indexSelect", "index")));
}

Napi::Value gather(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::gather(arg_tensor(info, 0, "gather", "input"), arg_int(info, 1, "gather", "dim"),
                                      arg_tensor(info, 2, "gather", "index")));
}

Napi::Value scatter_add(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::scatter_add(arg_tensor(info, 0, "scatterAdd", "input"),
                                           arg_int(info, 1, "scatterAdd", "dim"),
                                           arg_tensor(info, 2, "scatterAdd", "index"),
                                           arg_tensor(info, 3, "scatterAdd", "src")));
}

}  // namespace

void register_shape(Napi::Env env, Napi::Object exports) {
  define<reshape>(env, exports, "reshape");
  define<expand>(env, exports, "expand");
  define<transpose>(env, exports, "transpose");
  define<permute>(env, exports, "permute");
  define<contiguous>(env, exports, "contiguous");
  define<clone>(env, exports, "clone");
  define<view>(env, exports, "view");
  define<flatten>(env, exports, "flatten");
  define<squeeze>(env, exports, "squeeze");
  define<unsqueeze>(env, exports, "unsqueeze");
  define<broadcast_to>(env, exports, "broadcastTo");
  define<slice>(env, exports, "slice");
  define<narrow>(env, exports, "narrow");
  define<split>(env, exports, "split");
  define<chunk>(env, exports, "chunk");
  define<cat>(env, exports, "cat");
  define<stack>(env, exports, "stack");
  define<index_select>(env, exports, "indexSelect");
  define<gather>(env, exports, "gather");
  define<scatter_add>(env, exports, "scatterAdd");
}

}  // namespace tapegrad::binding
