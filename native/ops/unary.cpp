#include "ops/unary.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/elementwise_fast.h"
#include "ops/elementwise_impl.h"
#include "ops/factory.h"
#include "ops/unary_math.h"

namespace tapegrad::ops {

namespace {

// A backward rule of a one-input op: the input's gradient from the output's
// gradient g and a saved tensor (the input or the output).
using Rule = std::function<Tensor(const Tensor& g, const Tensor& saved)>;

// Records an op whose backward reads its input.
void record_with_input(const char* name, const Tensor& x, const Tensor& out, Rule rule) {
  record(name, {x}, out, [sx = SavedTensor(x), rule = std::move(rule)](const Grads& g, const Node&) {
    return Grads{rule(g[0], sx.unpack())};
  });
}

// Records an op whose backward reads its output.
void record_with_output(const char* name, const Tensor& x, const Tensor& out, Rule rule) {
  record(name, {x}, out, [so = SavedTensor::output(out), rule = std::move(rule)](const Grads& g, const Node& node) {
    return Grads{rule(g[0], so.unpack(&node))};
  });
}

// The vectorised kernel's result where x's layout has one, else generic().
template <typename G>
Tensor fast_or(kernels::UnaryOp op, const Tensor& x, const char* name, G generic) {
  if (auto out = fast_unary(op, x, name)) return *std::move(out);
  return generic();
}

Tensor k(double value, const Tensor& like) { return scalar(value, like.dtype()); }
Tensor zero_where_not(const Tensor& mask, const Tensor& g) { return where(mask, g, k(0, g)); }

// Records an op whose gradient is 0 everywhere (sign, the rounding ops).
void record_zero_grad(const char* name, const Tensor& x, const Tensor& out) {
  record(name, {x}, out, [name, shape = x.shape()](const Grads& g, const Node&) {
    return Grads{full(shape, 0, g[0].dtype(), name)};
  });
}

// A parameter as x's dtype holds it (float32 rounds it).
double in_dtype(double value, DType dtype) {
  return dtype == DType::Float32 ? static_cast<double>(static_cast<float>(value)) : value;
}

// The input of a float-valued op: int32 computes as float32, as in PyTorch.
Tensor as_floating(const Tensor& x) { return is_floating(x.dtype()) ? x : cast(x, DType::Float32); }

// out = f(x) for a floating x, in x's dtype.
template <typename F>
Tensor map_floating(const Tensor& x, const char* op, F f) {
  return visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return unary_map<T, T>(x, x.dtype(), op, [&](T v) { return static_cast<T>(f(v)); });
  });
}

// out = f(x) for a floating x, in x's dtype, with f evaluated in double:
// float32 rounds once, as the vectorised kernels do, so that the generic
// loop (strided inputs, TAPEGRAD_ELEMENTWISE=generic) agrees with them.
template <typename F>
Tensor map_floating_in_double(const Tensor& x, const char* op, F f) {
  return map_floating(x, op, [&](auto v) { return f(static_cast<double>(v)); });
}

// out = f(x) for floats and fi(x) for int32, keeping x's dtype.
template <typename F, typename FI>
Tensor map_any(const Tensor& x, const char* op, F f, FI fi) {
  return visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>)
      return unary_map<T, T>(x, x.dtype(), op, fi);
    else
      return unary_map<T, T>(x, x.dtype(), op, [&](T v) { return static_cast<T>(f(v)); });
  });
}

// φ(x)(2 - x²): the second derivative of x·Φ(x).
Tensor gelu_second(const Tensor& x) {
  const Tensor x2 = square(x);
  return mul(mul(exp(mul(x2, k(-0.5, x))), k(math::kInvSqrt2Pi, x)), sub(k(2, x), x2));
}

