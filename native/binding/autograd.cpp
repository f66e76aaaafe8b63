// requiresGrad, .grad, backward, grad(), grad mode and hooks.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "binding/addon.h"
#include "binding/async_job.h"
#include "binding/convert.h"
#include "binding/op_args.h"
#include "core/autograd.h"
#include "core/engine.h"
#include "core/grad_mode.h"
#include "core/schedule.h"
#include "runtime/error.h"
#include "runtime/background.h"
#include "runtime/thread_pool.h"

namespace tapegrad::binding {

namespace {

// With `reading_grad`, a job that only reads the tensor (a saved input)
// does not count: it keeps its .grad. One that accumulates into its .grad
// (backwardAsync), or writes it (a train step's update), does.
void check_unlocked(const Tensor& t, const char* op, bool reading_grad = false) {
  const bool held = reading_grad
                        ? t.storage().locks.load() >= Storage::kWriteLock || grad_accumulated_by_job(*t.impl())
                        : held_by_job(t);
  if (held) throw_error(op, ": the tensor is in use by a running backwardAsync or train step; await it first");
}

Napi::Value requires_grad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info, 0, "requiresGrad", "tensor").requires_grad());
}

Napi::Value set_requires_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "setRequiresGrad", "tensor");
  const bool value = arg_bool(info, 1, "setRequiresGrad", "requiresGrad");
  check_unlocked(t, "setRequiresGrad");
  if (!t.is_leaf())
    throw_error("setRequiresGrad: can only be changed on leaf tensors; this tensor was computed by '",
                t.grad_fn()->name(), "'. Use detach() to get a leaf");
  if (value && !is_floating(t.dtype()))
    throw_type_error("setRequiresGrad: only float32 and float64 tensors can require grad, got ",
                     dtype_name(t.dtype()));
  t.impl()->requires_grad = value;
  return info.Env().Undefined();
}

Napi::Value is_leaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info, 0, "isLeaf", "tensor").is_leaf());
}

Napi::Value grad_fn_name(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "gradFn", "tensor");
  if (!t.grad_fn()) return info.Env().Null();
  return Napi::String::New(info.Env(), t.grad_fn()->name());
}


Napi::Value get_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "grad", "tensor");
  check_unlocked(t, "grad", true);
  if (!t.impl()->grad) return info.Env().Null();
  // The leaf owns its gradient: the handle does not report its bytes again.
  return wrap(info.Env(), Tensor(t.impl()->grad), false);
}

// hasGrad(handle): whether .grad is set, without wrapping it: optimizer steps
// ask it of every parameter on every step. Its errors name `grad`, the
// property the user reads.
Napi::Value has_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "grad", "tensor");
  check_unlocked(t, "grad", true);
  return Napi::Boolean::New(info.Env(), static_cast<bool>(t.impl()->grad));
}

// inUse(handle): whether a running async job (backwardAsync, a train step)
// holds the tensor's memory, so that writing, freeing it or setting its .grad
// would throw. A change to several tensors asks it of all of them first.
Napi::Value in_use(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), held_by_job(arg_tensor(info, 0, "inUse", "tensor")));
}

// setGrad(handle, gradHandle | null)
Napi::Value set_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "grad", "tensor");
  check_unlocked(t, "grad");
  if (!arg_present(info, 1)) {
    t.impl()->grad.reset();
    return info.Env().Undefined();
  }
  const Tensor g = arg_tensor(info, 1, "grad", "value");
  if (g.shape() != t.shape() || g.dtype() != t.dtype())
    throw_range_error("grad: the assigned gradient has shape ", shape_str(g.shape()), " and dtype ",
                      dtype_name(g.dtype()), ", expected shape ", shape_str(t.shape()), " and dtype ",
                      dtype_name(t.dtype()));
  t.impl()->grad = g.impl_ptr();
  return info.Env().Undefined();
}

Tensor detach_op(OpArgs& info) { return detach(info.tensor(0, "detach", "input")); }

Napi::Value version(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), arg_tensor(info, 0, "version", "tensor").version());
}

