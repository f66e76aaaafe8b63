// tg.nn.functional: softmax, losses and layers, with PyTorch's semantics.
// Forwards are fused loops; backward rules are written with differentiable
// ops, so every op here also has gradients of gradients.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace tapegrad::ops {

enum class Reduction { None, Mean, Sum };

// exp(x - max) / sum(exp(x - max)) along `dim`.
Tensor softmax(const Tensor& x, std::int64_t dim);
// x - max - log(sum(exp(x - max))) along `dim`.
Tensor log_softmax(const Tensor& x, std::int64_t dim);

// Class-index losses take int32 targets of the input's shape without the
// class dim (dim 1, or dim 0 for an unbatched 1-D input). `weight` (one per
// class, may be undefined) rescales each class; targets equal to
// `ignore_index` contribute nothing, to the loss or to the mean's divisor.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                Reduction reduction);
// log_softmax + nll_loss for int32 targets; for float targets of the input's
// shape, class probabilities. label_smoothing mixes in the uniform distribution.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                     double label_smoothing, Reduction reduction);

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction);
// 0.5·d² where |d| < delta, else delta·(|d| - 0.5·delta).
Tensor huber_loss(const Tensor& input, const Tensor& target, double delta, Reduction reduction);
// -w·(t·log(x) + (1 - t)·log(1 - x)) with each log clamped at -100, x in [0, 1].
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction);
// binary_cross_entropy(sigmoid(x), t) computed stably; pos_weight scales the
// positive term (both optional, broadcast to the input).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction reduction);

// Normalises over the trailing dims given by `normalized_shape`, then applies
// the optional elementwise affine weight and bias (of that shape).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps);
// batchNorm in training, fused: x [N, C, ...] normalised per channel by the
// batch's mean and biased variance (over every dim but 1; gradients flow
// through both), then the optional weight and bias [C]. Also returns the
// batch's mean and biased variance [C], without history, for the running
// statistics (which the TypeScript layer updates).
struct BatchNormed {
  Tensor out, mean, var;
};
BatchNormed batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// Zeroes each element with probability p (global generator) and scales the
// rest by 1/(1-p); returns x itself when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training);
// Rows of `weight` [num, dim] picked by int32 `indices`: shape indices + [dim].
// Lookups of row `padding_idx` (negative counts from the end) send it no gradient.
// With max_norm, each looked-up row of weight whose norm_type-norm exceeds
// it is first scaled down to it, in place and unrecorded (PyTorch's
// embedding_renorm_): weight's version changes.
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<std::int64_t> padding_idx,
                 std::optional<double> max_norm = std::nullopt, double norm_type = 2);
// A pair of sizes (height, width) for the 2-D window ops.
using Pair = std::array<std::int64_t, 2>;

// Pooling over the last two dims of x [N, C, H, W] (or [C, H, W]), as
// PyTorch's: windows of `kernel` every `stride`, padding at most half the
// kernel (max: -Infinity; average: see count_include_pad), ceil_mode counts
// a last partial window that starts inside the input.
struct MaxPooled {
  Tensor values;   // differentiable: each gradient goes to its window's argmax
  Tensor indices;  // int32 argmax positions h·W + w in each plane
};
MaxPooled max_pool2d(const Tensor& x, const Pair& kernel, const Pair& stride, const Pair& padding,
                     const Pair& dilation, bool ceil_mode);
// The average of each window: over its taps inside the padded input
// (count_include_pad) or inside the input, or divided by divisor_override.
Tensor avg_pool2d(const Tensor& x, const Pair& kernel, const Pair& stride, const Pair& padding, bool ceil_mode,
                  bool count_include_pad, std::optional<std::int64_t> divisor_override);
// The average over output_size windows tiling each plane, as PyTorch's
// adaptive_avg_pool2d: output i of n along a dim of size s averages
// [floor(i·s/n), ceil((i + 1)·s/n)).
Tensor adaptive_avg_pool2d(const Tensor& x, const Pair& output_size);

// im2col, as PyTorch's unfold: x [N, C, H, W] (or [C, H, W]) gives the
// blocks of kernelSize as columns, [N, C·kh·kw, L] (or [C·kh·kw, L]), L the
// number of blocks; rows are channel-major, then kernel row, then column.
// Zero padding on both sides of each spatial dim. Its gradient is fold.
Tensor unfold(const Tensor& x, const Pair& kernel, const Pair& dilation, const Pair& padding, const Pair& stride);
// col2im, unfold's adjoint: sums the columns of x [N, C·kh·kw, L] (or
// [C·kh·kw, L]) back onto planes of output_size, [N, C, H, W] (or [C, H, W]).
// Its gradient is unfold.
Tensor fold(const Tensor& x, const Pair& output_size, const Pair& kernel, const Pair& dilation, const Pair& padding,
            const Pair& stride);

// Padding of conv2d: the given pair, 'same' (output size = input size, stride
// 1; an odd total puts the extra row/column after) or 'valid' (none).
enum class ConvPadding { Explicit, Same, Valid };
// 2-D cross-correlation of x [N, C, H, W] (or [C, H, W]) with weight
// [O, C/groups, kh, kw] plus an optional bias [O], composed of recorded ops:
// unfold, then one batched matmul per group.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Pair& stride, ConvPadding mode,
              const Pair& padding, const Pair& dilation, std::int64_t groups);

// int32 one-hot vectors of length num_classes (-1: max index + 1).
Tensor one_hot(const Tensor& indices, std::int64_t num_classes);

}  // namespace tapegrad::ops
