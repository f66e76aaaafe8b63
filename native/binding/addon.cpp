// The addon's entry point: per-environment data and the exported functions.
#include "binding/addon.h"

#include "binding/convert.h"

namespace tapegrad::binding {

namespace {

Napi::Value set_error_class(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "init: expected the TapegradError class");
  addon_data(info.Env()).tapegrad_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData>(new AddonData());
  define<set_error_class>(env, exports, "setErrorClass");
  register_tensor(env, exports);
  register_autograd(env, exports);
  register_elementwise(env, exports);
  register_unary(env, exports);
  register_reduce(env, exports);
  register_shape(env, exports);
  register_linalg(env, exports);
  register_nn(env, exports);
  register_attention(env, exports);
  register_optim(env, exports);
  register_runtime(env, exports);
  register_trace(env, exports);
  return exports;
}

AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace tapegrad::binding

static Napi::Object InitTapegrad(Napi::Env env, Napi::Object exports) { return tapegrad::binding::init(env, exports); }

NODE_API_MODULE(tapegrad, InitTapegrad)
