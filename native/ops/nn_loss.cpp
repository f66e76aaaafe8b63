// Losses. Class-index losses validate every target before reading the
// input; their backward scatters the gradient through a constant tensor
// built from the targets (the loss is linear in the log-probabilities).
// Elementwise losses are fused forward loops whose backward multiplies the
// incoming gradient by differentiable expressions of the inputs.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "core/strided.h"
#include "ops/common.h"
#include "ops/elementwise.h"
#include "ops/elementwise_impl.h"
#include "ops/factory.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/reduce_fast.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

using i64 = std::int64_t;

Tensor reduce_loss(const Tensor& l, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return l;
    case Reduction::Sum: return sum(l, {}, false);
    case Reduction::Mean: break;
  }
  // The mean of no elements is NaN (0/0), as in PyTorch.
  return div(sum(l, {}, false), scalar(static_cast<double>(l.numel()), l.dtype()));
}

Tensor negated(const Tensor& t) { return mul(t, scalar(-1, t.dtype())); }

// Layout of a class-index loss: input [outer, classes, inner] (contiguous
// view), target [outer, inner].
struct ClassLayout {
  i64 outer = 1, classes = 1, inner = 1;
  i64 class_dim = 0;
};

ClassLayout class_layout(const Tensor& input) {
  ClassLayout l;
  l.class_dim = input.dim() == 1 ? 0 : 1;
  for (i64 d = 0; d < input.dim(); ++d) (d < l.class_dim ? l.outer : d == l.class_dim ? l.classes : l.inner) *= input.shape()[d];
  return l;
}

// Checks input, target and weight of a class-index loss, and every target
// value (before anything reads the input with it).
ClassLayout check_class_targets(const Tensor& input, const Tensor& target, const Tensor& weight, i64 ignore_index,
                                const char* op) {
  require_floating(input, op, "input");
  if (input.dim() == 0) throw_range_error(op, ": input must have a class dim (at least 1-D), got shape []");
  if (target.dtype() != DType::Int32)
    throw_type_error(op, ": target must be an int32 tensor of class indices, got ", dtype_name(target.dtype()));
  const ClassLayout l = class_layout(input);
  Shape expected = input.shape();
  expected.erase(expected.begin() + l.class_dim);
  if (target.shape() != expected)
    throw_range_error(op, ": expected target of shape ", shape_str(expected), " for input of shape ",
                      shape_str(input.shape()), ", got ", shape_str(target.shape()));
  if (weight.defined()) {
    require_floating(weight, op, "weight");
    if (weight.shape() != Shape{l.classes})
      throw_range_error(op, ": weight must have shape [", l.classes, "] (one value per class), got ",
                        shape_str(weight.shape()));
  }
  const Tensor t = contiguous_data(target);
  const std::int32_t* pt = t.data<std::int32_t>();
  for (i64 i = 0, n = t.numel(); i < n; ++i)
    if (pt[i] != ignore_index && (pt[i] < 0 || pt[i] >= l.classes))
      throw_range_error(op, ": class index ", pt[i], " is out of range for ", l.classes, " classes");
  return l;
}

// The per-class weights as contiguous doubles (all 1 when undefined).
std::vector<double> class_weights(const Tensor& weight, i64 classes) {
  std::vector<double> w(static_cast<std::size_t>(classes), 1.0);
  if (!weight.defined()) return w;
  const Tensor wc = contiguous_data(weight);
  visit_floating(wc.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = wc.data<T>();
    for (i64 c = 0; c < classes; ++c) w[c] = static_cast<double>(p[c]);
  });
  return w;
}

// Sum of the weights of the targets that are not ignored: the mean's divisor.
double target_weight_sum(const Tensor& target, const std::vector<double>& w, i64 ignore_index) {
  const Tensor t = contiguous_data(target);
  const std::int32_t* pt = t.data<std::int32_t>();
  double total = 0;
  for (i64 i = 0, n = t.numel(); i < n; ++i)
    if (pt[i] != ignore_index) total += w[pt[i]];
  return total;
}