std::vector<Tensor> optional_tensors(const Napi::CallbackInfo& info, std::size_t i, std::size_t n, const char* op) {
  std::vector<Tensor> out(n);
  if (!arg_present(info, i)) return out;
  if (!info[i].IsArray()) throw_type_error(op, ": gradients must be an array");
  const Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() != n) throw_range_error(op, ": expected ", n, " output gradients, got ", a.Length());
  for (std::uint32_t k = 0; k < n; ++k) {
    const Napi::Value v = a.Get(k);
    if (!v.IsUndefined() && !v.IsNull()) out[k] = unwrap(v, op, "gradient");
  }
  return out;
}

// backward(roots, gradients | null, retainGraph, createGraph)
Napi::Value backward(const Napi::CallbackInfo& info) {
  const std::vector<Tensor> roots = arg_tensors(info, 0, "backward", "outputs");
  const std::vector<Tensor> grads = optional_tensors(info, 1, roots.size(), "backward");
  BackwardOptions options{arg_bool(info, 2, "backward", "retainGraph"), arg_bool(info, 3, "backward", "createGraph")};
  if (options.create_graph) options.retain_graph = true;
  for (const Tensor& r : roots) check_unlocked(r, "backward");
  tapegrad::backward(roots, grads, options);
  return info.Env().Undefined();
}

}  // namespace

// See async_job.h. The engine runs on a background thread (runtime/
// background.h); optimizer updates follow it on the same thread, allowed to
// write what the job locked. The job reports back to the JS thread through a
// thread-safe function: one wake-up each way.
class BackwardJob final {
 public:
  BackwardJob(const char* op, std::vector<Tensor> roots, std::vector<Tensor> grads,
              BackwardOptions options, std::vector<std::function<void()>> updates, const LockSets& also_lock,
              int threads)
      : op_(op), roots_(std::move(roots)), grads_(std::move(grads)), options_(options), updates_(std::move(updates)),
        threads_(threads) {
    refuse_inside_backward();
    check_roots(roots_, grads_, op_);  // here, so that the promise is not made for them
    collect_and_lock(also_lock);
  }

  // A traced step: the roots come from replaying `trace` on `inputs` in
  // Execute; the random numbers it will take are drawn now, on the JS thread.
  BackwardJob(const char* op, std::shared_ptr<const Trace> trace, std::vector<Tensor> inputs,
              std::vector<std::function<void()>> updates, const LockSets& also_lock, int threads)
      : op_(op), grads_{Tensor()}, updates_(std::move(updates)), threads_(threads), trace_(std::move(trace)),
        trace_inputs_(std::move(inputs)) {
    refuse_inside_backward();
    trace_->check_inputs(trace_inputs_, op_);
    LockSets locks = also_lock;
    const std::vector<Tensor>& captured = trace_->captured();
    for (std::size_t i = 0; i < captured.size(); ++i) {
      const Tensor& t = captured[i];
      if (!t.impl()->hooks.empty())
        throw_error(op_, ": the model has hooks registered from JS, which can only run on the JS thread");
      // A leaf that requires grad gets its gradient accumulated: written.
      const bool written = trace_->writes_captured(i) || t.requires_grad();
      (written ? locks.writes : locks.reads).push_back(t);
      if (t.impl()->grad) locks.writes.push_back(Tensor(t.impl()->grad));
    }
    for (std::size_t i = 0; i < trace_inputs_.size(); ++i)
      (trace_->writes_input(i) ? locks.writes : locks.reads).push_back(trace_inputs_[i]);
    lock_all(locks);
    draws_ = draw_ahead(trace_->random_calls());
  }

  BackwardJob(const BackwardJob&) = delete;
  BackwardJob& operator=(const BackwardJob&) = delete;
  ~BackwardJob() { unlock(); }

  // Queues the job on a background thread; the promise settles on the JS thread.
  static Napi::Promise start(Napi::Env env, std::unique_ptr<BackwardJob> job);

  // On the background thread: never preempts the JS thread, and uses at most
  // all but one of the pool's threads, so the event loop keeps a core.
  void execute() {
    try {
      const int threads = threads_ > 0 ? threads_ : std::max(1, runtime::num_threads() - 1);
      {
        AsyncJobScope scope;
        runtime::ThreadCapScope cap(threads);
        if (trace_) {
          outputs_ = trace_->run(trace_inputs_, op_, &draws_);
          if (outputs_.empty() || !outputs_[0].requires_grad())
            throw_error(op_, ": the loss does not require grad (no parameter reached it)");
          roots_ = {outputs_[0]};
        }
        tapegrad::backward(roots_, grads_, options_);
        for (const auto& update : updates_) update();
      }
    } catch (const Error& e) {
      kind_ = e.kind();
      message_ = e.what();
      failed_ = true;
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Tapegrad;
      message_ = e.what();
      failed_ = true;
    }
  }

