// tg.nn.functional: softmax, losses, layers. Options arrive as positional
// arguments filled in with their defaults by the TypeScript layer.
#include "binding/addon.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "ops/nn.h"

namespace tapegrad::binding {

namespace {

using ops::Reduction;

Tensor optional_tensor(OpArgs& info, std::size_t i, const char* op, const char* arg) {
  return info.present(i) ? info.tensor(i, op, arg) : Tensor();
}

Reduction arg_reduction(OpArgs& info, std::size_t i, const char* op) {
  const std::string r = info.string(i, op, "reduction");
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw_range_error(op, ": reduction must be 'mean', 'sum' or 'none', got '", r, "'");
}

Tensor softmax(OpArgs& info) {
  return ops::softmax(info.tensor(0, "softmax", "input"), info.integer(1, "softmax", "dim"));
}

Tensor log_softmax(OpArgs& info) {
  return ops::log_softmax(info.tensor(0, "logSoftmax", "input"), info.integer(1, "logSoftmax", "dim"));
}

// (input, target, weight | null, ignoreIndex, labelSmoothing, reduction)
Tensor cross_entropy(OpArgs& info) {
  const char* op = "crossEntropy";
  return ops::cross_entropy(info.tensor(0, op, "input"), info.tensor(1, op, "target"),
                            optional_tensor(info, 2, op, "weight"), info.integer(3, op, "ignoreIndex"),
                            info.number(4, op, "labelSmoothing"), arg_reduction(info, 5, op));
}

// (input, target, weight | null, ignoreIndex, reduction)
Tensor nll_loss(OpArgs& info) {
  const char* op = "nllLoss";
  return ops::nll_loss(info.tensor(0, op, "input"), info.tensor(1, op, "target"),
                       optional_tensor(info, 2, op, "weight"), info.integer(3, op, "ignoreIndex"),
                       arg_reduction(info, 4, op));
}

template <Tensor (*Op)(const Tensor&, const Tensor&, Reduction), const char* Name>
Tensor pair_loss(OpArgs& info) {
  return Op(info.tensor(0, Name, "input"), info.tensor(1, Name, "target"),
            arg_reduction(info, 2, Name));
}

// (input, target, delta, reduction)
Tensor huber_loss(OpArgs& info) {
  const char* op = "huberLoss";
  return ops::huber_loss(info.tensor(0, op, "input"), info.tensor(1, op, "target"),
                         info.number(2, op, "delta"), arg_reduction(info, 3, op));
}

// (input, target, weight | null, reduction)
Tensor binary_cross_entropy(OpArgs& info) {
  const char* op = "binaryCrossEntropy";
  return ops::binary_cross_entropy(info.tensor(0, op, "input"), info.tensor(1, op, "target"),
                                   optional_tensor(info, 2, op, "weight"), arg_reduction(info, 3, op));
}

// (input, target, weight | null, posWeight | null, reduction)
Tensor binary_cross_entropy_with_logits(OpArgs& info) {
  const char* op = "binaryCrossEntropyWithLogits";
  return ops::binary_cross_entropy_with_logits(info.tensor(0, op, "input"), info.tensor(1, op, "target"),
                                               optional_tensor(info, 2, op, "weight"),
                                               optional_tensor(info, 3, op, "posWeight"), arg_reduction(info, 4, op));
}

// (input, normalizedShape, weight | null, bias | null, eps)
Tensor layer_norm(OpArgs& info) {
  const char* op = "layerNorm";
  return ops::layer_norm(info.tensor(0, op, "input"), info.shape(1, op, "normalizedShape"),
                         optional_tensor(info, 2, op, "weight"), optional_tensor(info, 3, op, "bias"),
                         info.number(4, op, "eps"));
}

// (input, weight | null, bias | null, eps) -> [output, batch mean, batch variance]
std::vector<Tensor> batch_norm(OpArgs& info) {
  const char* op = "batchNorm";
  const Tensor x = info.tensor(0, op, "input");
  const Tensor weight = optional_tensor(info, 1, op, "weight"), bias = optional_tensor(info, 2, op, "bias");
  ops::BatchNormed r = ops::batch_norm(x, weight, bias, info.number(3, op, "eps"));
  return {std::move(r.out), std::move(r.mean), std::move(r.var)};
}

// (input, p, training)
Tensor dropout(OpArgs& info) {
  const char* op = "dropout";
  return ops::dropout(info.tensor(0, op, "input"), info.number(1, op, "p"),
                      info.boolean(2, op, "training"));
}

// embedding(indices, weight, paddingIdx?, maxNorm?, normType?): undefined or
// null for no padding row and no renormalisation.
Tensor embedding(OpArgs& info) {
  const char* op = "embedding";
  const Tensor indices = info.tensor(0, op, "indices"), weight = info.tensor(1, op, "weight");
  std::optional<std::int64_t> padding_idx;
  if (info.present(2)) padding_idx = info.integer(2, op, "paddingIdx");
  std::optional<double> max_norm;
  if (info.present(3)) max_norm = info.number(3, op, "maxNorm");
  const double norm_type = info.present(4) ? info.number(4, op, "normType") : 2.0;
  return ops::embedding(indices, weight, padding_idx, max_norm, norm_type);
}

Tensor one_hot(OpArgs& info) {
  return ops::one_hot(info.tensor(0, "oneHot", "indices"), info.integer(1, "oneHot", "numClasses"));
}

// Two integers at i and i + 1: a (height, width) pair the TypeScript layer spread out.
ops::Pair arg_pair(OpArgs& info, std::size_t i, const char* op, const char* arg) {
  return {info.integer(i, op, arg), info.integer(i + 1, op, arg)};
}

// (input, kH, kW, dilationH, dilationW, padH, padW, strideH, strideW)
Tensor unfold(OpArgs& info) {
  const char* op = "unfold";
  // Read in order, so that the first bad argument is the one reported.
  const Tensor x = info.tensor(0, op, "input");
  const ops::Pair kernel = arg_pair(info, 1, op, "kernelSize"), dilation = arg_pair(info, 3, op, "dilation");
  const ops::Pair padding = arg_pair(info, 5, op, "padding"), stride = arg_pair(info, 7, op, "stride");
  return ops::unfold(x, kernel, dilation, padding, stride);
}

// (input, outH, outW, kH, kW, dilationH, dilationW, padH, padW, strideH, strideW)
Tensor fold(OpArgs& info) {
  const char* op = "fold";
  const Tensor x = info.tensor(0, op, "input");
  const ops::Pair output_size = arg_pair(info, 1, op, "outputSize"), kernel = arg_pair(info, 3, op, "kernelSize");
  const ops::Pair dilation = arg_pair(info, 5, op, "dilation"), padding = arg_pair(info, 7, op, "padding");
  const ops::Pair stride = arg_pair(info, 9, op, "stride");
  return ops::fold(x, output_size, kernel, dilation, padding, stride);
}

// (input, weight, bias | null, strideH, strideW, padding mode, padH, padW,
// dilationH, dilationW, groups); mode is 'explicit', 'same' or 'valid'.
Tensor conv2d(OpArgs& info) {
  const char* op = "conv2d";
  const Tensor x = info.tensor(0, op, "input"), weight = info.tensor(1, op, "weight");
  const Tensor bias = optional_tensor(info, 2, op, "bias");
  const ops::Pair stride = arg_pair(info, 3, op, "stride");
  const std::string mode = info.string(5, op, "padding");
  ops::ConvPadding padding_mode = ops::ConvPadding::Explicit;
  if (mode == "same") padding_mode = ops::ConvPadding::Same;
  else if (mode == "valid") padding_mode = ops::ConvPadding::Valid;
  else if (mode != "explicit") throw_range_error(op, ": padding must be a number, a pair, 'same' or 'valid', got '", mode, "'");
  const ops::Pair padding = arg_pair(info, 6, op, "padding"), dilation = arg_pair(info, 8, op, "dilation");
  const std::int64_t groups = info.integer(10, op, "groups");
  return ops::conv2d(x, weight, bias, stride, padding_mode, padding, dilation, groups);
}

// (input, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, ceilMode) -> [values, indices]
std::vector<Tensor> max_pool2d(OpArgs& info) {
  const char* op = "maxPool2d";
  // Read in order, so that the first bad argument is the one reported.
  const Tensor x = info.tensor(0, op, "input");
  const ops::Pair kernel = arg_pair(info, 1, op, "kernelSize"), stride = arg_pair(info, 3, op, "stride");
  const ops::Pair padding = arg_pair(info, 5, op, "padding"), dilation = arg_pair(info, 7, op, "dilation");
  ops::MaxPooled r = ops::max_pool2d(x, kernel, stride, padding, dilation, info.boolean(9, op, "ceilMode"));
  return {std::move(r.values), std::move(r.indices)};
}

// (input, kH, kW, strideH, strideW, padH, padW, ceilMode, countIncludePad, divisorOverride?)
Tensor avg_pool2d(OpArgs& info) {
  const char* op = "avgPool2d";
  const Tensor x = info.tensor(0, op, "input");
  const ops::Pair kernel = arg_pair(info, 1, op, "kernelSize"), stride = arg_pair(info, 3, op, "stride");
  const ops::Pair padding = arg_pair(info, 5, op, "padding");
  const bool ceil_mode = info.boolean(7, op, "ceilMode"), count_include_pad = info.boolean(8, op, "countIncludePad");
  std::optional<std::int64_t> divisor;
  if (info.present(9)) divisor = info.integer(9, op, "divisorOverride");
  return ops::avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor);
}

// (input, outH, outW)
Tensor adaptive_avg_pool2d(OpArgs& info) {
  const char* op = "adaptiveAvgPool2d";
  const Tensor x = info.tensor(0, op, "input");
  return ops::adaptive_avg_pool2d(x, arg_pair(info, 1, op, "outputSize"));
}

constexpr char kMse[] = "mseLoss", kL1[] = "l1Loss";

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  define_op<softmax>(env, exports, "softmax");
  define_op<log_softmax>(env, exports, "logSoftmax");
  define_op<cross_entropy>(env, exports, "crossEntropy");
  define_op<nll_loss>(env, exports, "nllLoss");
  define_op<pair_loss<ops::mse_loss, kMse>>(env, exports, kMse);
  define_op<pair_loss<ops::l1_loss, kL1>>(env, exports, kL1);
  define_op<huber_loss>(env, exports, "huberLoss");
  define_op<binary_cross_entropy>(env, exports, "binaryCrossEntropy");
  define_op<binary_cross_entropy_with_logits>(env, exports, "binaryCrossEntropyWithLogits");
  define_op<layer_norm>(env, exports, "layerNorm");
  define_op<batch_norm>(env, exports, "batchNorm");
  define_op<dropout>(env, exports, "dropout");
  define_op<embedding>(env, exports, "embedding");
  define_op<one_hot>(env, exports, "oneHot");
  define_op<unfold>(env, exports, "unfold");
  define_op<fold>(env, exports, "fold");
  define_op<conv2d>(env, exports, "conv2d");
  define_op<max_pool2d>(env, exports, "maxPool2d");
  define_op<avg_pool2d>(env, exports, "avgPool2d");
  define_op<adaptive_avg_pool2d>(env, exports, "adaptiveAvgPool2d");
}

}  // namespace tapegrad::binding
