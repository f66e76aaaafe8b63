// Matrix products: matmul, dot, outer, linear.
#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/linalg.h"

namespace tapegrad::binding {

namespace {

template <Tensor (*Op)(const Tensor&, const Tensor&), const char* Name>
Tensor product(OpArgs& info) {
  return Op(info.tensor(0, Name, "input"), info.tensor(1, Name, "other"));
}

// The fourth argument, true: ReLU right after the product, in the same op (nn.Sequential's Linear then ReLU).
Tensor linear(OpArgs& info) {
  const Tensor bias = info.present(2) ? info.tensor(2, "linear", "bias") : Tensor();
  const bool relu_after = info.present(3) && info.boolean(3, "linear", "reluAfter");
  return ops::linear(info.tensor(0, "linear", "input"), info.tensor(1, "linear", "weight"), bias, relu_after);
}

constexpr char kMatmul[] = "matmul", kDot[] = "dot", kOuter[] = "outer";

}  // namespace

void register_linalg(Napi::Env env, Napi::Object exports) {
  define_op<product<ops::matmul, kMatmul>>(env, exports, kMatmul);
  define_op<product<ops::dot, kDot>>(env, exports, kDot);
  define_op<product<ops::outer, kOuter>>(env, exports, kOuter);
  define_op<linear>(env, exports, "linear");
}

}  // namespace tapegrad::binding