// With z = 2u, s = σ(z), s' = σ(-z) = 1 - s, t = tanh u = s - s':
// d²/dx² = 4ss'·(u' + x/2·(u'' - 2t·u'²)).
Tensor gelu_tanh_second(const Tensor& x) {
  const Tensor x2 = square(x);
  const Tensor u = mul(add(x, mul(mul(x2, x), k(math::kGeluCubic, x))), k(math::kSqrt2OverPi, x));
  const Tensor s = sigmoid(mul(u, k(2, x))), sn = sigmoid(mul(u, k(-2, x)));
  const Tensor du = mul(add(mul(x2, k(3 * math::kGeluCubic, x)), k(1, x)), k(math::kSqrt2OverPi, x));
  const Tensor ddu = mul(x, k(6 * math::kGeluCubic * math::kSqrt2OverPi, x));
  const Tensor t = sub(s, sn);
  const Tensor inner = add(du, mul(mul(x, k(0.5, x)), sub(ddu, mul(mul(t, k(2, x)), square(du)))));
  return mul(mul(mul(s, sn), k(4, x)), inner);
}

// σ(x)σ(-x)(2 + x(σ(-x) - σ(x))): the second derivative of x·σ(x).
Tensor silu_second(const Tensor& x) {
  const Tensor s = sigmoid(x), sn = sigmoid(neg(x));
  return mul(mul(s, sn), add(mul(x, sub(sn, s)), k(2, x)));
}

// -2y and 1 - 2y: d/dy of (1 - y²) and y(1 - y), the tanh and sigmoid
// derivatives written in their outputs.
Tensor tanh_second(const Tensor& y) { return mul(y, k(-2, y)); }
Tensor sigmoid_second(const Tensor& y) { return sub(k(1, y), mul(y, k(2, y))); }

// grad·f'(v), the first-order backward of an activation f, where v is f's
// input or output (as f' is written). One fused kernel `op` where the layout
// has one; else the generic loop over `slope(g, v)`, evaluated in double
// (float32 rounds once, as the kernels do). Recorded with inputs {grad, v}:
// linear in grad, so its gradient there is the same op again (`again`), and
// gg·grad·(d/dv f'(v)) in v, with `second` written in differentiable ops, so
// that gradients of any order work.
template <typename Slope>
Tensor fused_backward(kernels::BinaryOp op, const char* name, const Tensor& grad0, const Tensor& v, Slope slope,
                      Tensor (*second)(const Tensor&), Tensor (*again)(const Tensor&, const Tensor&)) {
  const Tensor grad = cast(grad0, v.dtype());
  std::optional<Tensor> fast = fast_binary(op, grad, v, name);
  Tensor out = fast ? *std::move(fast) : visit_floating(v.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T>(grad, v, v.dtype(), name, [&](T g, T x) {
      return static_cast<T>(slope(static_cast<double>(g), static_cast<double>(x)));
    });
  });
  record(name, {grad, v}, out, [sg = SavedTensor(grad), sv = SavedTensor(v), second, again](const Grads& g,
                                                                                             const Node& node) {
    const Tensor gv = sv.unpack();
    return Grads{node.needs_grad(0) ? again(g[0], gv) : Tensor(),
                 node.needs_grad(1) ? mul(mul(g[0], sg.unpack()), second(gv)) : Tensor()};
  });
  return out;
}

// Rejects a NaN (or, with finite, an infinite) number argument.
void check_number(double v, bool finite, const char* op, const char* arg) {
  if (std::isnan(v) || (finite && std::isinf(v)))
    throw_range_error(op, ": ", arg, " must be a ", finite ? "finite number" : "number (not NaN)", ", got ",
                      std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
}

bool fits_int32(double v) {
  return std::trunc(v) == v && v >= std::numeric_limits<std::int32_t>::min() &&
         v <= std::numeric_limits<std::int32_t>::max();
}

}  // namespace

// ---- ops that keep int32 -------------------------------------------------

Tensor neg(const Tensor& x) {
  Tensor out = fast_or(kernels::UnaryOp::Neg, x, "neg", [&] {
    return map_any(x, "neg", [](auto v) { return -v; }, [](std::int32_t v) {
      return static_cast<std::int32_t>(0u - static_cast<std::uint32_t>(v));  // wraps: neg(INT32_MIN) = INT32_MIN
    });
  });
  record("neg", {x}, out, [](const Grads& g, const Node&) { return Grads{neg(g[0])}; });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = fast_or(kernels::UnaryOp::Abs, x, "abs", [&] {
    return map_any(x, "abs", [](auto v) { return std::fabs(v); }, [](std::int32_t v) {
      const auto u = static_cast<std::uint32_t>(v);
      return static_cast<std::int32_t>(v < 0 ? 0u - u : u);  // abs(INT32_MIN) wraps to INT32_MIN
    });
  });
  record_with_input("abs", x, out, [](const Tensor& g, const Tensor& v) { return mul(g, sign(v)); });
  return out;
}

