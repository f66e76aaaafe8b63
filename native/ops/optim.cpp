#include "ops/optim.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <type_traits>

#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/common.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

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
  // Another offset into the parameter's memory would be read after the
  // update wrote over it (the same offset is the parameter itself, updated
  // element by element).
  if (t.offset() != param.offset() && overlaps(t, param))
    throw_range_error(op, ": ", what, " for parameter ", i, " overlaps the parameter's memory; give it its own tensor");
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

// The largest |g[k]|, NaN if any element is NaN. On the bit patterns with
// the sign cleared, which order as the magnitudes do (NaN above infinity):
// an integer maximum vectorises, a floating one (NaN rules) does not.
template <typename T>
double max_abs(const T* g, std::int64_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  constexpr Bits kMagnitude = std::numeric_limits<Bits>::max();
  Bits m = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    const Bits b = std::bit_cast<Bits>(g[k]) & kMagnitude;
    m = b > m ? b : m;
  }
  if (m > std::bit_cast<Bits>(std::numeric_limits<T>::infinity())) return std::nan("");
  return static_cast<double>(std::bit_cast<T>(m));
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double p) {
  const char* op = "clipGradNorm";
  if (!(p > 0)) throw_range_error(op, ": normType must be a positive number or Infinity, got ", p);
  double total = 0;
  bool nan = false;
  for_each_grad(op, params, grads, [&](const auto* g, std::int64_t n, auto) {
    if (std::isinf(p)) {
      const double m = max_abs(g, n);
      if (m != m) nan = true;
      else total = std::max(total, m);
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

// Like the optimizer updates, clipping ignores TAPEGRAD_ELEMENTWISE=generic: it has no generic loop to compare against.
void grad_scale(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double coef) {
  const auto& table = kernels::active();
  for_each_grad("clipGradNorm", params, grads, [&](auto* g, std::int64_t n, auto zero) {
    using T = decltype(zero);
    const T c = static_cast<T>(coef);
    kernel_for<T>(table.binary_f32, table.binary_f64)(kernels::BinaryOp::Mul, n, g, 1, &c, 0, g, kernels::Store::Plain);
  });
  for (const Tensor& g : grads)
    if (g.defined()) g.bump_version();
}

void grad_clamp(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double clip) {
  if (!(clip >= 0)) throw_range_error("clipGradValue: clipValue must be a non-negative number, got ", clip);
  const auto& table = kernels::active();
  for_each_grad("clipGradValue", params, grads, [&](auto* g, std::int64_t n, auto zero) {
    using T = decltype(zero);
    const T hi = static_cast<T>(clip), lo = -hi;
    // The ISA's clamp kernel: NaN passes through.
    kernel_for<T>(table.unary_f32, table.unary_f64)(kernels::UnaryOp::Clamp, n, g, g, lo, hi, kernels::Store::Plain);
  });
  for (const Tensor& g : grads)
    if (g.defined()) g.bump_version();
}

namespace {

// A list of state tensors (one per parameter) that an update reads and
// writes, named for errors; null when this update does not use it.
struct StateList {
  const std::vector<Tensor>* tensors;
  const char* name;
};

// check_all, then the state tensors of every parameter with a gradient: a
// bad one anywhere leaves every parameter and state unchanged.
void check_update(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  std::initializer_list<StateList> states) {
  check_all(op, params, grads);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    for (const StateList& s : states) {
      if (!s.tensors) continue;
      if (i >= s.tensors->size()) throw_error(op, ": missing ", s.name, " for parameter ", i);
      check_state(op, params[i], (*s.tensors)[i], s.name, i);
    }
  }
}

// Runs fn(begin, end, i, T{}) over the elements of each parameter with a
// gradient, large ones split over the pool like the elementwise fast paths.
// Updates are elementwise, so the split changes no result.
template <typename Fn>
void update_each_param(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, Fn&& fn) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;  // no gradient: skipped, as in PyTorch
    visit_floating(params[i].dtype(), [&](auto tag) {
      using T = decltype(tag);
      runtime::parallel_for(0, params[i].numel(), runtime::kElementwiseGrain,
                            [&](std::int64_t begin, std::int64_t end) { fn(begin, end, i, T{}); });
    });
    params[i].bump_version();
  }
}

// The data of element `begin` of list[i], or null when the update does not use the list.
template <typename T>
T* state_at(bool used, const std::vector<Tensor>& list, std::size_t i, std::int64_t begin) {
  return used ? list[i].data<T>() + begin : nullptr;
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& bufs, const SgdOptions& o, bool first_step) {
  const char* op = "SGD.step";
  const bool momentum = o.momentum != 0;
  check_update(op, params, grads, {{momentum ? &bufs : nullptr, "the momentum buffer"}});
  const kernels::SgdUpdate u{o.lr, o.momentum, o.weight_decay, 1 - o.dampening, o.nesterov, o.maximize, first_step};
  update_each_param(params, grads, [&](std::int64_t begin, std::int64_t end, std::size_t i, auto zero) {
    using T = decltype(zero);
    const kernels::KernelTable& t = kernels::active();
    kernel_for<T>(t.sgd_f32, t.sgd_f64)(u, end - begin, params[i].data<T>() + begin, grads[i].data<T>() + begin,
                                        state_at<T>(momentum, bufs, i, begin));
  });
}

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& m,
               const std::vector<Tensor>& v, const std::vector<Tensor>& vmax, const AdamOptions& o) {
  const char* op = o.decoupled_weight_decay ? "AdamW.step" : "Adam.step";
  check_update(op, params, grads,
               {{&m, "exp_avg"}, {&v, "exp_avg_sq"}, {o.amsgrad ? &vmax : nullptr, "max_exp_avg_sq"}});
  const double bias1 = 1 - std::pow(o.beta1, o.step);
  const double bias2 = 1 - std::pow(o.beta2, o.step);
  const kernels::AdamUpdate u{o.lr,        o.beta1,          o.beta2,
                              o.eps,       o.weight_decay,   o.lr / bias1,
                              std::sqrt(bias2), o.decoupled_weight_decay, o.amsgrad,
                              o.maximize};
  update_each_param(params, grads, [&](std::int64_t begin, std::int64_t end, std::size_t i, auto zero) {
    using T = decltype(zero);
    const kernels::KernelTable& t = kernels::active();
    kernel_for<T>(t.adam_f32, t.adam_f64)(u, end - begin, params[i].data<T>() + begin, grads[i].data<T>() + begin,
                                          m[i].data<T>() + begin, v[i].data<T>() + begin,
                                          state_at<T>(o.amsgrad, vmax, i, begin));
  });
}

void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sq,
                  const std::vector<Tensor>& gavg, const std::vector<Tensor>& bufs, const RmspropOptions& o) {
  const char* op = "RMSprop.step";
  const bool momentum = o.momentum > 0;
  check_update(op, params, grads,
               {{&sq, "square_avg"},
                {o.centered ? &gavg : nullptr, "grad_avg"},
                {momentum ? &bufs : nullptr, "momentum_buffer"}});
  const kernels::RmspropUpdate u{o.lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.centered, o.maximize};
  update_each_param(params, grads, [&](std::int64_t begin, std::int64_t end, std::size_t i, auto zero) {
    using T = decltype(zero);
    const kernels::KernelTable& t = kernels::active();
    kernel_for<T>(t.rmsprop_f32, t.rmsprop_f64)(u, end - begin, params[i].data<T>() + begin,
                                                grads[i].data<T>() + begin, sq[i].data<T>() + begin,
                                                state_at<T>(o.centered, gavg, i, begin),
                                                state_at<T>(momentum, bufs, i, begin));
  });
}

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sums,
                  const AdagradOptions& o) {
  const char* op = "Adagrad.step";
  check_update(op, params, grads, {{&sums, "sum"}});
  const kernels::AdagradUpdate u{o.lr / (1 + (o.step - 1) * o.lr_decay), o.eps, o.weight_decay, o.maximize};
  update_each_param(params, grads, [&](std::int64_t begin, std::int64_t end, std::size_t i, auto zero) {
    using T = decltype(zero);
    const kernels::KernelTable& t = kernels::active();
    kernel_for<T>(t.adagrad_f32, t.adagrad_f64)(u, end - begin, params[i].data<T>() + begin,
                                                grads[i].data<T>() + begin, sums[i].data<T>() + begin);
  });
}

}  // namespace tapegrad::ops
