// scaledDotProductAttention. Options arrive as positional arguments filled in
// with their defaults by the TypeScript layer.
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/attention.h"

namespace tapegrad::binding {

namespace {

// (query, key, value, attnMask | null, isCausal, scale | null)
Napi::Value scaled_dot_product_attention(const Napi::CallbackInfo& info) {
  const char* op = "scaledDotProductAttention";
  const Tensor mask = arg_present(info, 3) ? arg_tensor(info, 3, op, "attnMask") : Tensor();
  const std::optional<double> scale =
      arg_present(info, 5) ? std::optional<double>(arg_number(info, 5, op, "scale")) : std::nullopt;
  return wrap(info.Env(), ops::scaled_dot_product_attention(arg_tensor(info, 0, op, "query"),
                                                            arg_tensor(info, 1, op, "key"),
                                                            arg_tensor(info, 2, op, "value"), mask,
                                                            arg_bool(info, 4, op, "isCausal"), scale));
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  define<scaled_dot_product_attention>(env, exports, "scaledDotProductAttention");
}

}  // namespace tapegrad::binding
