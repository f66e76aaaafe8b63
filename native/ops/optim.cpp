#include "ops/optim.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace tapegrad::ops {

namespace {

// Every tensor an update touches must be a contiguous float tensor of the
// parameter's shape and dtype, and not in use by an async job.
void check_state(const char* op, const Tensor& param, const Tensor& t, const char* what, std::size_t i) {
  if (!t.defined()) throw_error(op, ": missing ", what, " for parameter ", i);
  if (t.shape() != param.shape() || t.dtype() != param.dtype())
    throw_range_error(op, ": ", what, " for parameter ", i, " has shape ", shape_str(t.shape()), " and dtype ",
                      dtype_name(t.dtype()), ", expected ", shape_str(param.shape()), " and ",
                      dtype_name(param.dtype()));
  if (!t.is_contiguous()) throw_error(op, ": ", what, " for parameter ", i, " must be contiguous");
  if (locked_against_writes(t.storage()))
    throw_error(op, ": parameter ", i, " is in use by a running async operation; await it first");
}

void check_param(const char* op, const Tensor& p, std::size_t i) {
  if (!is_floating(p.dtype())) throw_type_error(op, ": parameter ", i, " must be float32 or float64");
  check_state(op, p, p, "the parameter", i);
}

// Checks every parameter and gradient before anything is written, so a bad
// one leaves all of them unchanged. A parameter without a gradient is checked
// too: a running async backward may be about to write its gradient.
void check_all(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  if (grads.size() != params.size())
    throw_range_error(op, ": got ", grads.size(), " gradients for ", params.size(), " parameters");
  for (std::size_t i = 0; i < params.size(); ++i) {
    check_param(op, params[i], i);
    if (grads[i].defined()) check_state(op, params[i], grads[i], "the gradient", i);
  }
}

// Runs fn(T* param, const T* grad, n, i) for each parameter with a gradient.
template <typename Fn>
void for_each_param(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads, Fn&& fn) {
  check_all(op, params, grads);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;  // no gradient: skipped, as in PyTorch
    visit_floating(params[i].dtype(), [&](auto tag) {
      using T = decltype(tag);
      fn(params[i].data<T>(), static_cast<const T*>(grads[i].data<T>()), params[i].numel(), i, T{});
    });
    params[i].bump_version();
  }
}

// Runs fn(T* grad, n, T{}) for each parameter with a gradient, after checking it.
template <typename Fn>
void for_each_grad(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads, Fn&& fn) {
  check_all(op, params, grads);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    visit_floating(grads[i].dtype(), [&](auto tag) {
      using T = decltype(tag);
      fn(grads[i].data<T>(), grads[i].numel(), T{});
    });
  }
}

// Four independent accumulators: the sum does not wait on one long chain
// of additions, and its order (hence its value) is fixed.
template <typename T, typename F>
double sum_of(const T* g, std::int64_t n, F&& f) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    a0 += f(static_cast<double>(g[k]));
    a1 += f(static_cast<double>(g[k + 1]));
    a2 += f(static_cast<double>(g[k + 2]));
    a3 += f(static_cast<double>(g[k + 3]));
  }
  for (; k < n; ++k) a0 += f(static_cast<double>(g[k]));
  return (a0 + a1) + (a2 + a3);
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double p) {
  const char* op = "clipGradNorm";
  if (!(p > 0)) throw_range_error(op, ": normType must be a positive number or Infinity, got ", p);
  double total = 0;
  bool nan = false;
  for_each_grad(op, params, grads, [&](const auto* g, std::int64_t n, auto) {
    if (std::isinf(p)) {
      for (std::int64_t k = 0; k < n; ++k) {
        const double a = std::abs(static_cast<double>(g[k]));
        if (std::isnan(a)) nan = true;
        else if (a > total) total = a;
      }
    } else if (p == 2) {
      total += sum_of(g, n, [](double x) { return x * x; });
    } else if (p == 1) {
      total += sum_of(g, n, [](double x) { return std::abs(x); });
    } else {
      total += sum_of(g, n, [p](double x) { return std::pow(std::abs(x), p); });
    }
  });
  if (nan) return std::nan("");
  if (std::isinf(p) || p == 1) return total;
  return p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);
}

void grad_scale(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double coef) {
  for_each_grad("clipGradNorm", params, grads, [&](auto* g, std::int64_t n, auto zero) {
    const auto c = static_cast<decltype(zero)>(coef);
    for (std::int64_t k = 0; k < n; ++k) g[k] *= c;
  });
  for (const Tensor& g : grads)
    if (g.defined()) g.bump_version();
}

