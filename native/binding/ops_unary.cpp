// Unary ops and activations: (tensor, ...number options).
#include <optional>
#include <string>

#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/unary.h"

namespace tapegrad::binding {

namespace {

template <Tensor (*Op)(const Tensor&), const char* Name>
Tensor unary(OpArgs& info) {
  return Op(info.tensor(0, Name, "input"));
}

// round(x, decimals?): decimals an integer, 0 when absent.
Tensor round(OpArgs& info) {
  Tensor x = info.tensor(0, "round", "input");
  return ops::round(x, info.present(1) ? info.integer(1, "round", "decimals") : 0);
}

Tensor leaky_relu(OpArgs& info) {
  Tensor x = info.tensor(0, "leakyRelu", "input");
  return ops::leaky_relu(x, info.number(1, "leakyRelu", "negativeSlope"));
}

Tensor elu(OpArgs& info) {
  Tensor x = info.tensor(0, "elu", "input");
  return ops::elu(x, info.number(1, "elu", "alpha"));
}

Tensor gelu(OpArgs& info) {
  Tensor x = info.tensor(0, "gelu", "input");
  const std::string mode = info.string(1, "gelu", "approximate");
  if (mode != "none" && mode != "tanh")
    throw_range_error("gelu: approximate must be 'none' or 'tanh', got '", mode, "'");
  return ops::gelu(x, mode == "tanh" ? ops::GeluApproximate::Tanh : ops::GeluApproximate::None);
}

Tensor softplus(OpArgs& info) {
  Tensor x = info.tensor(0, "softplus", "input");
  const double beta = info.number(1, "softplus", "beta");
  return ops::softplus(x, beta, info.number(2, "softplus", "threshold"));
}

// clamp(x, min?, max?): undefined or null leaves that side open.
Tensor clamp(OpArgs& info) {
  Tensor x = info.tensor(0, "clamp", "input");
  std::optional<double> lo, hi;
  if (info.present(1)) lo = info.number(1, "clamp", "min");
  if (info.present(2)) hi = info.number(2, "clamp", "max");
  return ops::clamp(x, lo, hi);
}

constexpr char kNeg[] = "neg", kAbs[] = "abs", kSign[] = "sign", kFloor[] = "floor", kCeil[] = "ceil",
               kTrunc[] = "trunc", kSquare[] = "square", kRelu[] = "relu",
               kExp[] = "exp", kLog[] = "log", kLog1p[] = "log1p", kExpm1[] = "expm1", kSqrt[] = "sqrt",
               kRsqrt[] = "rsqrt", kSin[] = "sin", kCos[] = "cos", kTanh[] = "tanh", kSigmoid[] = "sigmoid",
               kReciprocal[] = "reciprocal", kSilu[] = "silu";

}  // namespace

void register_unary(Napi::Env env, Napi::Object exports) {
  define_op<unary<ops::neg, kNeg>>(env, exports, kNeg);
  define_op<unary<ops::abs, kAbs>>(env, exports, kAbs);
  define_op<unary<ops::sign, kSign>>(env, exports, kSign);
  define_op<unary<ops::floor, kFloor>>(env, exports, kFloor);
  define_op<unary<ops::ceil, kCeil>>(env, exports, kCeil);
  define_op<round>(env, exports, "round");
  define_op<unary<ops::trunc, kTrunc>>(env, exports, kTrunc);
  define_op<unary<ops::square, kSquare>>(env, exports, kSquare);
  define_op<unary<ops::relu, kRelu>>(env, exports, kRelu);
  define_op<unary<ops::exp, kExp>>(env, exports, kExp);
  define_op<unary<ops::log, kLog>>(env, exports, kLog);
  define_op<unary<ops::log1p, kLog1p>>(env, exports, kLog1p);
  define_op<unary<ops::expm1, kExpm1>>(env, exports, kExpm1);
  define_op<unary<ops::sqrt, kSqrt>>(env, exports, kSqrt);
  define_op<unary<ops::rsqrt, kRsqrt>>(env, exports, kRsqrt);
  define_op<unary<ops::sin, kSin>>(env, exports, kSin);
  define_op<unary<ops::cos, kCos>>(env, exports, kCos);
  define_op<unary<ops::tanh, kTanh>>(env, exports, kTanh);
  define_op<unary<ops::sigmoid, kSigmoid>>(env, exports, kSigmoid);
  define_op<unary<ops::reciprocal, kReciprocal>>(env, exports, kReciprocal);
  define_op<unary<ops::silu, kSilu>>(env, exports, kSilu);
  define_op<leaky_relu>(env, exports, "leakyRelu");
  define_op<elu>(env, exports, "elu");
  define_op<gelu>(env, exports, "gelu");
  define_op<softplus>(env, exports, "softplus");
  define_op<clamp>(env, exports, "clamp");
}

}  // namespace tapegrad::binding
