// The graph the forward pass records: backward nodes with edges to the
// nodes of their inputs, saved tensors that check their version, and the
// `record` call every op uses to attach its backward rule.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "runtime/object_pool.h"

namespace tapegrad {

using Grads = std::vector<Tensor>;

struct Edge {
  std::shared_ptr<Node> node;  // null: that input needs no gradient
  std::uint32_t input_nr = 0;  // which output of `node` the gradient is for
};

// Shape and dtype of a node's output, to fill in a zero gradient for an
// output that received none.
struct OutputMeta {
  Shape shape;
  DType dtype;
};

// An output whose gradient backward() also keeps in the tensor's .grad
// (retainGrad). The node does not own the tensor: once JS frees it, its
// gradient is simply not kept.
struct RetainedGrad {
  std::uint32_t slot;
  std::weak_ptr<TensorImpl> tensor;
};

// A node's edges, in memory from the per-thread object pool.
using EdgeList = std::vector<Edge, runtime::PoolAllocator<Edge>>;

// The tensors a backward rule saved, so that an async job walking its node
// can lock their storages against writes from JS. Raw pointers: the rule's
// SavedTensors hold them, and the list is emptied before the rule is freed.
// Four are held in place (most rules save at most that many), more in the
// pool: every recorded op fills one, so it should cost neither an
// allocation nor a reference count.
class SavedList {
 public:
  SavedList() = default;
  SavedList(SavedList&& other) noexcept
      : first_(other.first_), size_(std::exchange(other.size_, 0)), rest_(std::move(other.rest_)) {}
  SavedList& operator=(SavedList&& other) noexcept {
    first_ = other.first_;
    size_ = std::exchange(other.size_, 0);
    rest_ = std::move(other.rest_);
    return *this;
  }
  void add(const TensorImpl* t) {
    if (size_ < first_.size()) first_[size_] = t;
    else rest_.push_back(t);
    ++size_;
  }
  void clear() {
    size_ = 0;
    rest_.clear();
  }
  bool empty() const { return size_ == 0; }
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < size_ && i < first_.size(); ++i) f(first_[i]);
    for (const TensorImpl* t : rest_) f(t);
  }

 private:
  std::array<const TensorImpl*, 4> first_{};
  std::size_t size_ = 0;
  std::vector<const TensorImpl*, runtime::PoolAllocator<const TensorImpl*>> rest_;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(EdgeList next_edges);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients for each input from gradients for each output.
  virtual Grads apply(Grads&& grad_outputs) = 0;
  // Drops saved tensors after a backward pass without retainGraph.
  virtual void release_saved() {}
  // Whether release_saved() dropped the rule: the node cannot run again.
  virtual bool released() const { return false; }
  // What its backward rule saved; null for a node without one.
  virtual SavedList* saved() { return nullptr; }
  virtual const char* name() const = 0;

  bool needs_grad(std::size_t input) const { return input < next_edges.size() && next_edges[input].node; }

  EdgeList next_edges;
  std::vector<OutputMeta, runtime::PoolAllocator<OutputMeta>> outputs;
  // Creation order; the engine runs later nodes first and sums gradients in
  // this order, so results do not depend on scheduling.
  const std::uint64_t sequence_nr;
  // Hooks registered on non-leaf outputs (slot: the output's index).
  std::vector<RegisteredHook> pre_hooks;
  // Outputs whose gradients backward() keeps, after the hooks have run.
  std::vector<RetainedGrad> retained;
  // The engine passes zeros for outputs that got no gradient, unless the
  // rule handles those itself (undefined gradients; split's, which then
  // writes zeros only once, into its input's gradient).
  bool takes_missing_grads = false;
  // Set while a running async job (backwardAsync) walks the node, from the
  // JS thread when it starts until it settles: the JS thread may then
  // neither run the node (a synchronous backward or grad through a shared
  // part of the graph would race the job's, freeing what it reads) nor
  // change its hooks.
  std::atomic<std::int32_t> walking_jobs{0};
};

// t's entry in the node's retained list (retainGrad), or null.
RetainedGrad* find_retained(Node& node, const TensorImpl& t);

