// Elementwise unary ops and activations. neg, abs, sign, the rounding ops,
// square, relu and clamp keep int32 (int32 arithmetic wraps); the others are
// float-valued and compute an int32 input as float32, as PyTorch does.
#pragma once

#include <optional>

#include "core/tensor.h"

namespace tapegrad::ops {

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
// -1, 0 or 1 (NaN and ±0 pass through, as Math.sign); its gradient is 0.
Tensor sign(const Tensor& x);
// Rounding to an integral value: down, up, to the nearest (ties to even, as
// torch.round) and toward zero. NaN, ±Infinity and ±0 pass through; int32
// input comes back unchanged (a copy, still int32). The gradient is 0 (as
// PyTorch's: 0 between the jumps, where the derivative exists).
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x, std::int64_t decimals = 0);
Tensor trunc(const Tensor& x);
Tensor square(const Tensor& x);
Tensor relu(const Tensor& x);
// relu's values without recording it (linear's fused ReLU records its own node).
Tensor relu_values(const Tensor& x);
// The gradient of relu: grad where output > 0, else 0 (NaN outputs block
// it). Differentiable in grad (its backward is itself), for double backward.
Tensor relu_backward(const Tensor& grad, const Tensor& output);
// min(max(x, lo), hi); either bound may be absent, not both. lo > hi gives hi
// everywhere. Gradient 1 inside [lo, hi] (inclusive), 0 outside. int32 input
// stays int32 when every bound is an integer int32 can hold.
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
// The gradients of tanh and sigmoid from their output y: grad·(1 - y²) and
// grad·y·(1 - y), one fused kernel. Differentiable in both arguments.
Tensor tanh_backward(const Tensor& grad, const Tensor& output);
Tensor sigmoid_backward(const Tensor& grad, const Tensor& output);
Tensor reciprocal(const Tensor& x);

Tensor leaky_relu(const Tensor& x, double negative_slope);
Tensor leaky_relu_backward(const Tensor& grad, const Tensor& x, double negative_slope);
Tensor elu_backward(const Tensor& grad, const Tensor& x, const Tensor& y, double alpha);
Tensor elu(const Tensor& x, double alpha);
enum class GeluApproximate { None, Tanh };
// x·Φ(x) with the exact erf form, or PyTorch's tanh approximation.
Tensor gelu(const Tensor& x, GeluApproximate approximate);
Tensor silu(const Tensor& x);
// The gradients of gelu and silu from their input: grad·f'(input), one fused
// kernel. Differentiable in both arguments (gradients of any order).
Tensor gelu_backward(const Tensor& grad, const Tensor& input, GeluApproximate approximate);
Tensor silu_backward(const Tensor& grad, const Tensor& input);
// log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold.
Tensor softplus(const Tensor& x, double beta, double threshold);

}  // namespace tapegrad::ops
