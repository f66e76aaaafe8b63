// Shape and indexing ops.
#include "binding/addon.h"
#include "binding/convert.h"
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

}  // namespace

void register_shape(Napi::Env env, Napi::Object exports) {
  define<reshape>(env, exports, "reshape");
  define<expand>(env, exports, "expand");
  define<transpose>(env, exports, "transpose");
  define<permute>(env, exports, "permute");
  define<contiguous>(env, exports, "contiguous");
  define<clone>(env, exports, "clone");
}

}  // namespace tapegrad::binding
