// scaledDotProductAttention. Options arrive as positional arguments filled in
// with their defaults by the TypeScript layer.
#include <optional>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/attention.h"

namespace tapegrad::binding {

namespace {

// (query, key, value, attnMask | null, isCausal, scale | null)
Tensor scaled_dot_product_attention(OpArgs& info) {
  const char* op = "scaledDotProductAttention";
  const Tensor mask = info.present(3) ? info.tensor(3, op, "attnMask") : Tensor();
  const std::optional<double> scale =
      info.present(5) ? std::optional<double>(info.number(5, op, "scale")) : std::nullopt;
  return ops::scaled_dot_product_attention(info.tensor(0, op, "query"),
                                           info.tensor(1, op, "key"),
                                           info.tensor(2, op, "value"), mask,
                                           info.boolean(4, op, "isCausal"), scale);
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  define_op<scaled_dot_product_attention>(env, exports, "scaledDotProductAttention");
}

}  // namespace tapegrad::binding