  // On the JS thread once execute() returned: unlocks, then settles.
  void settle(Napi::Env env, Napi::Promise::Deferred& deferred) {
    unlock();
    try {
      if (failed_) throw_js(env, Error(kind_, message_));
      deferred.Resolve(trace_ ? wrap_all(env, std::move(outputs_)) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }

  void mark_finished() {
    std::lock_guard<std::mutex> lock(finished_mutex_);
    finished_ = true;
    finished_cv_.notify_all();
  }

  void wait_finished() {
    std::unique_lock<std::mutex> lock(finished_mutex_);
    finished_cv_.wait(lock, [&] { return finished_; });
  }

  void unlock() {
    for (const auto& [storage, amount] : locked_) storage->locks.fetch_sub(amount);
    locked_.clear();
    for (const auto& n : walked_) n->walking_jobs.fetch_sub(1);
    walked_.clear();
  }

 private:
  // From a hook of a synchronous backward: the job could run the nodes that
  // call runs, which are not marked as a job's are, and both would write the
  // leaves' gradients.
  void refuse_inside_backward() const {
    if (backward_running())
      throw_error(op_, ": cannot start from a hook while backward() or grad() runs; start it after that call returns");
  }

  void collect_and_lock(const LockSets& also_lock) {
    std::vector<std::shared_ptr<Node>> stack, walked;
    std::unordered_set<Node*> seen;
    for (const Tensor& r : roots_) {
      const Edge e = gradient_edge(r);
      if (seen.insert(e.node.get()).second) stack.push_back(e.node);
    }
    LockSets locks = also_lock;
    // What the rules saved: read by the job. A JS write to one would race
    // the rule that reads it (the version check sees only writes made before).
    std::vector<std::shared_ptr<Storage>> saved;
    while (!stack.empty()) {
      const std::shared_ptr<Node> n = std::move(stack.back());
      stack.pop_back();
      walked.push_back(n);
      // Two jobs through one node would both run it and free its saved tensors.
      if (walked_by_another_job(*n))
        throw_error(op_, ": the graph (at '", n->name(), "') is in use by another running backwardAsync; await it first");
      // Here, before the promise is made (the engine would find it too).
      if (n->released()) throw_released(op_, n->name());
      if (!n->pre_hooks.empty())
        throw_error(op_, ": the graph has hooks registered from JS, which can only run on the JS thread; use backward()");
      // The job would write a .grad that JS may be reading.
      if (std::any_of(n->retained.begin(), n->retained.end(), [](const RetainedGrad& r) { return !r.tensor.expired(); }))
        throw_error(op_, ": the graph has tensors whose gradient retainGrad() keeps; use backward()");
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n.get())) {
        if (!acc->leaf()->hooks.empty())
          throw_error(op_, ": the graph has hooks registered from JS, which can only run on the JS thread; use backward()");
        // Its .grad is written; the walked node (below) keeps it from JS
        // (held_by_job). The leaf itself is only read-locked: other jobs may
        // read it too (one whose graph saved it), but a train step, which
        // would write it and its .grad, is refused.
        locks.reads.push_back(Tensor(acc->leaf()));
        if (acc->leaf()->grad) locks.writes.push_back(Tensor(acc->leaf()->grad));
      }
      if (const SavedList* list = n->saved()) list->for_each([&](const TensorImpl* t) { saved.push_back(t->storage); });
      for (const Edge& e : n->next_edges)
        if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node);
    }
    locks.reads.insert(locks.reads.end(), roots_.begin(), roots_.end());
    for (const Tensor& g : grads_)  // read by the first node, on the background thread
      if (g.defined()) locks.reads.push_back(g);
    lock_all(locks, saved);
    for (const auto& n : walked) n->walking_jobs.fetch_add(1);
    walked_ = std::move(walked);
  }

  // Locks what the job writes for it alone, and what it only reads shared
  // with other jobs that only read it. JS writes fail while either is held.
  void lock_all(const LockSets& locks, const std::vector<std::shared_ptr<Storage>>& also_read = {}) {
    // Storage -> written; views and repeats lock once.
    std::unordered_map<std::shared_ptr<Storage>, bool> wanted;
    for (const Tensor& t : locks.writes) wanted[t.impl()->storage] = true;
    for (const Tensor& t : locks.reads) wanted.emplace(t.impl()->storage, false);
    for (const auto& storage : also_read) wanted.emplace(storage, false);
    for (const auto& [storage, written] : wanted) {
      std::int32_t current = storage->locks.load();
      bool taken = false;
      while (written ? current == 0 : current < Storage::kWriteLock) {
        if (storage->locks.compare_exchange_weak(current, current + (written ? Storage::kWriteLock : 1))) {
          taken = true;
          break;
        }
      }
      if (!taken) {
        unlock();
        throw_error(op_, ": a tensor it uses is in use by another running backwardAsync or train step; await it first");
      }
      locked_.emplace_back(storage, written ? Storage::kWriteLock : 1);
    }
  }

  const char* op_;
  std::vector<Tensor> roots_, grads_;
  std::vector<std::shared_ptr<Node>> walked_;  // marked walking_jobs while it runs
  BackwardOptions options_;
  std::vector<std::function<void()>> updates_;
  int threads_;
  std::shared_ptr<const Trace> trace_;
  std::vector<Tensor> trace_inputs_, outputs_;
  RandomDraws draws_;
  // What the job locked, and by how much; held, since JS may drop the tensors meanwhile.
  std::vector<std::pair<std::shared_ptr<Storage>, std::int32_t>> locked_;
  bool failed_ = false;
  ErrorKind kind_ = ErrorKind::Tapegrad;
  std::string message_;
  std::mutex finished_mutex_;
  std::condition_variable finished_cv_;
  bool finished_ = false;  // execute() returned and the thread-safe function is no longer used
};