void grad_clamp(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double clip) {
  if (!(clip >= 0)) throw_range_error("clipGradValue: clipValue must be a non-negative number, got ", clip);
  for_each_grad("clipGradValue", params, grads, [&](auto* g, std::int64_t n, auto zero) {
    using T = decltype(zero);
    const T hi = static_cast<T>(clip), lo = -hi;
    for (std::int64_t k = 0; k < n; ++k) g[k] = std::min(std::max(g[k], lo), hi);  // NaN passes through
  });
  for (const Tensor& g : grads)
    if (g.defined()) g.bump_version();
}

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& bufs, const SgdOptions& o, bool first_step) {
  const bool momentum = o.momentum != 0;
  for_each_param("SGD.step", params, grads, [&](auto* p, const auto* g, std::int64_t n, std::size_t i, auto zero) {
    using T = decltype(zero);
    T* buf = nullptr;
    if (momentum) {
      check_state("SGD.step", params[i], bufs.at(i), "the momentum buffer", i);
      buf = bufs[i].data<T>();
    }
    const T lr = static_cast<T>(o.lr), wd = static_cast<T>(o.weight_decay), mu = static_cast<T>(o.momentum);
    const T damp = static_cast<T>(1 - o.dampening);
    for (std::int64_t k = 0; k < n; ++k) {
      T d = o.maximize ? -g[k] : g[k];
      if (wd != 0) d += wd * p[k];
      if (momentum) {
        buf[k] = first_step ? d : mu * buf[k] + damp * d;
        d = o.nesterov ? d + mu * buf[k] : buf[k];
      }
      p[k] -= lr * d;
    }
  });
}

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& m,
               const std::vector<Tensor>& v, const std::vector<Tensor>& vmax, const AdamOptions& o) {
  const char* op = o.decoupled_weight_decay ? "AdamW.step" : "Adam.step";
  const double bias1 = 1 - std::pow(o.beta1, o.step);
  const double bias2 = 1 - std::pow(o.beta2, o.step);
  for_each_param(op, params, grads, [&](auto* p, const auto* g, std::int64_t n, std::size_t i, auto zero) {
    using T = decltype(zero);
    check_state(op, params[i], m.at(i), "exp_avg", i);
    check_state(op, params[i], v.at(i), "exp_avg_sq", i);
    T* mi = m[i].data<T>();
    T* vi = v[i].data<T>();
    T* vm = nullptr;
    if (o.amsgrad) {
      check_state(op, params[i], vmax.at(i), "max_exp_avg_sq", i);
      vm = vmax[i].data<T>();
    }
    const T b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2), eps = static_cast<T>(o.eps);
    const T wd = static_cast<T>(o.weight_decay), lr = static_cast<T>(o.lr);
    const T step_size = static_cast<T>(o.lr / bias1);
    const T sqrt_bias2 = static_cast<T>(std::sqrt(bias2));
    for (std::int64_t k = 0; k < n; ++k) {
      T d = o.maximize ? -g[k] : g[k];
      if (wd != 0) {
        if (o.decoupled_weight_decay) p[k] *= T(1) - lr * wd;
        else d += wd * p[k];
      }
      mi[k] = b1 * mi[k] + (T(1) - b1) * d;
      vi[k] = b2 * vi[k] + (T(1) - b2) * d * d;
      T second = vi[k];
      if (vm) second = vm[k] = std::max(vm[k], vi[k]);
      const T denom = std::sqrt(second) / sqrt_bias2 + eps;
      p[k] -= step_size * mi[k] / denom;
    }
  });
}

void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sq,
                  const std::vector<Tensor>& gavg, const std::vector<Tensor>& bufs, const RmspropOptions& o) {
  const char* op = "RMSprop.step";
  for_each_param(op, params, grads, [&](auto* p, const auto* g, std::int64_t n, std::size_t i, auto zero) {
    using T = decltype(zero);
    check_state(op, params[i], sq.at(i), "square_avg", i);
    T* s = sq[i].data<T>();
    T* ga = nullptr;
    T* buf = nullptr;
    if (o.centered) {
      check_state(op, params[i], gavg.at(i), "grad_avg", i);
      ga = gavg[i].data<T>();
    }
    if (o.momentum > 0) {
      check_state(op, params[i], bufs.at(i), "momentum_buffer", i);
      buf = bufs[i].data<T>();
    }
    const T alpha = static_cast<T>(o.alpha), eps = static_cast<T>(o.eps), wd = static_cast<T>(o.weight_decay);
    const T lr = static_cast<T>(o.lr), mu = static_cast<T>(o.momentum);
    for (std::int64_t k = 0; k < n; ++k) {
      T d = o.maximize ? -g[k] : g[k];
      if (wd != 0) d += wd * p[k];
      s[k] = alpha * s[k] + (T(1) - alpha) * d * d;
      T avg;
      if (ga) {
        ga[k] = alpha * ga[k] + (T(1) - alpha) * d;
        avg = std::sqrt(s[k] - ga[k] * ga[k]) + eps;
      } else {
        avg = std::sqrt(s[k]) + eps;
      }
      if (buf) {
        buf[k] = mu * buf[k] + d / avg;
        p[k] -= lr * buf[k];
      } else {
        p[k] -= lr * d / avg;
      }
    }
  });
}

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sums,
                  const AdagradOptions& o) {
  const char* op = "Adagrad.step";
  const double clr = o.lr / (1 + (o.step - 1) * o.lr_decay);
  for_each_param(op, params, grads, [&](auto* p, const auto* g, std::int64_t n, std::size_t i, auto zero) {
    using T = decltype(zero);
    check_state(op, params[i], sums.at(i), "sum", i);
    T* s = sums[i].data<T>();
    const T lr = static_cast<T>(clr), eps = static_cast<T>(o.eps), wd = static_cast<T>(o.weight_decay);
    for (std::int64_t k = 0; k < n; ++k) {
      T d = o.maximize ? -g[k] : g[k];
      if (wd != 0) d += wd * p[k];
      s[k] += d * d;
      p[k] -= lr * d / (std::sqrt(s[k]) + eps);
    }
  });
}

}  // namespace tapegrad::ops