// Weight of shape [C] viewed so it broadcasts along the class dim of `input`.
Tensor class_view(const Tensor& weight, const Tensor& input, i64 class_dim) {
  Shape shape(static_cast<std::size_t>(input.dim() - class_dim), 1);
  shape[0] = weight.numel();
  return reshape(weight, shape);
}

Tensor nll_impl(const Tensor& input, const Tensor& target, const Tensor& weight, i64 ignore_index,
                Reduction reduction, const char* op) {
  const ClassLayout l = check_class_targets(input, target, weight, ignore_index, op);
  if (weight.defined() && weight.requires_grad() && grad_enabled())
    throw_error(op, ": gradients with respect to weight are not supported; pass weight.detach()");
  const std::vector<double> w = class_weights(weight, l.classes);
  const double weight_sum = target_weight_sum(target, w, ignore_index);
  const Tensor x = contiguous_data(input), t = contiguous_data(target);
  const std::int32_t* pt = t.data<std::int32_t>();
  Tensor out = empty(reduction == Reduction::None ? target.shape() : Shape{}, input.dtype(), op);
  visit_floating(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    double total = 0;
    for (i64 o = 0; o < l.outer; ++o)
      for (i64 i = 0; i < l.inner; ++i) {
        const std::int32_t c = pt[o * l.inner + i];
        const double loss = c == ignore_index ? 0.0 : -w[c] * static_cast<double>(px[(o * l.classes + c) * l.inner + i]);
        if (reduction == Reduction::None) po[o * l.inner + i] = static_cast<T>(loss);
        else total += loss;
      }
    if (reduction == Reduction::Sum) po[0] = static_cast<T>(total);
    if (reduction == Reduction::Mean) po[0] = static_cast<T>(total / weight_sum);
  });

  // d loss / d input[o, c, i] = -w[c] (divided by the weight sum for the mean)
  // at the target class, 0 elsewhere: a constant times the incoming gradient.
  Shape grad_shape = target.shape();
  grad_shape.insert(grad_shape.begin() + l.class_dim, 1);
  const double scale = reduction == Reduction::Mean ? 1.0 / weight_sum : 1.0;
  record("nllLoss", {input}, out,
         [st = SavedTensor(target), w, l, ignore_index, scale, reduction, in_shape = input.shape(),
          grad_shape](const Grads& g, const Node&) {
           const Tensor t = contiguous_data(st.unpack());
           const std::int32_t* pt = t.data<std::int32_t>();
           Tensor m = full(in_shape, 0, g[0].dtype(), "nllLoss");
           visit_floating(m.dtype(), [&](auto tag) {
             using T = decltype(tag);
             T* pm = m.data<T>();
             for (i64 o = 0; o < l.outer; ++o)
               for (i64 i = 0; i < l.inner; ++i) {
                 const std::int32_t c = pt[o * l.inner + i];
                 if (c != ignore_index) pm[(o * l.classes + c) * l.inner + i] = static_cast<T>(-w[c] * scale);
               }
           });
           return Grads{mul(m, reduction == Reduction::None ? reshape(g[0], grad_shape) : g[0])};
         });
  return out;
}

// input and target of an elementwise loss: floating, same shape, one dtype.
std::pair<Tensor, Tensor> float_pair(const Tensor& input, const Tensor& target, const char* op) {
  require_floating(input, op, "input");
  require_floating(target, op, "target");
  if (input.shape() != target.shape())
    throw_range_error(op, ": input of shape ", shape_str(input.shape()), " and target of shape ",
                      shape_str(target.shape()), " must have the same shape");
  const DType d = promote(input.dtype(), target.dtype());
  return {cast(input, d), cast(target, d)};
}

