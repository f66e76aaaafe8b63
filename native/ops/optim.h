// Fused optimizer updates: one call updates every parameter of a group in
// place, with PyTorch's formulas. Not recorded by autograd.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace tapegrad::ops {

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
// `momentum_buffers` holds one tensor per parameter when momentum != 0.
// `first_step` copies the gradient into the buffers instead of blending.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& o, bool first_step);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled_weight_decay;  // AdamW
  bool amsgrad, maximize;
  double step;  // 1-based step count after this update
};
void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
               const std::vector<Tensor>& exp_avg_sq, const std::vector<Tensor>& max_exp_avg_sq, const AdamOptions& o);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& square_avg, const std::vector<Tensor>& grad_avg,
                  const std::vector<Tensor>& momentum_buffer, const RmspropOptions& o);

struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
  double step;
};
void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& sums,
                  const AdagradOptions& o);

// Gradient clipping over the .grad of every parameter that has one (the
// others are skipped). grad_norm returns the norm of all gradient elements
// taken together, accumulated in double: `p` is any positive number or
// infinity (the largest |g|); NaN anywhere gives NaN; no gradients give 0.
// `grads[i]` is the gradient of `params[i]` or an undefined tensor.
double grad_norm(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double p);
// g *= coef, in place.
void grad_scale(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double coef);
// g = min(max(g, -clip), clip), in place; NaN stays NaN.
void grad_clamp(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double clip);

}  // namespace tapegrad::ops
