// Fused optimizer updates: step(params, state lists, options object). The
// gradients are read from each parameter's .grad.
#include <cmath>
#include <functional>
#include <unordered_set>

#include "binding/addon.h"
#include "binding/async_job.h"
#include "binding/convert.h"
#include "core/autograd.h"
#include "ops/optim.h"
#include "runtime/thread_pool.h"

namespace tapegrad::binding {

namespace {

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) grads.push_back(p.impl()->grad ? Tensor(p.impl()->grad) : Tensor());
  return grads;
}

// The arguments of one update: those of a synchronous call, or one entry
// of trainStepAsync's list. Both are parsed and checked by the same code.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : env_(info.Env()) {
    for (std::size_t i = 0; i < info.Length(); ++i) values_.push_back(info[i]);
  }
  Args(Napi::Env env, const Napi::Array& a) : env_(env) {
    for (std::uint32_t i = 0; i < a.Length(); ++i) values_.push_back(a.Get(i));
  }
  Napi::Value operator[](std::size_t i) const { return i < values_.size() ? values_[i] : env_.Undefined(); }
  bool present(std::size_t i) const { return i < values_.size() && !values_[i].IsUndefined() && !values_[i].IsNull(); }

 private:
  Napi::Env env_;
  std::vector<Napi::Value> values_;
};

// A list of state tensors, or an empty list for null/undefined.
std::vector<Tensor> state(const Args& a, std::size_t i, const char* op, const char* name) {
  if (!a.present(i)) return {};
  return tensor_list(a[i], op, name);
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

Napi::Object options(const Args& a, std::size_t i, const char* op) {
  if (!a[i].IsObject()) throw_type_error(op, ": options must be an object");
  return a[i].As<Napi::Object>();
}

// One fused update, parsed and checked on the JS thread, run later (now, or
// by an async job after its backward pass). The gradients are read from
// each parameter's .grad when it runs.
struct Update {
  std::function<void()> run;
  std::vector<Tensor> tensors;  // every tensor it writes: locked while a job holds it
};

std::vector<Tensor> joined(std::initializer_list<const std::vector<Tensor>*> lists) {
  std::vector<Tensor> out;
  for (const auto* l : lists) out.insert(out.end(), l->begin(), l->end());
  return out;
}

// sgdStep(params, momentumBuffers | null, options { lr, momentum, dampening, weightDecay, nesterov, maximize, firstStep })
Update sgd_update(const Args& a) {
  const char* op = "SGD.step";
  auto params = tensor_list(a[0], op, "params");
  auto bufs = state(a, 1, op, "momentumBuffers");
  const Napi::Object o = options(a, 2, op);
  const ops::SgdOptions opts{num(o, "lr", op),         num(o, "momentum", op), num(o, "dampening", op),
                             num(o, "weightDecay", op), flag(o, "nesterov"),    flag(o, "maximize")};
  const bool first = flag(o, "firstStep");
  auto tensors = joined({&params, &bufs});
  return {[params = std::move(params), bufs = std::move(bufs), opts, first] {
            ops::sgd_step(params, grads_of(params), bufs, opts, first);
          },
          std::move(tensors)};
}

// adamStep(params, expAvg, expAvgSq, maxExpAvgSq | null, options { lr, beta1, beta2, eps, weightDecay, decoupled, amsgrad, maximize, step })
Update adam_update(const Args& a) {
  const char* op = "Adam.step";
  auto params = tensor_list(a[0], op, "params");
  auto m = state(a, 1, op, "expAvg");
  auto v = state(a, 2, op, "expAvgSq");
  auto vmax = state(a, 3, op, "maxExpAvgSq");
  const Napi::Object o = options(a, 4, op);
  const ops::AdamOptions opts{num(o, "lr", op),          num(o, "beta1", op),  num(o, "beta2", op),
                              num(o, "eps", op),         num(o, "weightDecay", op), flag(o, "decoupled"),
                              flag(o, "amsgrad"),        flag(o, "maximize"),  num(o, "step", op)};
  auto tensors = joined({&params, &m, &v, &vmax});
  return {[params = std::move(params), m = std::move(m), v = std::move(v), vmax = std::move(vmax), opts] {
            ops::adam_step(params, grads_of(params), m, v, vmax, opts);
          },
          std::move(tensors)};
}

// rmspropStep(params, squareAvg, gradAvg | null, momentumBuffers | null, options { lr, alpha, eps, weightDecay, momentum, centered, maximize })
Update rmsprop_update(const Args& a) {
  const char* op = "RMSprop.step";
  auto params = tensor_list(a[0], op, "params");
  auto sq = state(a, 1, op, "squareAvg");
  auto avg = state(a, 2, op, "gradAvg");
  auto mom = state(a, 3, op, "momentumBuffers");
  const Napi::Object o = options(a, 4, op);
  const ops::RmspropOptions opts{num(o, "lr", op),       num(o, "alpha", op), num(o, "eps", op),
                                 num(o, "weightDecay", op), num(o, "momentum", op), flag(o, "centered"),
                                 flag(o, "maximize")};
  auto tensors = joined({&params, &sq, &avg, &mom});
  return {[params = std::move(params), sq = std::move(sq), avg = std::move(avg), mom = std::move(mom), opts] {
            ops::rmsprop_step(params, grads_of(params), sq, avg, mom, opts);
          },
          std::move(tensors)};
}

// adagradStep(params, sums, options { lr, lrDecay, weightDecay, eps, maximize, step })
Update adagrad_update(const Args& a) {
  const char* op = "Adagrad.step";
  auto params = tensor_list(a[0], op, "params");
  auto sums = state(a, 1, op, "sums");
  const Napi::Object o = options(a, 2, op);
  const ops::AdagradOptions opts{num(o, "lr", op), num(o, "lrDecay", op), num(o, "weightDecay", op),
                                 num(o, "eps", op), flag(o, "maximize"),   num(o, "step", op)};
  auto tensors = joined({&params, &sums});
  return {[params = std::move(params), sums = std::move(sums), opts] {
            ops::adagrad_step(params, grads_of(params), sums, opts);
          },
          std::move(tensors)};
}

template <Update (*Parse)(const Args&)>
Napi::Value run_now(const Napi::CallbackInfo& info) {
  Parse(Args(info)).run();
  return info.Env().Undefined();
}

Update parse_update(Napi::Env env, const Napi::Value& entry, std::uint32_t k) {
  if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 2)
    throw_type_error("trainStepAsync: update ", k, " must be a pair [kind, arguments]");
  const Napi::Array pair = entry.As<Napi::Array>();
  const Napi::Value kind = pair.Get(0u), args = pair.Get(1u);
  if (!kind.IsString() || !args.IsArray())
    throw_type_error("trainStepAsync: update ", k, " must be a pair [kind, arguments]");
  const std::string name = kind.As<Napi::String>().Utf8Value();
  const Args a(env, args.As<Napi::Array>());
  if (name == "sgd") return sgd_update(a);
  if (name == "adam") return adam_update(a);
  if (name == "rmsprop") return rmsprop_update(a);
  if (name == "adagrad") return adagrad_update(a);
  throw_range_error("trainStepAsync: update ", k, " has unknown kind '", name, "'");
}

