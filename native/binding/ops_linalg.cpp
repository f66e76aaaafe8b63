// Matrix products: matmul, dot, outer, linear.
#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/linalg.h"

namespace tapegrad::binding {

namespace {

template <Tensor (*Op)(const Tensor&, const Tensor&), const char* Name>
Napi::Value product(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), Op(arg_tensor(info, 0, Name, "input"), arg_tensor(info, 1, Name, "other")));
}

Napi::Value linear(const Napi::CallbackInfo& info) {
  const Tensor bias = arg_present(info, 2) ? arg_tensor(info, 2, "linear", "bias") : Tensor();
  return wrap(info.Env(), ops::linear(arg_tensor(info, 0, "linear", "input"), arg_tensor(info, 1, "linear", "weight"),
                                      bias));
}

constexpr char kMatmul[] = "matmul", kDot[] = "dot", kOuter[] = "outer";

}  // namespace

void register_linalg(Napi::Env env, Napi::Object exports) {
  define<product<ops::matmul, kMatmul>>(env, exports, kMatmul);
  define<product<ops::dot, kDot>>(env, exports, kDot);
  define<product<ops::outer, kOuter>>(env, exports, kOuter);
  define<linear>(env, exports, "linear");
}

}  // namespace tapegrad::binding
