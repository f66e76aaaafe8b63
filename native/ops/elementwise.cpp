#include "ops/elementwise.h"

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "ops/elementwise_impl.h"
#include "ops/shape.h"

namespace tapegrad::ops {

namespace {

// Brings both operands to their promoted dtype.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b) {
  const DType d = promote(a.dtype(), b.dtype());
  return {cast(a, d), cast(b, d)};
}

template <typename F>
Tensor arithmetic(const Tensor& a0, const Tensor& b0, const char* op, F f) {
  auto [a, b] = promoted(a0, b0);
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      // Integer overflow wraps, as in PyTorch (signed overflow is undefined in C++).
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) {
        return static_cast<T>(f(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y)));
      });
    } else {
      return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return static_cast<T>(f(x, y)); });
    }
  });
}

// Rejects in-place writes that would corrupt autograd history.
void check_inplace(const Tensor& a, const char* op) {
  if (grad_enabled() && a.requires_grad())
    throw_error(op, ": cannot modify a tensor that requires grad in place", a.is_leaf() ? " (a leaf)" : "",
                "; wrap the update in noGrad(), or use the out-of-place op");
  if (a.storage().locks.load() != 0)
    throw_error(op, ": the tensor is in use by a running async operation; await it before writing");
}

template <typename F>
void arithmetic_inplace(const Tensor& a, const Tensor& b0, const char* op, F f) {
  check_inplace(a, op);
  if (!is_floating(a.dtype()) && is_floating(b0.dtype()))
    throw_type_error(op, ": cannot write a ", dtype_name(b0.dtype()), " result into an int32 tensor in place");
  Tensor b = cast(b0, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::int32_t>) {
      inplace_map<T>(a, b, op, [&](T x, T y) {
        return static_cast<T>(f(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y)));
      });
    } else {
      inplace_map<T>(a, b, op, [&](T x, T y) { return static_cast<T>(f(x, y)); });
    }
  });
  a.bump_version();
}

}  // namespace

Tensor scalar(double value, DType dtype) {
  Tensor t = empty({}, dtype, "scalar");
  visit_dtype(dtype, [&](auto tag) { *t.data<decltype(tag)>() = static_cast<decltype(tag)>(value); });
  return t;
}

Tensor cast(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = visit_dtype(t.dtype(), [&](auto in_tag) {
    using In = decltype(in_tag);
    return visit_dtype(dtype, [&](auto out_tag) {
      using Out = decltype(out_tag);
      return unary_map<In, Out>(t, dtype, "cast", [](In x) { return static_cast<Out>(x); });
    });
  });
  if (is_floating(t.dtype()) && is_floating(dtype)) {
    const DType from = t.dtype();
    record("cast", {t}, out, [from](const Grads& g, const Node&) { return Grads{cast(g[0], from)}; });
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = arithmetic(a, b, "add", [](auto x, auto y) { return x + y; });
  record("add", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Grads& g, const Node& n) {
    return Grads{n.needs_grad(0) ? sum_to(g[0], sa) : Tensor(), n.needs_grad(1) ? sum_to(g[0], sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = arithmetic(a, b, "sub", [](auto x, auto y) { return x - y; });
  record("sub", {a, b}, out, [sa = a.shape(), sb = b.shape()](const Grads& g, const Node& n) {
    return Grads{n.needs_grad(0) ? sum_to(g[0], sa) : Tensor(),
                 n.needs_grad(1) ? sum_to(mul(g[0], scalar(-1, g[0].dtype())), sb) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = arithmetic(a, b, "mul", [](auto x, auto y) { return x * y; });
  record("mul", {a, b}, out, [sa = SavedTensor(a), sb = SavedTensor(b)](const Grads& g, const Node& n) {
    Tensor x = sa.unpack(), y = sb.unpack();
    return Grads{n.needs_grad(0) ? sum_to(mul(g[0], y), x.shape()) : Tensor(),
                 n.needs_grad(1) ? sum_to(mul(g[0], x), y.shape()) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a0, const Tensor& b0) {
  // True division: integer operands divide as float32, as in PyTorch.
  const bool ints = !is_floating(a0.dtype()) && !is_floating(b0.dtype());
  const Tensor a = ints ? cast(a0, DType::Float32) : a0;
  const Tensor b = ints ? cast(b0, DType::Float32) : b0;
  Tensor out = arithmetic(a, b, "div", [](auto x, auto y) { return x / y; });
  record("div", {a, b}, out, [sa = SavedTensor(a), sb = SavedTensor(b)](const Grads& g, const Node& n) {
    Tensor x = sa.unpack(), y = sb.unpack();
    Tensor ga = div(g[0], y);
    return Grads{n.needs_grad(0) ? sum_to(ga, x.shape()) : Tensor(),
                 n.needs_grad(1) ? sum_to(mul(mul(ga, div(x, y)), scalar(-1, g[0].dtype())), y.shape()) : Tensor()};
  });
  return out;
}

void add_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, "addInPlace", [](auto x, auto y) { return x + y; });
}
void sub_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, "subInPlace", [](auto x, auto y) { return x - y; });
}
void mul_inplace(const Tensor& a, const Tensor& b) {
  arithmetic_inplace(a, b, "mulInPlace", [](auto x, auto y) { return x * y; });
}
void copy_inplace(const Tensor& dst, const Tensor& src) {
  arithmetic_inplace(dst, src, "copyFrom", [](auto, auto y) { return y; });
}

}  // namespace tapegrad::ops
