// Scalar formulas behind the unary ops' generic loops. float64 (and the
// float32 ops computed in double: gelu, silu, softplus, elu, sin, cos and
// the activation gradients) take the kernels' own functions
// (kernels/math_f64.inc), so both give the same bits; float32 exp, expm1,
// tanh, log, log1p and sigmoid are computed in float, as the float32
// kernels of PyTorch are.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace tapegrad::ops::math {

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

// 1 / (1 + e^-x) without overflow: float in float, e^-x only formed for
// x >= 0 (the generic float32 sigmoid); float64 as the kernels.
template <typename T>
T sigmoid(T x) {
  if constexpr (std::is_same_v<T, double>) {
    return sigmoid_f64(x);
  } else {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
}

}  // namespace tapegrad::ops::math