// True when a running async job walks `node` and the caller is not that job.
bool walked_by_another_job(const Node& node);

// True when a running async job accumulates into the leaf's .grad (it walks
// the leaf's AccumulateGrad node) and the caller is not that job.
bool grad_accumulated_by_job(const TensorImpl& leaf);

// True when a running async job holds `t`, and the caller is not that job:
// its memory (the job reads or writes it) or its .grad. JS may then neither
// free it nor change its .grad, requires_grad or hooks.
bool held_by_job(const Tensor& t);

namespace detail {
// The list of the BackwardFn whose state is being made on this thread, if
// any (BackwardFn::CollectSaved). Declared here so that a SavedTensor's move
// inlines: every recorded op moves its saved tensors once.
extern thread_local constinit SavedList* collecting_saved;
}  // namespace detail

// A tensor kept for backward, in the capture list of the rule that reads
// it (never a Tensor captured as it is: a backward without retainGraph
// frees the rules that saved tensors, and keeps those that saved none for
// another walk). An op's own output (SavedTensor::output) keeps no
// reference to the output's node, which would be a cycle through the node's
// rule: it is re-attached to the node passed to unpack, the rule's own.
//
// Each one registers with the rule that keeps it (Node::saved) when it is
// moved into the BackwardFn's state.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // Output `output_nr` of the op about to be recorded: unpack it with the node.
  static SavedTensor output(const Tensor& out, std::uint32_t output_nr = 0);
  // Moves only: a copy would not be registered.
  SavedTensor(SavedTensor&& other)
      : data_(std::move(other.data_)),
        version_(other.version_),
        output_nr_(other.output_nr_),
        is_output_(other.is_output_) {
    if (SavedList* list = detail::collecting_saved; list != nullptr && data_.defined()) list->add(data_.impl());
  }
  SavedTensor(const SavedTensor&) = delete;
  SavedTensor& operator=(const SavedTensor&) = delete;
  SavedTensor& operator=(SavedTensor&&) = delete;
  // Throws if the tensor was modified in place after it was saved. `owner`:
  // the node whose rule runs, for an output.
  Tensor unpack(const Node* owner = nullptr) const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  std::uint32_t version_ = 0;
  std::uint32_t output_nr_ = 0;
  bool is_output_ = false;
};

// `t` kept for backward only where a gradient that reads it will be
// computed (`needed`, from the other inputs' requires_grad at record time):
// as PyTorch, an operand that only a frozen input's gradient would read is
// neither held in memory nor checked for later in-place writes.
inline SavedTensor saved_if(bool needed, const Tensor& t) { return needed ? SavedTensor(t) : SavedTensor(); }
// The same for an op's own output (SavedTensor::output).
inline SavedTensor saved_output_if(bool needed, const Tensor& out) {
  return needed ? SavedTensor::output(out) : SavedTensor();
}

// The backward rule of an op: from gradients of its outputs, gradients of
// its inputs (undefined where node.needs_grad(i) is false). Written with
// differentiable ops so that createGraph records gradients of gradients.
// Called as fn(grad_outputs, node). Like std::function, but move-only and
// with the captured state in the per-thread object pool: every recorded op
// makes one, so it should not cost a malloc.
class BackwardFn {
 public:
  BackwardFn() = default;
  BackwardFn(std::nullptr_t) {}
  template <typename F, typename Fn = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<Fn, BackwardFn> &&
                                        std::is_invocable_r_v<Grads, Fn&, const Grads&, const Node&>>>
  BackwardFn(F&& f) {
    void* mem = fits<Fn>() ? runtime::pool_allocate(sizeof(Fn)) : ::operator new(sizeof(Fn), std::align_val_t{alignof(Fn)});
    try {
      const CollectSaved collect(saved_);  // the SavedTensors moved into the state register here
      state_ = new (mem) Fn(std::forward<F>(f));
    } catch (...) {
      free_memory<Fn>(mem);
      throw;
    }
    invoke_ = [](void* state, const Grads& g, const Node& node) -> Grads { return (*static_cast<Fn*>(state))(g, node); };
    destroy_ = [](void* state) {
      static_cast<Fn*>(state)->~Fn();
      free_memory<Fn>(state);
    };
  }
  BackwardFn(BackwardFn&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        invoke_(other.invoke_),
        destroy_(other.destroy_),
        saved_(std::move(other.saved_)) {}
  BackwardFn& operator=(BackwardFn&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::exchange(other.state_, nullptr);
      invoke_ = other.invoke_;
      destroy_ = other.destroy_;
      saved_ = std::move(other.saved_);
    }
    return *this;
  }
  BackwardFn& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  BackwardFn(const BackwardFn&) = delete;
  BackwardFn& operator=(const BackwardFn&) = delete;
  ~BackwardFn() { reset(); }

