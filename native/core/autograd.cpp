#include "core/autograd.h"

#include <atomic>

#include "core/grad_mode.h"
#include "core/strided.h"
#include "runtime/error.h"
#include "runtime/object_pool.h"

namespace tapegrad {

namespace {
std::atomic<std::uint64_t> g_next_sequence_nr{0};
thread_local bool t_grad_enabled = true;
// The node whose rule runs on this thread: the sanitizer build checks that
// what the rule unpacks was registered with it, which the async lock needs.
thread_local Node* t_running_node = nullptr;
}  // namespace

Node* running_node() { return t_running_node; }
RunningNodeScope::RunningNodeScope(Node* node) : outer_(std::exchange(t_running_node, node)) {}
RunningNodeScope::~RunningNodeScope() { t_running_node = outer_; }

thread_local constinit SavedList* detail::collecting_saved = nullptr;

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

bool walked_by_another_job(const Node& node) { return node.walking_jobs.load() != 0 && !in_async_job(); }

bool grad_accumulated_by_job(const TensorImpl& leaf) {
  const std::shared_ptr<Node> accumulator = leaf.grad_accumulator.lock();
  return accumulator && walked_by_another_job(*accumulator);
}

bool held_by_job(const Tensor& t) { return locked_against_writes(t.storage()) || grad_accumulated_by_job(*t.impl()); }

Node::Node(EdgeList edges)
    : next_edges(std::move(edges)), sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

// Long chains (an RNN over thousands of steps) would overflow the stack if
// each node's destructor released the next one recursively: move edges that
// hold the last reference onto a heap stack instead. A node's saved tensors
// are dropped before its edges are looked at: a saved input holds its own
// grad_fn, the node the edge leads to (mul saves both inputs), which would
// otherwise still have two owners here and be freed recursively later.
// (A derived node's saved state is gone by the time ~Node runs.)
Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  auto take = [&stack](EdgeList& edges) {
    for (Edge& e : edges)
      if (e.node && e.node.use_count() == 1) stack.push_back(std::move(e.node));
    edges.clear();
  };
  take(next_edges);
  while (!stack.empty()) {
    std::shared_ptr<Node> node = std::move(stack.back());
    stack.pop_back();
    node->release_saved();
    take(node->next_edges);
  }
}

namespace {
// What a saved input keeps. A view keeps the tensor it views (view_base),
// whose history a later write into one of its views leads back through the
// op that saved this (out.narrow(0, t, 1).copyFrom(f(out.narrow(0, t - 1, 1)))):
// a reference cycle. So a saved view is a copy of the handle without it,
// unless it is a leaf that requires grad, whose identity double backward
// accumulates into (and whose memory no recorded write may change).
Tensor kept_for_backward(const Tensor& t) {
  if (!t.defined() || !t.impl()->view_base || (t.is_leaf() && t.requires_grad())) return t;
  Tensor kept = detach(t);
  kept.impl()->requires_grad = t.impl()->requires_grad;
  kept.impl()->grad_fn = t.impl()->grad_fn;
  kept.impl()->output_nr = t.impl()->output_nr;
  return kept;
}
}  // namespace

SavedTensor::SavedTensor(const Tensor& t) : data_(kept_for_backward(t)), version_(t.defined() ? t.version() : 0) {}

SavedTensor SavedTensor::output(const Tensor& out, std::uint32_t output_nr) {
  SavedTensor saved;
  if (!out.defined()) return saved;
  saved.data_ = detach(out);
  saved.version_ = out.version();
  saved.output_nr_ = output_nr;
  saved.is_output_ = true;
  return saved;
}