Tensor sign(const Tensor& x) {
  Tensor out = fast_or(kernels::UnaryOp::Sign, x, "sign", [&] {
    // Selects over values computed up front, not branches (which a random
    // sign mispredicts half the time), so the loop vectorises.
    return map_any(x, "sign", [](auto v) {
                     using T = decltype(v);
                     const T below = v < T(0) ? T(-1) : v;  // keeps ±0 and NaN
                     return v > T(0) ? T(1) : below;
                   },
                   [](std::int32_t v) { return static_cast<std::int32_t>((v > 0) - (v < 0)); });
  });
  record_zero_grad("sign", x, out);
  return out;
}

namespace {
// A rounding op: the kernel table's `op` on floats where the layout has it,
// else f; int32 values are integral already. (The C library's functions took
// 1.5-2 ns a float32 element, one thread: [16, 1024] floor 24 µs, round 34,
// against PyTorch's 1.8.)
template <typename F>
Tensor rounding(kernels::UnaryOp fast, const Tensor& x, const char* op, F f) {
  Tensor out = fast_or(fast, x, op, [&] { return map_any(x, op, f, [](std::int32_t v) { return v; }); });
  record_zero_grad(op, x, out);
  return out;
}
}  // namespace

Tensor floor(const Tensor& x) {
  return rounding(kernels::UnaryOp::Floor, x, "floor", [](auto v) { return std::floor(v); });
}
Tensor ceil(const Tensor& x) {
  return rounding(kernels::UnaryOp::Ceil, x, "ceil", [](auto v) { return std::ceil(v); });
}
// nearbyint rounds in the current rounding mode: the default, to nearest
// with ties to even (nothing in tapegrad changes it). With decimals, in the
// input's own precision as PyTorch's round(decimals=): x·10^d rounded, then
// divided by 10^d (for d < 0: x/10^-d rounded, times 10^-d).
Tensor round(const Tensor& x, std::int64_t decimals) {
  if (decimals == 0) return rounding(kernels::UnaryOp::Round, x, "round", [](auto v) { return std::nearbyint(v); });
  if (!is_floating(x.dtype()))
    throw_type_error("round: decimals needs a float32 or float64 input, got int32 (int32 rounds only with decimals 0)");
  const bool negative = decimals < 0;
  const double scale = std::pow(10.0, static_cast<double>(negative ? -decimals : decimals));
  Tensor out = map_floating(x, "round", [negative, scale](auto v) {
    using T = decltype(v);
    const T p = static_cast<T>(scale);
    return negative ? std::nearbyint(v / p) * p : std::nearbyint(v * p) / p;
  });
  record_zero_grad("round", x, out);
  return out;
}
Tensor trunc(const Tensor& x) {
  return rounding(kernels::UnaryOp::Trunc, x, "trunc", [](auto v) { return std::trunc(v); });
}

Tensor square(const Tensor& x) {
  Tensor out = fast_or(kernels::UnaryOp::Square, x, "square", [&] {
    return map_any(x, "square", [](auto v) { return v * v; }, [](std::int32_t v) {
      const auto u = static_cast<std::uint32_t>(v);
      return static_cast<std::int32_t>(u * u);
    });
  });
  record_with_input("square", x, out, [](const Tensor& g, const Tensor& v) { return mul(mul(g, v), k(2, g)); });
  return out;
}

Tensor relu_values(const Tensor& x) {
  return fast_or(kernels::UnaryOp::Relu, x, "relu", [&] {
    return map_any(x, "relu", [](auto v) { return v > 0 ? v : v != v ? v : decltype(v)(0); },
                   [](std::int32_t v) { return v > 0 ? v : 0; });
  });
}

Tensor relu(const Tensor& x) {
  Tensor out = relu_values(x);
  record_with_output("relu", x, out, [](const Tensor& g, const Tensor& y) { return relu_backward(g, y); });
  return out;
}

