// Unary ops and activations: (tensor, ...number options).
#include <optional>
#include <string>

#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/unary.h"

namespace tapegrad::binding {

namespace {

template <Tensor (*Op)(const Tensor&), const char* Name>
Napi::Value unary(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), Op(arg_tensor(info, 0, Name, "input")));
}

Napi::Value leaky_relu(const Napi::CallbackInfo& info) {
  Tensor x = arg_tensor(info, 0, "leakyRelu", "input");
  return wrap(info.Env(), ops::leaky_relu(x, arg_number(info, 1, "leakyRelu", "negativeSlope")));
}

Napi::Value elu(const Napi::CallbackInfo& info) {
  Tensor x = arg_tensor(info, 0, "elu", "input");
  return wrap(info.Env(), ops::elu(x, arg_number(info, 1, "elu", "alpha")));
}

Napi::Value gelu(const Napi::CallbackInfo& info) {
  Tensor x = arg_tensor(info, 0, "gelu", "input");
  const std::string mode = arg_string(info, 1, "gelu", "approximate");
  if (mode != "none" && mode != "tanh")
    throw_range_error("gelu: approximate must be 'none' or 'tanh', got '", mode, "'");
  return wrap(info.Env(), ops::gelu(x, mode == "tanh" ? ops::GeluApproximate::Tanh : ops::GeluApproximate::None));
}

Napi::Value softplus(const Napi::CallbackInfo& info) {
  Tensor x = arg_tensor(info, 0, "softplus", "input");
  const double beta = arg_number(info, 1, "softplus", "beta");
  return wrap(info.Env(), ops::softplus(x, beta, arg_number(info, 2, "softplus", "threshold")));
}

// clamp(x, min?, max?): undefined or null leaves that side open.
Napi::Value clamp(const Napi::CallbackInfo& info) {
  Tensor x = arg_tensor(info, 0, "clamp", "input");
  std::optional<double> lo, hi;
  if (arg_present(info, 1)) lo = arg_number(info, 1, "clamp", "min");
  if (arg_present(info, 2)) hi = arg_number(info, 2, "clamp", "max");
  return wrap(info.Env(), ops::clamp(x, lo, hi));
}

constexpr char kNeg[] = "neg", kAbs[] = "abs", kSign[] = "sign", kSquare[] = "square", kRelu[] = "relu",
               kExp[] = "exp", kLog[] = "log", kLog1p[] = "log1p", kExpm1[] = "expm1", kSqrt[] = "sqrt",
               kRsqrt[] = "rsqrt", kSin[] = "sin", kCos[] = "cos", kTanh[] = "tanh", kSigmoid[] = "sigmoid",
               kReciprocal[] = "reciprocal", kSilu[] = "silu";

}  // namespace

void register_unary(Napi::Env env, Napi::Object exports) {
  define<unary<ops::neg, kNeg>>(env, exports, kNeg);
  define<unary<ops::abs, kAbs>>(env, exports, kAbs);
  define<unary<ops::sign, kSign>>(env, exports, kSign);
  define<unary<ops::square, kSquare>>(env, exports, kSquare);
  define<unary<ops::relu, kRelu>>(env, exports, kRelu);
  define<unary<ops::exp, kExp>>(env, exports, kExp);
  define<unary<ops::log, kLog>>(env, exports, kLog);
  define<unary<ops::log1p, kLog1p>>(env, exports, kLog1p);
  define<unary<ops::expm1, kExpm1>>(env, exports, kExpm1);
  define<unary<ops::sqrt, kSqrt>>(env, exports, kSqrt);
  define<unary<ops::rsqrt, kRsqrt>>(env, exports, kRsqrt);
  define<unary<ops::sin, kSin>>(env, exports, kSin);
  define<unary<ops::cos, kCos>>(env, exports, kCos);
  define<unary<ops::tanh, kTanh>>(env, exports, kTanh);
  define<unary<ops::sigmoid, kSigmoid>>(env, exports, kSigmoid);
  define<unary<ops::reciprocal, kReciprocal>>(env, exports, kReciprocal);
  define<unary<ops::silu, kSilu>>(env, exports, kSilu);
  define<leaky_relu>(env, exports, "leakyRelu");
  define<elu>(env, exports, "elu");
  define<gelu>(env, exports, "gelu");
  define<softplus>(env, exports, "softplus");
  define<clamp>(env, exports, "clamp");
}

}  // namespace tapegrad::binding