Tensor SavedTensor::unpack(const Node* owner) const {
  if (!data_.defined()) return data_;
#ifdef TAPEGRAD_SANITIZE
  if (t_running_node != nullptr) {
    bool registered = false;
    if (const SavedList* list = t_running_node->saved())
      list->for_each([&](const TensorImpl* t) { registered = registered || t == data_.impl(); });
    if (!registered) throw_error("internal: '", t_running_node->name(), "' unpacked a saved tensor not registered with it");
  }
#endif
  if (data_.version() != version_) {
    // As PyTorch's message: the rule that needed it, and what it was.
    const Node* rule = owner != nullptr ? owner : t_running_node;
    throw_error("backward: a ", dtype_name(data_.dtype()), " tensor of shape ", shape_str(data_.shape()),
                is_output_ ? " (an output of '" : " saved by '", rule != nullptr ? rule->name() : "an op",
                "'", is_output_ ? ")" : "", " for the gradient was modified by an in-place operation (version ",
                data_.version(), ", expected ", version_, "); use the out-of-place op, or clone() it first");
  }
  if (!is_output_) return data_;
  if (owner == nullptr) throw_error("internal: a saved output must be unpacked with its node");
  Tensor t = detach(data_);
  t.impl()->grad_fn = std::const_pointer_cast<Node>(owner->shared_from_this());
  t.impl()->output_nr = output_nr_;
  return t;
}

void throw_released(const char* op, const char* node) {
  throw_error(op, ": tried to go through the graph a second time (at '", node,
              "'); the tensors it saved were freed by the first backward. Pass { retainGraph: true } to the first "
              "call to backward through it again");
}

FunctionNode::FunctionNode(const char* name, EdgeList next_edges, BackwardFn fn)
    : Node(std::move(next_edges)), name_(name), backward_(std::move(fn)) {}

Grads FunctionNode::apply(Grads&& grad_outputs) {
  if (!backward_) throw_released("backward", name_);
  const RunningNodeScope running(this);
  return backward_(grad_outputs, *this);
}

Edge gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  if (!impl->requires_grad) return {};
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::allocate_shared<AccumulateGrad>(runtime::PoolAllocator<AccumulateGrad>(), t.impl_ptr());
    acc->outputs.push_back({t.shape(), t.dtype()});
    impl->grad_accumulator = acc;
  }
  return {acc, 0};
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

RetainedGrad* find_retained(Node& node, const TensorImpl& t) {
  for (RetainedGrad& r : node.retained)
    if (r.tensor.lock().get() == &t) return &r;
  return nullptr;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {

// Moves t's entry, if any, from one node's retained list to another's.
void move_retained(Node& from, Node& to, const TensorImpl& t, std::uint32_t slot) {
  if (RetainedGrad* entry = find_retained(from, t)) {
    to.retained.push_back({slot, std::move(entry->tensor)});
    from.retained.erase(from.retained.begin() + (entry - from.retained.data()));
  }
}

void record_node(const char* name, const Tensor* inputs, std::size_t n_inputs, const Tensor* outputs,
                 std::size_t n_outputs, BackwardFn fn) {
  EdgeList edges;
  edges.reserve(n_inputs);
  for (std::size_t i = 0; i < n_inputs; ++i) edges.push_back(inputs[i].defined() ? gradient_edge(inputs[i]) : Edge{});
  auto node = std::allocate_shared<FunctionNode>(runtime::PoolAllocator<FunctionNode>(), name, std::move(edges),
                                                 std::move(fn));
  node->outputs.reserve(n_outputs);
  for (std::uint32_t i = 0; i < n_outputs; ++i) {
    node->outputs.push_back({outputs[i].shape(), outputs[i].dtype()});
    // A recorded in-place write: a retained gradient is now the new value's.
    if (Node* old = outputs[i].impl()->grad_fn.get(); old && !old->retained.empty())
      move_retained(*old, *node, *outputs[i].impl(), i);
    outputs[i].impl()->grad_fn = node;
    outputs[i].impl()->output_nr = i;
  }
}

}  // namespace

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, BackwardFn fn) {
  if (!should_record(inputs)) return;
  record_node(name, inputs.data(), inputs.size(), outputs.data(), outputs.size(), std::move(fn));
}

void record(const char* name, std::initializer_list<Tensor> inputs, const Tensor& output, BackwardFn fn) {
  if (!grad_enabled()) return;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return;
  record_node(name, inputs.begin(), inputs.size(), &output, 1, std::move(fn));
}

}  // namespace tapegrad