Tensor relu_backward(const Tensor& grad, const Tensor& output) {
  std::optional<Tensor> fast = fast_binary(kernels::BinaryOp::ReluBackward, grad, output, "reluBackward");
  if (!fast) return zero_where_not(gt(output, k(0, output)), grad);
  // Linear in grad with a constant mask, so its own backward is itself; the
  // mask has no gradient, so the output is kept without its history.
  record("reluBackward", {grad}, *fast, [sy = SavedTensor(detach(output))](const Grads& g, const Node&) {
    return Grads{relu_backward(g[0], sy.unpack())};
  });
  return *std::move(fast);
}

Tensor clamp(const Tensor& x0, std::optional<double> lo, std::optional<double> hi) {
  if (!lo && !hi) throw_type_error("clamp: at least one of min and max must be given");
  // Bounds that int32 cannot hold (NaN too) make the result float32 (PyTorch's promotion with a float scalar).
  const bool keep_int = !is_floating(x0.dtype()) && (!lo || fits_int32(*lo)) && (!hi || fits_int32(*hi));
  const Tensor x = keep_int || is_floating(x0.dtype()) ? x0 : cast(x0, DType::Float32);
  const double inf = std::numeric_limits<double>::infinity();
  const double low = lo.value_or(-inf), high = hi.value_or(inf);
  // A NaN bound makes every element NaN, as torch.clamp(x, min=nan, max=1)
  // and x.clamp_min(nan) do (no comparison with NaN holds); the backward
  // rule's mask is then 0 everywhere, as PyTorch's gradient.
  const bool nan_bound = std::isnan(low) || std::isnan(high);
  std::optional<Tensor> fast;
  if (nan_bound) fast = full(x.shape(), std::numeric_limits<double>::quiet_NaN(), x.dtype(), "clamp");
  else fast = fast_unary(kernels::UnaryOp::Clamp, x, "clamp", low, high);
  Tensor out = fast ? *std::move(fast) : visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      const T l = lo ? static_cast<T>(low) : std::numeric_limits<T>::min();
      const T h = hi ? static_cast<T>(high) : std::numeric_limits<T>::max();
      return unary_map<T, T>(x, x.dtype(), "clamp", [l, h](T v) { return std::min(std::max(v, l), h); });
    } else {
      // Compared in double so that bounds beyond float's range need no narrowing first.
      return unary_map<T, T>(x, x.dtype(), "clamp", [low, high](T v) {
        if (std::isnan(v)) return v;
        const double c = std::min(std::max(static_cast<double>(v), low), high);
        return c == static_cast<double>(v) ? v : static_cast<T>(c);
      });
    }
  });
  record_with_input("clamp", x, out, [low, high](const Tensor& g, const Tensor& v) {
    // 1 where low <= v <= high: a constant mask (no gradient of its own).
    const Tensor inside = mul(ge(v, k(low, v)), le(v, k(high, v)));
    return zero_where_not(inside, g);
  });
  return out;
}

// ---- float-valued ops ----------------------------------------------------

Tensor exp(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Exp, x, "exp", [&] {
    return map_floating(x, "exp", [](auto v) { return math::exp_of(v); });
  });
  record_with_output("exp", x, out, [](const Tensor& g, const Tensor& y) { return mul(g, y); });
  return out;
}

Tensor log(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Log, x, "log", [&] {
    return map_floating(x, "log", [](auto v) { return math::log_of(v); });
  });
  record_with_input("log", x, out, [](const Tensor& g, const Tensor& v) { return div(g, v); });
  return out;
}

Tensor log1p(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Log1p, x, "log1p", [&] {
    return map_floating(x, "log1p", [](auto v) { return math::log1p_of(v); });
  });
  record_with_input("log1p", x, out, [](const Tensor& g, const Tensor& v) { return div(g, add(v, k(1, v))); });
  return out;
}

Tensor expm1(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Expm1, x, "expm1", [&] {
    return map_floating(x, "expm1", [](auto v) { return math::expm1_of(v); });
  });
  record_with_output("expm1", x, out, [](const Tensor& g, const Tensor& y) { return mul(g, add(y, k(1, y))); });
  return out;
}