// leavesReached(loss, tensors) -> boolean[]: which tensors a backward from
// `loss` accumulates a gradient into (so an optimizer can plan its update
// before the gradients exist).
Napi::Value leaves_reached(const Napi::CallbackInfo& info) {
  const Tensor loss = arg_tensor(info, 0, "leavesReached", "loss");
  const std::vector<Tensor> tensors = arg_tensors(info, 1, "leavesReached", "tensors");
  std::unordered_set<const TensorImpl*> leaves;
  if (loss.requires_grad()) {
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    const Edge root = gradient_edge(loss);
    if (root.node && seen.insert(root.node.get()).second) stack.push_back(root.node.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) leaves.insert(acc->leaf().get());
      for (const Edge& e : n->next_edges)
        if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }
  Napi::Array out = Napi::Array::New(info.Env(), tensors.size());
  for (std::uint32_t i = 0; i < tensors.size(); ++i)
    out.Set(i, Napi::Boolean::New(info.Env(), leaves.count(tensors[i].impl()) != 0));
  return out;
}

// The optimizer updates, threads and alsoLock arguments of the async train steps.
struct StepPlan {
  std::vector<std::function<void()>> runs;
  LockSets locks;  // what the updates write, and the batch (read)
  int threads = 0;
};

StepPlan step_plan(const Napi::CallbackInfo& info, std::size_t first, const char* op) {
  if (!info[first].IsArray()) throw_type_error(op, ": updates must be an array");
  const Napi::Array list = info[first].As<Napi::Array>();
  StepPlan plan;
  for (std::uint32_t k = 0; k < list.Length(); ++k) {
    Update u = parse_update(info.Env(), list.Get(k), k);
    plan.runs.push_back(std::move(u.run));
    plan.locks.writes.insert(plan.locks.writes.end(), u.tensors.begin(), u.tensors.end());
  }
  const std::int64_t threads = arg_present(info, first + 1) ? arg_int(info, first + 1, op, "threads") : 0;
  if (threads < 0 || threads > runtime::kMaxThreads)
    throw_range_error(op, ": threads must be from 0 to ", runtime::kMaxThreads, ", got ", threads);
  plan.threads = static_cast<int>(threads);
  if (arg_present(info, first + 2)) {
    plan.locks.reads = arg_tensors(info, first + 2, op, "alsoLock");
  }
  return plan;
}