namespace {

// The JS side of a running job: the promise, and the job shared with the background thread.
struct JobContext {
  Napi::Promise::Deferred deferred;
  std::shared_ptr<BackwardJob> job;
};

void job_done(Napi::Env env, Napi::Function, JobContext* context, void*) {
  if (env == nullptr) return;  // the environment is going away: job_finalize cleans up
  context->job->settle(env, context->deferred);
}

using JobDone = Napi::TypedThreadSafeFunction<JobContext, void, job_done>;

}  // namespace

Napi::Promise BackwardJob::start(Napi::Env env, std::unique_ptr<BackwardJob> job) {
  auto* context = new JobContext{Napi::Promise::Deferred::New(env), std::shared_ptr<BackwardJob>(std::move(job))};
  const Napi::Promise promise = context->deferred.Promise();
  JobDone done;
  try {
    // Runs on the JS thread when the job has reported back, or when the
    // environment is torn down (a worker terminated) while the job runs:
    // Node then frees the thread-safe function at once, so this waits until
    // the background thread no longer uses it.
    done = JobDone::New(env, "tapegrad backward", 0, 1, context, [](Napi::Env, void*, JobContext* c) {
      c->job->wait_finished();
      delete c;
    });
  } catch (...) {
    delete context;
    throw;
  }
  std::shared_ptr<BackwardJob> work = context->job;
  runtime::post_to_background([work, done]() {
    work->execute();
    // napi_closing: the environment is gone; the thread must not use `done` again.
    if (done.NonBlockingCall() == napi_ok) done.Release();
    work->mark_finished();
  });
  return promise;
}

Napi::Promise queue_backward_job(Napi::Env env, const char* op, std::vector<Tensor> roots, std::vector<Tensor> grads,
                                 BackwardOptions options, std::vector<std::function<void()>> updates,
                                 const LockSets& also_lock, int threads) {
  return BackwardJob::start(env, std::make_unique<BackwardJob>(op, std::move(roots), std::move(grads), options,
                                                              std::move(updates), also_lock, threads));
}

Napi::Promise queue_traced_step_job(Napi::Env env, const char* op, std::shared_ptr<const Trace> trace,
                                    std::vector<Tensor> inputs, std::vector<std::function<void()>> updates,
                                    const LockSets& also_lock, int threads) {
  return BackwardJob::start(
      env, std::make_unique<BackwardJob>(op, std::move(trace), std::move(inputs), std::move(updates), also_lock, threads));
}

