// Reductions: (tensor, dims | undefined, keepDim).
#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/reduce.h"

namespace tapegrad::binding {

namespace {

Napi::Value sum(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::sum(arg_tensor(info, 0, "sum", "input"), arg_dims(info, 1, "sum"),
                                   arg_bool(info, 2, "sum", "keepDim")));
}

}  // namespace

void register_reduce(Napi::Env env, Napi::Object exports) {
  define<sum>(env, exports, "sum");
}

}  // namespace tapegrad::binding