// trainStepAsync(loss, updates: [kind, args][], threads, alsoLock) -> Promise<void>:
// backward from `loss`, then each optimizer update, on a background thread with
// at most `threads` compute threads (0: all but one). `alsoLock` (the batch)
// is locked against writes from JS too, since the graph reads it.
Napi::Value train_step_async(const Napi::CallbackInfo& info) {
  const Tensor loss = arg_tensor(info, 0, "trainStepAsync", "loss");
  StepPlan plan = step_plan(info, 1, "trainStepAsync");
  return queue_backward_job(info.Env(), "trainStepAsync", {loss}, {Tensor()}, BackwardOptions{}, std::move(plan.runs),
                            plan.locks, plan.threads);
}

// tracedStepAsync(trace, inputs, updates, threads) -> Promise<handle[]>: as
// trainStepAsync, with the forward pass too: the trace (whose first output
// is the loss) is replayed on `inputs` (locked by the job, as the batch) in
// the job. Resolves with the trace's outputs.
Napi::Value traced_step_async(const Napi::CallbackInfo& info) {
  const char* op = "tracedStepAsync";
  std::shared_ptr<const Trace> trace = arg_trace(info, 0, op);
  std::vector<Tensor> inputs = arg_tensors(info, 1, op, "inputs");
  StepPlan plan = step_plan(info, 2, op);
  return queue_traced_step_job(info.Env(), op, std::move(trace), std::move(inputs), std::move(plan.runs),
                               plan.locks, plan.threads);
}

// For the clipping calls from JS: reading .grad while a backwardAsync may
// still write it would race, so a locked parameter is refused first.
std::vector<Tensor> unlocked_grads_of(const std::vector<Tensor>& params, const char* op) {
  for (std::size_t i = 0; i < params.size(); ++i)
    if (locked_against_writes(params[i].storage()))
      throw_error(op, ": parameter ", i, " is in use by a running async operation; await it first");
  return grads_of(params);
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
  return Napi::Number::New(info.Env(), ops::grad_norm(params, unlocked_grads_of(params, op), p));
}

// gradScale(params, coef): every gradient *= coef
Napi::Value grad_scale(const Napi::CallbackInfo& info) {
  const char* op = "clipGradNorm";
  const auto params = arg_tensors(info, 0, op, "params");
  ops::grad_scale(params, unlocked_grads_of(params, op), number_arg(info, 1, op, "coef"));
  return info.Env().Undefined();
}

// gradClamp(params, clipValue): every gradient clamped to [-clipValue, clipValue]
Napi::Value grad_clamp(const Napi::CallbackInfo& info) {
  const char* op = "clipGradValue";
  const auto params = arg_tensors(info, 0, op, "params");
  ops::grad_clamp(params, unlocked_grads_of(params, op), number_arg(info, 1, op, "clipValue"));
  return info.Env().Undefined();
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  define<run_now<sgd_update>>(env, exports, "sgdStep");
  define<run_now<adam_update>>(env, exports, "adamStep");
  define<run_now<rmsprop_update>>(env, exports, "rmspropStep");
  define<run_now<adagrad_update>>(env, exports, "adagradStep");
  define<leaves_reached>(env, exports, "leavesReached");
  define<train_step_async>(env, exports, "trainStepAsync");
  define<traced_step_async>(env, exports, "tracedStepAsync");
  define<grad_norm>(env, exports, "gradNorm");
  define<grad_scale>(env, exports, "gradScale");
  define<grad_clamp>(env, exports, "gradClamp");
}

}  // namespace tapegrad::binding