namespace {

// backwardAsync(roots, gradients | null, retainGraph) -> Promise<void>
Napi::Value backward_async(const Napi::CallbackInfo& info) {
  std::vector<Tensor> roots = arg_tensors(info, 0, "backwardAsync", "outputs");
  std::vector<Tensor> grads = optional_tensors(info, 1, roots.size(), "backwardAsync");
  BackwardOptions options{arg_bool(info, 2, "backwardAsync", "retainGraph"), false};
  return queue_backward_job(info.Env(), "backwardAsync", std::move(roots), std::move(grads), options, {}, LockSets{});
}

// grad(outputs, inputs, gradients | null, retainGraph, createGraph, allowUnused) -> (handle | null)[]
Napi::Value grad(const Napi::CallbackInfo& info) {
  const std::vector<Tensor> roots = arg_tensors(info, 0, "grad", "outputs");
  const std::vector<Tensor> inputs = arg_tensors(info, 1, "grad", "inputs");
  const std::vector<Tensor> grads = optional_tensors(info, 2, roots.size(), "grad");
  BackwardOptions options{arg_bool(info, 3, "grad", "retainGraph"), arg_bool(info, 4, "grad", "createGraph")};
  if (options.create_graph) options.retain_graph = true;
  const std::vector<Tensor> result =
      tapegrad::grad(roots, grads, inputs, options, arg_bool(info, 5, "grad", "allowUnused"));
  Napi::Array out = Napi::Array::New(info.Env(), result.size());
  for (std::uint32_t i = 0; i < result.size(); ++i)
    out.Set(i, result[i].defined() ? wrap(info.Env(), result[i]) : info.Env().Null());
  return out;
}

Napi::Value is_grad_enabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), grad_enabled());
}

// An op, so that noGrad() inside a traced forward pass is replayed.
void set_grad_enabled_op(OpArgs& info) { set_grad_enabled(info.boolean(0, "setGradEnabled", "enabled")); }

// registerHook(handle, fn) -> remove(): fn(gradHandle) returns a handle or
// undefined. Hooks run on the JS thread during a synchronous backward. The
// returned function removes the hook (again: nothing); it holds neither the
// tensor nor its node.
Napi::Value register_hook(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "registerHook", "tensor");
  if (!info[1].IsFunction()) throw_type_error("registerHook: hook must be a function");
  check_unlocked(t, "registerHook");
  if (!t.requires_grad())
    throw_error("registerHook: cannot register a hook on a tensor that does not require grad");
  auto fn = std::make_shared<Napi::FunctionReference>(Napi::Persistent(info[1].As<Napi::Function>()));
  const napi_env env = info.Env();
  GradHook hook = [fn, env](const Tensor& g) -> Tensor {
    Napi::Env e(env);
    Napi::Value result = fn->Call({wrap(e, g)});
    if (result.IsUndefined() || result.IsNull()) return {};
    Tensor replaced = unwrap(result, "registerHook", "the hook's return value");
    // It replaces the gradient: another shape or dtype would reach the
    // inputs' gradients as if it were one (PyTorch refuses it too).
    if (replaced.shape() != g.shape())
      throw_range_error("registerHook: the hook returned a gradient of shape ", shape_str(replaced.shape()),
                        " for a gradient of shape ", shape_str(g.shape()));
    if (replaced.dtype() != g.dtype())
      throw_type_error("registerHook: the hook returned a ", dtype_name(replaced.dtype()), " gradient for a ",
                       dtype_name(g.dtype()), " one");
    return replaced;
  };
  static std::atomic<std::uint64_t> next_id{0};  // worker threads register too
  const std::uint64_t id = ++next_id;
  const auto remove_from = [id](std::vector<RegisteredHook>& hooks) {
    hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [id](const RegisteredHook& h) { return h.id == id; }),
                hooks.end());
  };
  std::function<void()> remove;
  if (t.is_leaf()) {
    t.impl()->hooks.push_back({id, 0, std::move(hook)});
    remove = [leaf = std::weak_ptr<TensorImpl>(t.impl_ptr()), remove_from] {
      if (auto impl = leaf.lock()) remove_from(impl->hooks);
    };
  } else {
    // A running job reads the node's hooks on its thread.
    if (walked_by_another_job(*t.grad_fn()))
      throw_error("registerHook: the tensor's graph is in use by a running backwardAsync; await it first");
    t.grad_fn()->pre_hooks.push_back({id, t.impl()->output_nr, std::move(hook)});
    remove = [node = std::weak_ptr<Node>(t.grad_fn()), remove_from] {
      if (auto n = node.lock()) remove_from(n->pre_hooks);
    };
  }
  return Napi::Function::New(
      info.Env(), [remove = std::move(remove)](const Napi::CallbackInfo& call) {
        remove();
        return call.Env().Undefined();
      },
      "remove");
}