Tensor sqrt(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Sqrt, x, "sqrt", [&] {
    return map_floating(x, "sqrt", [](auto v) { return std::sqrt(v); });
  });
  record_with_output("sqrt", x, out, [](const Tensor& g, const Tensor& y) { return div(g, mul(y, k(2, y))); });
  return out;
}

Tensor rsqrt(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  // 1/√x rounded twice, as the C library's sqrt then a division would.
  Tensor out = fast_or(kernels::UnaryOp::Rsqrt, x, "rsqrt", [&] {
    return map_floating(x, "rsqrt", [](auto v) { return decltype(v)(1) / std::sqrt(v); });
  });
  // d/dx x^(-1/2) = -y³/2.
  record_with_output("rsqrt", x, out, [](const Tensor& g, const Tensor& y) {
    return mul(mul(g, mul(y, square(y))), k(-0.5, y));
  });
  return out;
}

Tensor sin(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Sin, x, "sin", [&] {
    return map_floating_in_double(x, "sin", [](double v) { return math::sin_f64(v); });
  });
  record_with_input("sin", x, out, [](const Tensor& g, const Tensor& v) { return mul(g, cos(v)); });
  return out;
}

Tensor cos(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Cos, x, "cos", [&] {
    return map_floating_in_double(x, "cos", [](double v) { return math::cos_f64(v); });
  });
  record_with_input("cos", x, out, [](const Tensor& g, const Tensor& v) { return neg(mul(g, sin(v))); });
  return out;
}

Tensor tanh(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Tanh, x, "tanh", [&] {
    return map_floating(x, "tanh", [](auto v) { return math::tanh_of(v); });
  });
  record_with_output("tanh", x, out, [](const Tensor& g, const Tensor& y) { return tanh_backward(g, y); });
  return out;
}

Tensor tanh_backward(const Tensor& grad, const Tensor& output) {
  return fused_backward(
      kernels::BinaryOp::TanhBackward, "tanhBackward", grad, output, [](double g, double y) { return g * (1.0 - y * y); },
      tanh_second, tanh_backward);
}

Tensor sigmoid(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Sigmoid, x, "sigmoid", [&] {
    return map_floating(x, "sigmoid", [](auto v) { return math::sigmoid(v); });
  });
  record_with_output("sigmoid", x, out, [](const Tensor& g, const Tensor& y) { return sigmoid_backward(g, y); });
  return out;
}

Tensor sigmoid_backward(const Tensor& grad, const Tensor& output) {
  return fused_backward(
      kernels::BinaryOp::SigmoidBackward, "sigmoidBackward", grad, output,
      [](double g, double y) { return g * (y * (1.0 - y)); }, sigmoid_second, sigmoid_backward);
}

Tensor reciprocal(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Reciprocal, x, "reciprocal", [&] {
    return map_floating(x, "reciprocal", [](auto v) { return decltype(v)(1) / v; });
  });
  record_with_output("reciprocal", x, out, [](const Tensor& g, const Tensor& y) { return neg(mul(g, square(y))); });
  return out;
}

// ---- activations ---------------------------------------------------------

Tensor leaky_relu(const Tensor& x0, double negative_slope) {
  check_number(negative_slope, true, "leakyRelu", "negativeSlope");
  const Tensor x = as_floating(x0);
  // The slope in x's dtype, as the kernel takes it (other layouts: the same formula).
  const double slope = in_dtype(negative_slope, x.dtype());
  std::optional<Tensor> fast = fast_unary(kernels::UnaryOp::LeakyRelu, x, "leakyRelu", slope);
  Tensor out = fast ? *std::move(fast) : map_floating(x, "leakyRelu", [slope](auto v) {
    using T = decltype(v);
    const T scaled = v * static_cast<T>(slope);  // a select below, not a branch: vectorises
    return v > T(0) ? v : scaled;
  });
  record_with_input("leakyRelu", x, out, [negative_slope](const Tensor& g, const Tensor& v) {
    return leaky_relu_backward(g, v, negative_slope);
  });
  return out;
}

