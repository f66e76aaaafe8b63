// tg.nn.functional: softmax, losses, layers. Options arrive as positional
// arguments filled in with their defaults by the TypeScript layer.
#include "binding/addon.h"
#include "binding/convert.h"
#include "ops/nn.h"

namespace tapegrad::binding {

namespace {

using ops::Reduction;

Tensor optional_tensor(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* arg) {
  return arg_present(info, i) ? arg_tensor(info, i, op, arg) : Tensor();
}

Reduction arg_reduction(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  const std::string r = arg_string(info, i, op, "reduction");
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw_range_error(op, ": reduction must be 'mean', 'sum' or 'none', got '", r, "'");
}

Napi::Value softmax(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::softmax(arg_tensor(info, 0, "softmax", "input"), arg_int(info, 1, "softmax", "dim")));
}

Napi::Value log_softmax(const Napi::CallbackInfo& info) {
  return wrap(info.Env(),
              ops::log_softmax(arg_tensor(info, 0, "logSoftmax", "input"), arg_int(info, 1, "logSoftmax", "dim")));
}

// (input, target, weight | null, ignoreIndex, labelSmoothing, reduction)
Napi::Value cross_entropy(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropy";
  return wrap(info.Env(), ops::cross_entropy(arg_tensor(info, 0, op, "input"), arg_tensor(info, 1, op, "target"),
                                             optional_tensor(info, 2, op, "weight"), arg_int(info, 3, op, "ignoreIndex"),
                                             arg_number(info, 4, op, "labelSmoothing"), arg_reduction(info, 5, op)));
}

// (input, target, weight | null, ignoreIndex, reduction)
Napi::Value nll_loss(const Napi::CallbackInfo& info) {
  const char* op = "nllLoss";
  return wrap(info.Env(), ops::nll_loss(arg_tensor(info, 0, op, "input"), arg_tensor(info, 1, op, "target"),
                                        optional_tensor(info, 2, op, "weight"), arg_int(info, 3, op, "ignoreIndex"),
                                        arg_reduction(info, 4, op)));
}

template <Tensor (*Op)(const Tensor&, const Tensor&, Reduction), const char* Name>
Napi::Value pair_loss(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), Op(arg_tensor(info, 0, Name, "input"), arg_tensor(info, 1, Name, "target"),
                             arg_reduction(info, 2, Name)));
}

// (input, target, delta, reduction)
Napi::Value huber_loss(const Napi::CallbackInfo& info) {
  const char* op = "huberLoss";
  return wrap(info.Env(), ops::huber_loss(arg_tensor(info, 0, op, "input"), arg_tensor(info, 1, op, "target"),
                                          arg_number(info, 2, op, "delta"), arg_reduction(info, 3, op)));
}

// (input, target, weight | null, reduction)
Napi::Value binary_cross_entropy(const Napi::CallbackInfo& info) {
  const char* op = "binaryCrossEntropy";
  return wrap(info.Env(),
              ops::binary_cross_entropy(arg_tensor(info, 0, op, "input"), arg_tensor(info, 1, op, "target"),
                                        optional_tensor(info, 2, op, "weight"), arg_reduction(info, 3, op)));
}

// (input, target, weight | null, posWeight | null, reduction)
Napi::Value binary_cross_entropy_with_logits(const Napi::CallbackInfo& info) {
  const char* op = "binaryCrossEntropyWithLogits";
  return wrap(info.Env(), ops::binary_cross_entropy_with_logits(
                              arg_tensor(info, 0, op, "input"), arg_tensor(info, 1, op, "target"),
                              optional_tensor(info, 2, op, "weight"), optional_tensor(info, 3, op, "posWeight"),
                              arg_reduction(info, 4, op)));
}

// (input, normalizedShape, weight | null, bias | null, eps)
Napi::Value layer_norm(const Napi::CallbackInfo& info) {
  const char* op = "layerNorm";
  return wrap(info.Env(), ops::layer_norm(arg_tensor(info, 0, op, "input"), arg_shape(info, 1, op, "normalizedShape"),
                                          optional_tensor(info, 2, op, "weight"), optional_tensor(info, 3, op, "bias"),
                                          arg_number(info, 4, op, "eps")));
}

// (input, p, training)
Napi::Value dropout(const Napi::CallbackInfo& info) {
  const char* op = "dropout";
  return wrap(info.Env(), ops::dropout(arg_tensor(info, 0, op, "input"), arg_number(info, 1, op, "p"),
                                       arg_bool(info, 2, op, "training")));
}

Napi::Value embedding(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::embedding(arg_tensor(info, 0, "embedding", "indices"),
                                         arg_tensor(info, 1, "embedding", "weight")));
}

Napi::Value one_hot(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), ops::one_hot(arg_tensor(info, 0, "oneHot", "indices"), arg_int(info, 1, "oneHot", "numClasses")));
}

constexpr char kMse[] = "mseLoss", kL1[] = "l1Loss";

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  define<softmax>(env, exports, "softmax");
  define<log_softmax>(env, exports, "logSoftmax");
  define<cross_entropy>(env, exports, "crossEntropy");
  define<nll_loss>(env, exports, "nllLoss");
  define<pair_loss<ops::mse_loss, kMse>>(env, exports, kMse);
  define<pair_loss<ops::l1_loss, kL1>>(env, exports, kL1);
  define<huber_loss>(env, exports, "huberLoss");
  define<binary_cross_entropy>(env, exports, "binaryCrossEntropy");
  define<binary_cross_entropy_with_logits>(env, exports, "binaryCrossEntropyWithLogits");
  define<layer_norm>(env, exports, "layerNorm");
  define<dropout>(env, exports, "dropout");
  define<embedding>(env, exports, "embedding");
  define<one_hot>(env, exports, "oneHot");
}

}  // namespace tapegrad::binding