  explicit operator bool() const { return state_ != nullptr; }
  Grads operator()(const Grads& g, const Node& node) const { return invoke_(state_, g, node); }
  // The tensors its state saved.
  SavedList& saved() { return saved_; }

 private:
  // While alive, SavedTensors moved on this thread register with `list`.
  class CollectSaved {
   public:
    explicit CollectSaved(SavedList& list) : outer_(std::exchange(detail::collecting_saved, &list)) {}
    ~CollectSaved() { detail::collecting_saved = outer_; }
    CollectSaved(const CollectSaved&) = delete;
    CollectSaved& operator=(const CollectSaved&) = delete;

   private:
    SavedList* outer_;
  };

  template <typename Fn>
  static constexpr bool fits() {
    return sizeof(Fn) <= runtime::kPoolMaxBlock && alignof(Fn) <= alignof(std::max_align_t);
  }
  template <typename Fn>
  static void free_memory(void* mem) noexcept {
    if constexpr (fits<Fn>())
      runtime::pool_release(mem, sizeof(Fn));
    else
      ::operator delete(mem, std::align_val_t{alignof(Fn)});
  }
  void reset() noexcept {
    // Clear first: destroying the state may free tensors whose graphs lead back here.
    saved_.clear();
    if (void* state = std::exchange(state_, nullptr)) destroy_(state);
  }

  void* state_ = nullptr;
  Grads (*invoke_)(void*, const Grads&, const Node&) = nullptr;
  void (*destroy_)(void*) = nullptr;
  SavedList saved_;
};

// The error for a second walk through a released node (`node`'s name).
[[noreturn]] void throw_released(const char* op, const char* node);

class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, EdgeList next_edges, BackwardFn fn);
  Grads apply(Grads&& grad_outputs) override;
  // As PyTorch, a rule that saved no tensor (a transpose, a reshape, an
  // add) stays: a graph through it may be walked again (a view of a weight
  // made once and used every step).
  void release_saved() override {
    if (!backward_.saved().empty()) backward_ = nullptr;
  }
  bool released() const override { return !backward_; }
  SavedList* saved() override { return &backward_.saved(); }
  const char* name() const override { return name_; }

 private:
  const char* name_;
  BackwardFn backward_;
};

// The sink of a leaf's gradient: adds it into leaf.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  Grads apply(Grads&& grad_outputs) override;
  const char* name() const override { return "AccumulateGrad"; }
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The node whose backward rule runs on this thread, or null. Work a rule
// hands to pool threads carries it there (RunningNodeScope), so that the
// sanitizer build's check of each unpack sees those threads too.
Node* running_node();
class RunningNodeScope {
 public:
  explicit RunningNodeScope(Node* node);
  ~RunningNodeScope();
  RunningNodeScope(const RunningNodeScope&) = delete;
  RunningNodeScope& operator=(const RunningNodeScope&) = delete;

 private:
  Node* outer_;
};

// The edge a gradient for `t` flows along: its grad_fn, or for a leaf that
// requires grad its AccumulateGrad node (created on first use).
Edge gradient_edge(const Tensor& t);

// True when grad mode is on and any input requires grad.
bool should_record(std::initializer_list<const Tensor*> inputs);
bool should_record(const std::vector<Tensor>& inputs);

// Attaches a backward node to `outputs` when should_record(inputs).
// Call after the forward computation; `fn` captures what it saved.
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, BackwardFn fn);
void record(const char* name, std::initializer_list<Tensor> inputs, const Tensor& output, BackwardFn fn);

}  // namespace tapegrad