// g where x > 0, else g·slope (slope in g's dtype, the product rounded as
// mul's): one pass, where where(x > 0, g, g·slope) took three ([4096,1024]
// float32 forward + backward, one thread: 4.9 -> 2.95 ms; PyTorch 3.0).
// Linear in g with a mask of x, so its own backward is itself and x gets no
// gradient.
Tensor leaky_relu_backward(const Tensor& grad0, const Tensor& x, double negative_slope) {
  const Tensor grad = cast(grad0, x.dtype());
  Tensor out = visit_floating(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T slope = static_cast<T>(negative_slope);
    return binary_map<T, T>(grad, x, grad.dtype(), "leakyReluBackward", [slope](T g, T v) {
      const T scaled = g * slope;  // a select below, not a branch: vectorises
      return v > T(0) ? g : scaled;
    });
  });
  record("leakyReluBackward", {grad}, out, [sx = SavedTensor(detach(x)), negative_slope](const Grads& g, const Node&) {
    return Grads{leaky_relu_backward(g[0], sx.unpack(), negative_slope)};
  });
  return out;
}

Tensor elu(const Tensor& x0, double alpha) {
  check_number(alpha, true, "elu", "alpha");
  const Tensor x = as_floating(x0);
  // alpha in x's dtype; float32 evaluated in double and rounded once, by the
  // kernel or (other layouts, TAPEGRAD_ELEMENTWISE=generic) the same formula.
  const double a = in_dtype(alpha, x.dtype());
  std::optional<Tensor> fast = fast_unary(kernels::UnaryOp::Elu, x, "elu", a);
  Tensor out = fast ? *std::move(fast) : map_floating_in_double(x, "elu", [a](double v) {
    return math::elu_f64(v, a);
  });
  // For x <= 0 the derivative alpha·e^x is y + alpha; it is taken from the
  // output so that no e^x of a large positive x (inf) enters the graph.
  record("elu", {x}, out, [sx = SavedTensor(x), so = SavedTensor::output(out), alpha](const Grads& g, const Node& node) {
    return Grads{elu_backward(g[0], sx.unpack(), so.unpack(&node), alpha)};
  });
  return out;
}

// g where x > 0, else g·(y + alpha) (alpha in y's dtype, rounded as add's),
// y = elu(x): the slope in one generic pass over x and y, then one product
// (as where(x > 0, g, g·(y + alpha)) it took four passes: [4096,1024]
// float32 forward + backward, one thread, 11.8 -> 9.6 ms; PyTorch 7.7). Recorded
// with inputs {g, y}: linear in g (its gradient there is this op again) and
// g where not x > 0 in y, through which the second derivative reaches x.
Tensor elu_backward(const Tensor& grad0, const Tensor& x, const Tensor& y, double alpha) {
  const Tensor grad = cast(grad0, y.dtype());
  const Tensor slope = visit_floating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(alpha);
    return binary_map<T, T>(x, y, y.dtype(), "eluBackward", [a](T v, T out) {
      const T s = out + a;  // a select below, not a branch: vectorises
      return v > T(0) ? T(1) : s;
    });
  });
  Tensor out;
  {
    GradModeGuard no_grad(false);  // recorded below, with y as an input
    out = mul(grad, slope);
  }
  record("eluBackward", {grad, y}, out,
         [sg = SavedTensor(grad), sx = SavedTensor(detach(x)), sy = SavedTensor(y), alpha](const Grads& g,
                                                                                           const Node& node) {
           const Tensor v = sx.unpack();
           return Grads{node.needs_grad(0) ? elu_backward(g[0], v, sy.unpack(), alpha) : Tensor(),
                        node.needs_grad(1) ? where(gt(v, k(0, v)), k(0, v), mul(g[0], sg.unpack())) : Tensor()};
         });
  return out;
}