// out[i] = f(a[i], b[i]) for same-shape floating tensors, no autograd.
template <typename F>
Tensor map2(const Tensor& a, const Tensor& b, const char* op, F f) {
  return visit_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T>(a, b, a.dtype(), op, [&](T x, T y) { return static_cast<T>(f(x, y)); });
  });
}

// out[i] = f(a[i]) for a floating tensor, no autograd.
template <typename F>
Tensor map1(const Tensor& a, const char* op, F f) {
  return visit_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return unary_map<T, T>(a, a.dtype(), op, [&](T x) { return static_cast<T>(f(x)); });
  });
}

// An optional weight broadcast to `shape`, in `dtype`.
Tensor check_broadcast_weight(const Tensor& weight, const Shape& shape, DType dtype, const char* op, const char* arg) {
  if (!weight.defined()) return weight;
  require_floating(weight, op, arg);
  const Shape& from = weight.shape();
  bool fits = from.size() <= shape.size();
  for (std::size_t i = 0; fits && i < from.size(); ++i)
    fits = from[i] == 1 || from[i] == shape[shape.size() - from.size() + i];
  if (!fits)
    throw_range_error(op, ": ", arg, " of shape ", shape_str(weight.shape()), " cannot be broadcast to the input shape ",
                      shape_str(shape));
  return cast(weight, dtype);
}

// 1/v where the clamped log of v (`log_v`, max(log v, -100)) is above -100,
// else 0: log_clamped's gradient factor, as m / (v + (1 - m)) so that the
// clamped entries (v ≈ 0) give 0 instead of 0/0.
Tensor reciprocal_unclamped(const Tensor& v, const Tensor& log_v) {
  const Tensor limit = scalar(-100, log_v.dtype());
  return div(gt(log_v, limit), add(v, le(log_v, limit)));
}