// retainGrad(handle): backward() and grad() keep the gradient of a non-leaf
// tensor in its .grad, as PyTorch's retain_grad; on a leaf it does nothing.
Napi::Value retain_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "retainGrad", "tensor");
  check_unlocked(t, "retainGrad");
  if (!t.requires_grad())
    throw_error("retainGrad: cannot retain the gradient of a tensor that does not require grad");
  if (t.is_leaf() || find_retained(*t.grad_fn(), *t.impl())) return info.Env().Undefined();
  // A running job reads the node's list on its thread.
  if (walked_by_another_job(*t.grad_fn()))
    throw_error("retainGrad: the tensor's graph is in use by a running backwardAsync; await it first");
  t.grad_fn()->retained.push_back({t.impl()->output_nr, t.impl_ptr()});
  return info.Env().Undefined();
}

Napi::Value retains_grad(const Napi::CallbackInfo& info) {
  const Tensor t = arg_tensor(info, 0, "retainsGrad", "tensor");
  return Napi::Boolean::New(info.Env(), !t.is_leaf() && find_retained(*t.grad_fn(), *t.impl()));
}

// _setBackwardStrategy(name) -> previous name: internal switch for the
// backward-scaling bench and the determinism tests (see core/schedule.h).
Napi::Value set_backward_strategy_js(const Napi::CallbackInfo& info) {
  constexpr const char* op = "_setBackwardStrategy";
  const std::string name = arg_string(info, 0, op, "strategy");
  const BackwardStrategy strategy = parse_backward_strategy(name, op);
  const char* previous = backward_strategy_name(backward_strategy());
  set_backward_strategy(strategy);
  return Napi::String::New(info.Env(), previous);
}

// _backwardGroupedNodes(): nodes run side by side so far (see core/schedule.h).
Napi::Value backward_grouped_nodes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(grouped_nodes()));
}

// _backwardSideBySide(): matmul backwards whose two GEMMs were handed to two pool threads so far (see core/schedule.h).
Napi::Value backward_side_by_side(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(side_by_side_runs()));
}

}  // namespace

void register_autograd(Napi::Env env, Napi::Object exports) {
  define<requires_grad>(env, exports, "requiresGrad", InTrace::Ignored);
  define<set_requires_grad>(env, exports, "setRequiresGrad");
  define<is_leaf>(env, exports, "isLeaf", InTrace::Ignored);
  define<grad_fn_name>(env, exports, "gradFn", InTrace::Ignored);
  define<get_grad>(env, exports, "getGrad");
  define<has_grad>(env, exports, "hasGrad");
  define<set_grad>(env, exports, "setGrad");
  define<in_use>(env, exports, "inUse", InTrace::Ignored);
  define_op<detach_op>(env, exports, "detach");
  define<version>(env, exports, "version", InTrace::Ignored);
  define<backward>(env, exports, "backward");
  define<backward_async>(env, exports, "backwardAsync");
  define<grad>(env, exports, "grad");
  define<is_grad_enabled>(env, exports, "isGradEnabled", InTrace::Ignored);
  define_op<set_grad_enabled_op>(env, exports, "setGradEnabled");
  define<register_hook>(env, exports, "registerHook");
  define<retain_grad>(env, exports, "retainGrad");
  define<retains_grad>(env, exports, "retainsGrad", InTrace::Ignored);
  define<set_backward_strategy_js>(env, exports, "_setBackwardStrategy");
  define<backward_grouped_nodes>(env, exports, "_backwardGroupedNodes");
  define<backward_side_by_side>(env, exports, "_backwardSideBySide");
}

}  // namespace tapegrad::binding