Tensor gelu(const Tensor& x0, GeluApproximate approximate) {
  const Tensor x = as_floating(x0);
  if (approximate == GeluApproximate::Tanh) {
    Tensor out = fast_or(kernels::UnaryOp::GeluTanh, x, "gelu", [&] {
      return map_floating_in_double(x, "gelu", [](double v) { return math::gelu_tanh_f64(v); });
    });
    record_with_input("gelu", x, out, [](const Tensor& g, const Tensor& v) {
      return gelu_backward(g, v, GeluApproximate::Tanh);
    });
    return out;
  }
  Tensor out = fast_or(kernels::UnaryOp::Gelu, x, "gelu", [&] {
    return map_floating_in_double(x, "gelu", [](double v) { return math::gelu_f64(v); });
  });
  record_with_input("gelu", x, out, [](const Tensor& g, const Tensor& v) {
    return gelu_backward(g, v, GeluApproximate::None);
  });
  return out;
}

namespace {
Tensor gelu_erf_backward(const Tensor& grad, const Tensor& input) {
  return gelu_backward(grad, input, GeluApproximate::None);
}
Tensor gelu_tanh_backward(const Tensor& grad, const Tensor& input) {
  return gelu_backward(grad, input, GeluApproximate::Tanh);
}
}  // namespace

Tensor gelu_backward(const Tensor& grad, const Tensor& input, GeluApproximate approximate) {
  if (approximate == GeluApproximate::Tanh)
    return fused_backward(
        kernels::BinaryOp::GeluTanhBackward, "geluBackward", grad, input,
        [](double g, double x) { return g * math::gelu_tanh_grad_f64(x); }, gelu_tanh_second, gelu_tanh_backward);
  return fused_backward(
      kernels::BinaryOp::GeluBackward, "geluBackward", grad, input,
      [](double g, double x) { return g * math::gelu_grad_f64(x); }, gelu_second, gelu_erf_backward);
}

Tensor silu(const Tensor& x0) {
  const Tensor x = as_floating(x0);
  Tensor out = fast_or(kernels::UnaryOp::Silu, x, "silu", [&] {
    return map_floating_in_double(x, "silu", [](double v) { return math::silu_f64(v); });
  });
  record_with_input("silu", x, out, [](const Tensor& g, const Tensor& v) { return silu_backward(g, v); });
  return out;
}

Tensor silu_backward(const Tensor& grad, const Tensor& input) {
  return fused_backward(
      kernels::BinaryOp::SiluBackward, "siluBackward", grad, input,
      [](double g, double x) { return g * math::silu_grad_f64(x); }, silu_second, silu_backward);
}

Tensor softplus(const Tensor& x0, double beta, double threshold) {
  check_number(beta, true, "softplus", "beta");
  if (beta == 0) throw_range_error("softplus: beta must be nonzero, got 0");
  check_number(threshold, false, "softplus", "threshold");
  const Tensor x = as_floating(x0);
  // beta and threshold in x's dtype; float32 evaluated in double as elu.
  const double b = in_dtype(beta, x.dtype()), limit = in_dtype(threshold, x.dtype());
  std::optional<Tensor> fast = fast_unary(kernels::UnaryOp::Softplus, x, "softplus", b, limit);
  Tensor out = fast ? *std::move(fast) : map_floating_in_double(x, "softplus", [b, limit](double v) {
    return math::softplus_f64(v, b, limit);
  });
  // d/dx = σ(βx) below the threshold, 1 above it (where the op is x itself).
  // A threshold past where σ rounds to 1 (βx > 17.33 in float32, 36.8 in
  // float64; the default 20 for float32, and binaryCrossEntropyWithLogits'
  // Infinity) needs no mask: σ(βx) is 1 there anyway, so g·σ(βx) is g.
  // Otherwise the threshold is tested as the forward tests it (βx in double
  // against the parameters in x's dtype), so both take the same branch: βx
  // rounded to float could fall on the other side (x = 5.7142859, β = 0.7,
  // threshold 4).
  record_with_input("softplus", x, out, [b, limit](const Tensor& g, const Tensor& v) {
    const Tensor slope = sigmoid(b == 1 ? v : mul(v, k(b, v)));
    if (limit >= (v.dtype() == DType::Float32 ? 18.0 : 38.0)) return mul(g, slope);
    const Tensor above = map_floating(v, "softplus", [b, limit](auto t) {
      return static_cast<double>(t) * b > limit ? 1.0 : 0.0;
    });
    return where(above, g, mul(g, slope));
  });
  return out;
}

}  // namespace tapegrad::ops
