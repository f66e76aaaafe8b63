// Fused optimizer updates: step(params, state lists, options object). The
// gradients are read from each parameter's .grad.
#include "binding/addon.h"
#include "binding/convert.h"
#include <cmath>

#include "ops/optim.h"

namespace tapegrad::binding {

namespace {

// Reading .grad while a backwardAsync may still write it would race: a
// locked parameter is refused before its gradient is looked at.
std::vector<Tensor> grads_of(const std::vector<Tensor>& params, const char* op) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (p.storage().locks.load() != 0) throw_error(op, ": parameter ", i, " is in use by a running async operation");
    grads.push_back(p.impl()->grad ? Tensor(p.impl()->grad) : Tensor());
  }
  return grads;
}

// A list of state tensors, or an empty list for null/undefined.
std::vector<Tensor> state(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* name) {
  if (!arg_present(info, i)) return {};
  return arg_tensors(info, i, op, name);
}

double num(const Napi::Object& o, const char* key, const char* op) {
  const Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_type_error(op, ": option ", key, " must be a number");
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) throw_range_error(op, ": option ", key, " must be finite, got ", x);
  return x;
}

bool flag(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

Napi::Object options(const Napi::CallbackInfo& info, std::size_t i, const char* op) {
  if (!info[i].IsObject()) throw_type_error(op, ": options must be an object");
  return info[i].As<Napi::Object>();
}

// sgdStep(params, momentumBuffers | null, options { lr, momentum, dampening, weightDecay, nesterov, maximize, firstStep })
Napi::Value sgd_step(const Napi::CallbackInfo& info) {
  const char* op = "SGD.step";
  const auto params = arg_tensors(info, 0, op, "params");
  const Napi::Object o = options(info, 2, op);
  ops::sgd_step(params, grads_of(params, op), state(info, 1, op, "momentumBuffers"),
                {num(o, "lr", op), num(o, "momentum", op), num(o, "dampening", op), num(o, "weightDecay", op),
                 flag(o, "nesterov"), flag(o, "maximize")},
                flag(o, "firstStep"));
  return info.Env().Undefined();
}

// adamStep(params, expAvg, expAvgSq, maxExpAvgSq | null, options { lr, beta1, beta2, eps, weightDecay, decoupled, amsgrad, maximize, step })
Napi::Value adam_step(const Napi::CallbackInfo& info) {
  const char* op = "Adam.step";
  const auto params = arg_tensors(info, 0, op, "params");
  const Napi::Object o = options(info, 4, op);
  ops::adam_step(params, grads_of(params, op), state(info, 1, op, "expAvg"), state(info, 2, op, "expAvgSq"),
                 state(info, 3, op, "maxExpAvgSq"),
                 {num(o, "lr", op), num(o, "beta1", op), num(o, "beta2", op), num(o, "eps", op),
                  num(o, "weightDecay", op), flag(o, "decoupled"), flag(o, "amsgrad"), flag(o, "maximize"),
                  num(o, "step", op)});
  return info.Env().Undefined();
}

// rmspropStep(params, squareAvg, gradAvg | null, momentumBuffers | null, options { lr, alpha, eps, weightDecay, momentum, centered, maximize })
Napi::Value rmsprop_step(const Napi::CallbackInfo& info) {
  const char* op = "RMSprop.step";
  const auto params = arg_tensors(info, 0, op, "params");
  const Napi::Object o = options(info, 4, op);
  ops::rmsprop_step(params, grads_of(params, op), state(info, 1, op, "squareAvg"), state(info, 2, op, "gradAvg"),
                    state(info, 3, op, "momentumBuffers"),
                    {num(o, "lr", op), num(o, "alpha", op), num(o, "eps", op), num(o, "weightDecay", op),
                     num(o, "momentum", op), flag(o, "centered"), flag(o, "maximize")});
  return info.Env().Undefined();
}

// adagradStep(params, sums, options { lr, lrDecay, weightDecay, eps, maximize, step })
Napi::Value adagrad_step(const Napi::CallbackInfo& info) {
  const char* op = "Adagrad.step";
  const auto params = arg_tensors(info, 0, op, "params");
  const Napi::Object o = options(info, 2, op);
  ops::adagrad_step(params, grads_of(params, op), state(info, 1, op, "sums"),
                    {num(o, "lr", op), num(o, "lrDecay", op), num(o, "weightDecay", op), num(o, "eps", op),
                     flag(o, "maximize"), num(o, "step", op)});
  return info.Env().Undefined();
}

double number_arg(const Napi::CallbackInfo& info, std::size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw_type_error(op, ": ", name, " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// gradNorm(params, normType) -> the total norm of the parameters' gradients
Napi::Value grad_norm(const Napi::CallbackInfo& info) {
  const char* op = "clipGradNorm";
  const auto params = arg_tensors(info, 0, op, "params");
  const double p = number_arg(info, 1, op, "normType");
  return Napi::Number::New(info.Env(), ops::grad_norm(params, grads_of(params, op), p));
}

// gradScale(params, coef): every gradient *= coef
Napi::Value grad_scale(const Napi::CallbackInfo& info) {
  const char* op = "clipGradNorm";
  const auto params = arg_tensors(info, 0, op, "params");
  ops::grad_scale(params, grads_of(params, op), number_arg(info, 1, op, "coef"));
  return info.Env().Undefined();
}

// gradClamp(params, clipValue): every gradient clamped to [-clipValue, clipValue]
Napi::Value grad_clamp(const Napi::CallbackInfo& info) {
  const char* op = "clipGradValue";
  const auto params = arg_tensors(info, 0, op, "params");
  ops::grad_clamp(params, grads_of(params, op), number_arg(info, 1, op, "clipValue"));
  return info.Env().Undefined();
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  define<sgd_step>(env, exports, "sgdStep");
  define<adam_step>(env, exports, "adamStep");
  define<rmsprop_step>(env, exports, "rmspropStep");
  define<adagrad_step>(env, exports, "adagradStep");
  define<grad_norm>(env, exports, "gradNorm");
  define<grad_scale>(env, exports, "gradScale");
  define<grad_clamp>(env, exports, "gradClamp");
}

}  // namespace tapegrad::binding