// max(log(x), -100), PyTorch's clamp for binary cross-entropy: finite for
// x = 0, with gradient 1/x where the log is not clamped and 0 where it is.
Tensor log_clamped(const Tensor& x) {
  Tensor out;
  {
    GradModeGuard no_grad(false);  // recorded below as one node
    out = clamp(log(x), -100.0, std::nullopt);
  }
  record("binaryCrossEntropy", {x}, out, [sx = SavedTensor(x), so = SavedTensor::output(out)](const Grads& g, const Node& node) {
    return Grads{mul(g[0], reciprocal_unclamped(sx.unpack(), so.unpack(&node)))};
  });
  return out;
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                Reduction reduction) {
  return nll_impl(log_probs, target, weight, ignore_index, reduction, "nllLoss");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                     double label_smoothing, Reduction reduction) {
  const char* op = "crossEntropy";
  require_floating(logits, op, "input");
  if (logits.dim() == 0) throw_range_error(op, ": input must have a class dim (at least 1-D), got shape []");
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    throw_range_error(op, ": labelSmoothing must be between 0 and 1, got ", label_smoothing);
  const i64 class_dim = logits.dim() == 1 ? 0 : 1;
  const i64 classes = logits.shape()[class_dim];
  const double eps = label_smoothing;

  if (is_floating(target.dtype())) {
    // Class probabilities of the input's shape.
    if (target.shape() != logits.shape()) {
      if (target.dim() == logits.dim() - 1)
        throw_type_error(op, ": a target of shape ", shape_str(target.shape()),
                         " holds class indices and must be int32, got ", dtype_name(target.dtype()));
      throw_range_error(op, ": probability targets must have the input's shape ", shape_str(logits.shape()), ", got ",
                        shape_str(target.shape()));
    }
    if (weight.defined()) {
      require_floating(weight, op, "weight");
      if (weight.shape() != Shape{classes})
        throw_range_error(op, ": weight must have shape [", classes, "] (one value per class), got ",
                          shape_str(weight.shape()));
    }
    const Tensor logp = log_softmax(logits, class_dim);
    Tensor t = cast(target, logits.dtype());
    if (eps > 0) t = add(mul(t, scalar(1 - eps, t.dtype())), scalar(eps / static_cast<double>(classes), t.dtype()));
    Tensor prod = mul(logp, t);
    if (weight.defined()) prod = mul(prod, class_view(cast(weight, logits.dtype()), logits, class_dim));
    // The mean is over samples (every position but the class dim), as in PyTorch.
    return reduce_loss(negated(sum(prod, {class_dim}, false)), reduction);
  }

  if (target.dtype() == DType::Int32 && target.shape() == logits.shape())
    throw_type_error(op, ": a target of the input's shape holds class probabilities and must be float32 or float64, got ",
                     dtype_name(target.dtype()));
  check_class_targets(logits, target, weight, ignore_index, op);
  const Tensor logp = log_softmax(logits, class_dim);
  const Tensor nll = nll_impl(logp, target, weight, ignore_index, reduction, op);
  if (eps == 0) return nll;

  // Label smoothing, PyTorch's formula: (1 - ε)·nll + ε/C · (the loss against
  // the uniform distribution), with ignored targets masked out and the same
  // divisor as nll for the mean.
  const std::vector<double> w = class_weights(weight, classes);
  Tensor smooth = weight.defined() ? mul(logp, class_view(cast(detach(weight), logits.dtype()), logits, class_dim)) : logp;
  smooth = negated(sum(smooth, {class_dim}, false));
  Tensor keep = empty(target.shape(), logits.dtype(), op);
  {
    const Tensor t = contiguous_data(target);
    const std::int32_t* pt = t.data<std::int32_t>();
    visit_floating(keep.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* pk = keep.data<T>();
      for (i64 i = 0, n = t.numel(); i < n; ++i) pk[i] = pt[i] == ignore_index ? T(0) : T(1);
    });
  }
  // A select, not a product with the mask: an ignored row's gradient stays 0
  // when the mean's divisor is 0 (every target ignored), where g/0·0 is NaN.
  smooth = where(keep, smooth, scalar(0, smooth.dtype()));
  if (reduction == Reduction::Sum) smooth = sum(smooth, {}, false);
  if (reduction == Reduction::Mean)
    smooth = div(sum(smooth, {}, false), scalar(target_weight_sum(target, w, ignore_index), smooth.dtype()));
  const DType d = logits.dtype();
  return add(mul(nll, scalar(1 - eps, d)), mul(smooth, scalar(eps / static_cast<double>(classes), d)));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const auto [x, t] = float_pair(input, target, "mseLoss");
  // Reduced: Σ (x - t)² in one pass (fast_sum_squared_differences), the
  // bits of the composite below; the gradient (x - t)·(2g/n), negated for t
  // (the composite's 2·((g/n)·(x - t)) but for products in the denormals),
  // differentiable again.
  if (reduction != Reduction::None)
    if (const std::optional<double> total = fast_sum_squared_differences(x, t)) {
      const double n = static_cast<double>(x.numel());
      Tensor out = visit_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T v = static_cast<T>(*total);
        if (reduction == Reduction::Mean) v = v / static_cast<T>(n);
        return scalar(static_cast<double>(v), x.dtype());
      });
      const bool mean = reduction == Reduction::Mean;
      auto backward = [sx = SavedTensor(x), st = SavedTensor(t), mean, n](const Grads& g, const Node& node) {
        const Tensor d = sub(sx.unpack(), st.unpack());
        const Tensor per = mean ? div(g[0], scalar(n, g[0].dtype())) : g[0];
        const Tensor gx = mul(d, mul(per, scalar(2, d.dtype())));
        return Grads{node.needs_grad(0) ? gx : Tensor(), node.needs_grad(1) ? negated(gx) : Tensor()};
      };
      record("mseLoss", {x, t}, out, std::move(backward));
      return out;
    }
  // square(d), not mul(d, d): the same values, and a backward of one
  // product and a doubling instead of two products and their sum.
  return reduce_loss(square(sub(x, t)), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const auto [x, t] = float_pair(input, target, "l1Loss");
  Tensor out = map2(x, t, "l1Loss", [](auto a, auto b) { return std::fabs(a - b); });
  // d|x - t|/dx = sign(x - t): a constant (0 at x = t), so the second derivative is 0.
  record("l1Loss", {x, t}, out, [sx = SavedTensor(x), st = SavedTensor(t)](const Grads& g, const Node& node) {
    const Tensor s = map2(sx.unpack(), st.unpack(), "l1Loss", [](auto a, auto b) { return (a > b) - (a < b); });
    const Tensor gx = mul(g[0], s);
    return Grads{node.needs_grad(0) ? gx : Tensor(), node.needs_grad(1) ? negated(gx) : Tensor()};
  });
  return reduce_loss(out, reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, double delta, Reduction reduction) {
  if (!(delta > 0)) throw_range_error("huberLoss: delta must be positive, got ", delta);
  const auto [x, t] = float_pair(input, target, "huberLoss");
  // d/dx = clamp(x - t, -delta, delta), differentiable in turn (slope 1
  // inside the quadratic zone, 0 outside): three vectorised passes. Built
  // as m·(x - t) + c from two generic-loop masks, forward + backward took
  // 15.1 ms instead of 6.7 ([4096,1024] float32, one thread; PyTorch 5.0).
  const auto gradient = [delta](const Tensor& g, const Tensor& x, const Tensor& t, const Node& node) {
    const Tensor gx = mul(g, clamp(sub(x, t), -delta, delta));
    return Grads{node.needs_grad(0) ? gx : Tensor(), node.needs_grad(1) ? negated(gx) : Tensor()};
  };
  // Reduced: the terms summed in one vectorised pass (fast_sum_huber), the
  // bits of summing the elementwise output below, without writing it
  // ([4096,1024] float32 forward, one thread: 3.4 -> 1.8 ms; PyTorch 2.1); the
  // gradient clamp(x - t)·(g/n), as the composite's chain gives it.
  if (reduction != Reduction::None)
    if (const std::optional<double> total = fast_sum_huber(x, t, delta)) {
      const double n = static_cast<double>(x.numel());
      const bool mean = reduction == Reduction::Mean;
      Tensor out = visit_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T v = static_cast<T>(*total);
        if (mean) v = v / static_cast<T>(n);
        return scalar(static_cast<double>(v), x.dtype());
      });
      record("huberLoss", {x, t}, out,
             [sx = SavedTensor(x), st = SavedTensor(t), gradient, mean, n](const Grads& g, const Node& node) {
               const Tensor per = mean ? div(g[0], scalar(n, g[0].dtype())) : g[0];
               return gradient(per, sx.unpack(), st.unpack(), node);
             });
      return out;
    }
  Tensor out = map2(x, t, "huberLoss", [delta](auto a, auto b) {
    using T = decltype(a);
    const double d = static_cast<double>(a) - static_cast<double>(b), ad = std::fabs(d);
    return static_cast<T>(ad < delta ? 0.5 * d * d : delta * (ad - 0.5 * delta));
  });
  record("huberLoss", {x, t}, out, [sx = SavedTensor(x), st = SavedTensor(t), gradient](const Grads& g, const Node& node) {
    return gradient(g[0], sx.unpack(), st.unpack(), node);
  });
  return reduce_loss(out, reduction);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight0, Reduction reduction) {
  const char* op = "binaryCrossEntropy";
  const auto [x, t] = float_pair(input, target, op);
  const Tensor weight = check_broadcast_weight(weight0, x.shape(), x.dtype(), op, "weight");
  // The range is checked through the extrema (vectorised); the value to
  // report is looked for only when one is out (or NaN).
  bool inside = true;
  if (x.numel() > 0) {
    GradModeGuard no_grad(false);
    const Tensor lo = amin(x, {}, false), hi = amax(x, {}, false);
    visit_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      inside = lo.data<T>()[0] >= 0 && hi.data<T>()[0] <= 1;
    });
  }
  if (!inside) visit_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(x.storage().data);
    for_each_row<1>(x.shape(), {&x.strides()}, {x.offset()}, [&](const auto& off, i64 n, const auto& in) {
      for (i64 i = 0; i < n; ++i) {
        const T v = p[off[0] + i * in[0]];
        if (!(v >= 0 && v <= 1)) throw_range_error(op, ": input values must be between 0 and 1, got ", v);
      }
    });
  });
  // (t - 1)·log(1 - x) - t·log(x), PyTorch's arrangement (a zero loss is
  // +0), computed without a graph and recorded as one node: its gradient is
  // a few vectorised passes, where the composite's backward took about 15
  // ([4096,1024] float32, one thread: 19 ms; PyTorch's fused one 5).
  const Tensor one = scalar(1, x.dtype());
  Tensor log_x, log_1mx, l;
  {
    GradModeGuard no_grad(false);
    log_x = clamp(log(x), -100.0, std::nullopt);
    log_1mx = clamp(log(sub(one, x)), -100.0, std::nullopt);
    l = sub(mul(sub(t, one), log_1mx), mul(t, log_x));
  }
  record(op, {x, t}, l,
         [sx = SavedTensor(x), st = SavedTensor(t), slx = SavedTensor(log_x), sl1 = SavedTensor(log_1mx)](
             const Grads& g, const Node& node) {
           const Tensor x = sx.unpack(), t = st.unpack(), one = scalar(1, x.dtype());
           Tensor gx, gt;
           if (node.needs_grad(0)) {
             // d/dx = (x - t) / (x·(1 - x)), the denominator at least
             // PyTorch's EPSILON (the float 1e-12, in float64 too): an x of
             // 0 or 1 (a saturated sigmoid) with the wrong target still gets
             // a gradient (±1e12), though its log is clamped.
             constexpr double kEpsilon = static_cast<double>(1e-12f);
             gx = mul(g[0], div(sub(x, t), clamp(mul(x, sub(one, x)), kEpsilon, std::nullopt)));
           }
           if (node.needs_grad(1)) {
             // d/dt = log(1 - x) - log(x), the clamped logs. With createGraph
             // they are recomputed as differentiable ops (their gradient
             // with respect to x is part of the second derivative).
             const bool graph = grad_enabled();
             const Tensor lx = graph ? log_clamped(x) : slx.unpack();
             const Tensor l1 = graph ? log_clamped(sub(one, x)) : sl1.unpack();
             gt = mul(g[0], sub(l1, lx));
           }
           return Grads{gx, gt};
         });
  if (weight.defined()) l = mul(l, weight);
  return reduce_loss(l, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight0,
                                        const Tensor& pos_weight0, Reduction reduction) {
  const char* op = "binaryCrossEntropyWithLogits";
  const auto [x, t] = float_pair(input, target, op);
  const Tensor weight = check_broadcast_weight(weight0, x.shape(), x.dtype(), op, "weight");
  const Tensor pos_weight = check_broadcast_weight(pos_weight0, x.shape(), x.dtype(), op, "posWeight");
  // -[p·t·log σ(x) + (1 - t)·log(1 - σ(x))] = (1 - t)·x + (1 + (p - 1)·t)·softplus(-x),
  // with softplus computed as max(z, 0) + log1p(exp(-|z|)): no overflow for any x.
  const Tensor one = scalar(1, x.dtype());
  const Tensor sp = softplus(negated(x), 1, std::numeric_limits<double>::infinity());
  const Tensor scale = pos_weight.defined() ? add(one, mul(sub(pos_weight, one), t)) : Tensor();
  Tensor l = add(mul(sub(one, t), x), scale.defined() ? mul(scale, sp) : sp);
  if (weight.defined()) l = mul(l, weight);
  return reduce_loss(l, reduction);
}

}  // namespace tapegrad::ops
