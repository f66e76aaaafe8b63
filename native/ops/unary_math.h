// Scalar formulas behind the unary ops, in forms that stay accurate and free
// of NaN at the extremes (large |x|, ±Infinity). T is float or double; float
// inputs are computed in float, as the float32 kernels of PyTorch are, except
// by gelu, silu and the activation gradients, which call the double versions
// so that their generic loops agree with the vectorised kernels.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tapegrad::ops::math {

// float64 e^x, e^x - 1, σ, tanh, log, log(1 + x), sin and cos as the
// kernels compute them.
#include "kernels/math_f64.inc"

// e^x, e^x - 1, tanh, log and log(1 + x): float64 by math_f64.inc (the
// kernels' bits), float by the C library's float functions.
template <typename T>
T exp_of(T x) {
  if constexpr (std::is_same_v<T, double>) return exp_f64(x);
  else return std::exp(x);
}
template <typename T>
T expm1_of(T x) {
  if constexpr (std::is_same_v<T, double>) return expm1_f64(x);
  else return std::expm1(x);
}
template <typename T>
T tanh_of(T x) {
  if constexpr (std::is_same_v<T, double>) return tanh_f64(x);
  else return std::tanh(x);
}
template <typename T>
T log_of(T x) {
  if constexpr (std::is_same_v<T, double>) return log_f64(x);
  else return std::log(x);
}
template <typename T>
T log1p_of(T x) {
  if constexpr (std::is_same_v<T, double>) return log1p_f64(x);
  else return std::log1p(x);
}

inline constexpr double kSqrtHalf = 0.70710678118654752440;         // 1/√2
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;       // 1/√(2π)
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;      // √(2/π), tanh-gelu
inline constexpr double kGeluCubic = 0.044715;                      // tanh-gelu

// 1 / (1 + e^-x) without overflow: e^-x is only formed for x >= 0.
template <typename T>
T sigmoid(T x) {
  if constexpr (std::is_same_v<T, double>) return sigmoid_f64(x);
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// log(1 + e^(βx)) / β as max(βx, 0) + log1p(e^-|βx|): no overflow for any βx.
template <typename T>
T softplus(T x, T beta, T threshold) {
  const T bx = x * beta;
  if (bx > threshold || x != x) return x;
  return ((bx > T(0) ? bx : T(0)) + log1p_of(exp_of(-std::fabs(bx)))) / beta;
}

// x·Φ(x) = x·erfc(-x/√2)/2; erfc keeps the tail accurate for x ≪ 0 where
// 1 + erf(x/√2) would cancel. -Infinity gives the limit 0, not -inf·0.
template <typename T>
T gelu(T x) {
  if (x == -std::numeric_limits<T>::infinity()) return T(0);
  return T(0.5) * x * std::erfc(-x * T(kSqrtHalf));
}

// d/dx x·Φ(x) = Φ(x) + x·φ(x).
template <typename T>
T gelu_grad(T x) {
  if (std::isinf(x)) return x > T(0) ? T(1) : T(0);
  const T cdf = T(0.5) * std::erfc(-x * T(kSqrtHalf));
  const T pdf = exp_of(T(-0.5) * x * x) * T(kInvSqrt2Pi);
  return cdf + x * pdf;
}

// The inner argument u(x) = √(2/π)(x + 0.044715x³) of the tanh approximation.
template <typename T>
T gelu_tanh_inner(T x) {
  return T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
}

// x/2·(1 + tanh u) written as x·σ(2u), which is the same function without the
// cancellation of 1 + tanh u for x ≪ 0.
template <typename T>
T gelu_tanh(T x) {
  if (std::isinf(x)) return x > T(0) ? x : T(0);
  return x * sigmoid(T(2) * gelu_tanh_inner(x));
}

// d/dx x·σ(2u) = σ(2u) + 2x·u'·σ(2u)σ(-2u), with u' = √(2/π)(1 + 3·0.044715x²).
template <typename T>
T gelu_tanh_grad(T x) {
  if (std::isinf(x)) return x > T(0) ? T(1) : T(0);
  if (std::isnan(x)) return x;  // the NaN itself, as the kernels
  const T z = T(2) * gelu_tanh_inner(x);
  const T s = sigmoid(z), w = s * sigmoid(-z);
  if (w == T(0)) return s;  // far tails: the second term is 0 (and 0·inf must not make NaN)
  const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
  return s + T(2) * x * du * w;
}

// x·σ(x); -Infinity gives the limit 0.
template <typename T>
T silu(T x) {
  if (x == -std::numeric_limits<T>::infinity()) return T(0);
  return x * sigmoid(x);
}

// d/dx x·σ(x) = σ(x) + x·σ(x)σ(-x).
template <typename T>
T silu_grad(T x) {
  if (std::isinf(x)) return x > T(0) ? T(1) : T(0);
  if (std::isnan(x)) return x;  // the NaN itself, as the kernels
  const T s = sigmoid(x), w = s * sigmoid(-x);
  return w == T(0) ? s : s + x * w;
}

}  // namespace tapegrad::ops::math
