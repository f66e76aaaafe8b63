#include "core/engine.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/grad_mode.h"
#include "core/schedule.h"
#include "core/strided.h"
#include "kernels/kernels.h"
#include "ops/elementwise_fast.h"
#include "ops/shape.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tapegrad {

namespace {

Tensor filled(const Shape& shape, DType dtype, double value) {
  Tensor t = empty(shape, dtype, "backward");
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(value);
  });
  return t;
}

// out = a + b, elementwise over one shape, written into `out` (any strides):
// the generic loop, for layouts the elementwise fast paths do not take.
void add_into(const Tensor& a, const Tensor& b, const Tensor& out) {
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.storage().data);
    const T* pb = static_cast<const T*>(b.storage().data);
    T* po = static_cast<T*>(out.storage().data);
    for_each_row<3>(out.shape(), {&a.strides(), &b.strides(), &out.strides()}, {a.offset(), b.offset(), out.offset()},
                    [&](const auto& off, std::int64_t n, const auto& in) {
                      for (std::int64_t i = 0; i < n; ++i)
                        po[off[2] + i * in[2]] = pa[off[0] + i * in[0]] + pb[off[1] + i * in[1]];
                    });
  });
}

}  // namespace

Tensor accumulate(const Tensor& a, const Tensor& b) {
  std::optional<Tensor> fast = ops::fast_binary(kernels::BinaryOp::Add, a, b, "backward");
  Tensor out = fast ? std::move(*fast) : empty(a.shape(), a.dtype(), "backward");
  if (!fast) add_into(a, b, out);
  record("add", {a, b}, out, [](const Grads& g, const Node&) { return Grads{g[0], g[0]}; });
  return out;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node({}), leaf_(std::move(leaf)) {}

namespace {

// Adds g to owner's .grad (a leaf's, or a retained gradient's). A gradient
// nobody else holds becomes .grad as it is; otherwise copy, so later
// in-place accumulation cannot write into another tensor. With createGraph
// always a recorded clone, as PyTorch's: g may be sum's expanded gradient
// (one element in memory) or also reach another .grad, and a later plain
// backward adds into .grad in place.
void accumulate_grad(TensorImpl* owner, Tensor g) {
  const bool create_graph = grad_enabled();
  if (!owner->grad) {
    if (create_graph) {
      owner->grad = ops::clone(g).impl_ptr();
    } else if (g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1 && g.is_contiguous() &&
               !g.impl()->grad_fn) {
      owner->grad = g.impl_ptr();
    } else {
      owner->grad = copy_of(g, "backward").impl_ptr();
    }
    return;
  }
  Tensor current(owner->grad);
  if (create_graph || current.requires_grad()) {
    owner->grad = accumulate(current, g).impl_ptr();
  } else {
    // A hook returned a view of .grad itself: added from a copy, since the
    // sum is written over what it reads.
    if (overlaps(g, current)) g = copy_of(g, "backward");
    if (!ops::fast_binary_inplace(kernels::BinaryOp::Add, current, g, "backward")) add_into(current, g, current);
    current.bump_version();
  }
}

}  // namespace

Grads AccumulateGrad::apply(Grads&& grads) {
  if (grads[0].defined()) accumulate_grad(leaf_.get(), std::move(grads[0]));
  return {};
}

namespace {

struct Contribution {
  std::uint64_t producer;  // sequence_nr of the node that sent it
  std::uint32_t edge;      // which of its edges
  Tensor grad;
};

struct NodeState {
  int dependencies = 0;
  double cost = 0;  // node_cost, found with its role when queued under the hybrid policy
  std::vector<std::vector<Contribution>> slots;  // per output of the node
};

struct Capture {
  Node* node;
  std::uint32_t slot;
};

struct LaterFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr > b->sequence_nr; }
};

// Nodes whose gradients are complete, latest first. Under the hybrid policy
// each node's role and cost estimate are found once, when it becomes ready:
// the role picks a set, so choosing a step does not rescan every waiting
// node, and the cost is kept in the node's state for ordering a group.
struct ReadyQueue {
  explicit ReadyQueue(bool by_role) : by_role(by_role) {}

  void push(Node* node, NodeState& s) {
    all.insert(node);
    if (!by_role) return;
    const NodeEstimate e = estimate_node(*node);
    s.cost = e.cost;
    switch (e.role) {
      case NodeRole::Cheap: cheap.insert(node); break;
      case NodeRole::Groupable: groupable.insert(node); break;
      case NodeRole::SplitsItself: break;
    }
  }

  void take(Node* node) {
    all.erase(node);
    if (!by_role) return;
    cheap.erase(node);
    groupable.erase(node);
  }

  const bool by_role;
  std::set<Node*, LaterFirst> all, cheap, groupable;
};

// Sums the contributions to one slot in a fixed order.
Tensor sum_slot(std::vector<Contribution>& parts) {
  if (parts.empty()) return {};
  std::sort(parts.begin(), parts.end(), [](const Contribution& a, const Contribution& b) {
    return a.producer != b.producer ? a.producer > b.producer : a.edge < b.edge;
  });
  Tensor total = std::move(parts[0].grad);
  for (std::size_t i = 1; i < parts.size(); ++i) total = accumulate(total, parts[i].grad);
  parts.clear();
  return total;
}

void check_grad(const Node& producer, std::size_t input, const Tensor& grad, const OutputMeta& expected) {
  if (grad.shape() != expected.shape || grad.dtype() != expected.dtype)
    throw_error("backward: the gradient computed by '", producer.name(), "' for its input ", input, " has shape ",
                shape_str(grad.shape()), " and dtype ", dtype_name(grad.dtype()), ", expected ",
                shape_str(expected.shape), " and ", dtype_name(expected.dtype));
}

// Runs the hooks of a node's outputs (a leaf's: slot 0) on the gradients
// that reached them; a hook's result replaces the gradient. The list is
// copied first: a hook may register or remove hooks (which apply from the
// next backward on), and the list must not change under the loop.
void run_hooks(const std::vector<RegisteredHook>& registered, Grads& inputs) {
  if (registered.empty()) return;
  const std::vector<RegisteredHook> hooks = registered;
  for (const RegisteredHook& h : hooks) {
    if (!inputs[h.slot].defined()) continue;
    Tensor replaced = h.fn(inputs[h.slot]);
    if (replaced.defined()) inputs[h.slot] = replaced;
  }
}

}  // namespace

void check_roots(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, const char* op) {
  if (roots.size() != grad_roots.size())
    throw_range_error(op, ": expected ", roots.size(), " output gradients, got ", grad_roots.size());
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.requires_grad())
      throw_error(op, ": output ", i, " does not require grad and has no grad_fn; call setRequiresGrad(true) on an "
                  "input, or compute it with grad mode enabled");
    const Tensor& g = grad_roots[i];
    if (!g.defined() && r.numel() != 1)
      throw_error(op, ": output ", i, " has shape ", shape_str(r.shape()),
                  "; gradients can be created implicitly only for outputs with one element. Pass a gradient");
    if (g.defined() && (g.shape() != r.shape() || g.dtype() != r.dtype()))
      throw_range_error(op, ": gradient ", i, " has shape ", shape_str(g.shape()), " and dtype ", dtype_name(g.dtype()),
                        ", expected shape ", shape_str(r.shape()), " and dtype ", dtype_name(r.dtype()));
  }
}

namespace {

thread_local int t_runs = 0;  // run() calls in progress on this thread (a hook may nest one)

// Runs the graph under `roots`. With captures, gradients arriving at those
// (node, slot) pairs are returned instead of accumulated into leaves.
std::vector<Tensor> run(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                        BackwardOptions options, const std::vector<Capture>* captures) {
  const char* op = captures ? "grad" : "backward";
  struct Running {
    Running() { ++t_runs; }
    ~Running() { --t_runs; }
  } running;
  check_roots(roots, grad_roots, op);
  std::vector<Edge> root_edges;
  for (const Tensor& r : roots) root_edges.push_back(gradient_edge(r));

  // Count dependencies: one per edge reaching a node from the roots. Every
  // node is seen here before any runs, so a graph that a running async job
  // walks (in part) is refused whole.
  std::unordered_map<Node*, NodeState> state;
  std::vector<Node*> stack;
  for (const Edge& e : root_edges) {
    if (state.emplace(e.node.get(), NodeState{}).second) stack.push_back(e.node.get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (walked_by_another_job(*n))
      throw_error(op, ": the graph (at '", n->name(), "') is in use by a running backwardAsync; await it first");
    // A .grad that a running job read-locked (a rule of its graph saved it) is added into in place below.
    if (n->next_edges.empty() && !captures && !options.create_graph)
      if (const auto* acc = dynamic_cast<const AccumulateGrad*>(n); acc && acc->leaf()->grad &&
                                                                     locked_against_writes(*acc->leaf()->grad->storage))
        throw_error(op, ": the .grad of a leaf it accumulates into is in use by a running backwardAsync or train "
                    "step; await it first");
    for (const Edge& e : n->next_edges) {
      if (!e.node) continue;
      auto [it, inserted] = state.emplace(e.node.get(), NodeState{});
      it->second.dependencies++;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  // With captures, only nodes that lead to a captured slot need to run.
  std::unordered_set<Node*> needed;
  std::unordered_map<Node*, std::vector<std::pair<std::uint32_t, std::size_t>>> capture_at;
  if (captures) {
    for (std::size_t i = 0; i < captures->size(); ++i)
      capture_at[(*captures)[i].node].push_back({(*captures)[i].slot, i});
    // Post-order walk: a node is needed if it is captured or any child is.
    std::unordered_map<Node*, int> seen;  // 1 = entered, 2 = done
    for (const Edge& e : root_edges) {
      std::vector<std::pair<Node*, std::size_t>> walk{{e.node.get(), 0}};
      if (seen.count(e.node.get())) continue;
      seen[e.node.get()] = 1;
      while (!walk.empty()) {
        auto& [n, next] = walk.back();
        if (next < n->next_edges.size()) {
          Node* child = n->next_edges[next++].node.get();
          if (child && !seen.count(child)) {
            seen[child] = 1;
            walk.push_back({child, 0});
          }
          continue;
        }
        // A captured node itself need not run (its gradient is taken as it
        // arrives); the nodes that send gradients to it do.
        bool need = false;
        for (const Edge& c : n->next_edges)
          if (c.node && (needed.count(c.node.get()) || capture_at.count(c.node.get()))) need = true;
        if (need) needed.insert(n);
        seen[n] = 2;
        walk.pop_back();
      }
    }
  }

  // A rule freed by an earlier backward, among those this call will run:
  // found before any runs, so that no gradient is half accumulated. The
  // latest such node is named (the one a walk would reach first).
  const Node* released = nullptr;
  for (const auto& [n, unused] : state)
    if ((!captures || needed.count(n) > 0) && n->released() &&
        (released == nullptr || n->sequence_nr > released->sequence_nr))
      released = n;
  if (released != nullptr) throw_released(op, released->name());

  std::vector<Tensor> captured(captures ? captures->size() : 0);
  const BackwardStrategy strategy = backward_strategy();
  // Rules that record a graph (createGraph) create and share AccumulateGrad
  // nodes of leaves, which is not safe from two threads: run them one by one.
  const int group_limit =
      strategy == BackwardStrategy::Intra || options.create_graph ? 1 : runtime::region_threads();
  const bool hybrid = group_limit > 1 && strategy == BackwardStrategy::Hybrid;
  ReadyQueue ready(hybrid);

  auto deliver = [&](Node* target, std::uint32_t slot, Contribution c) {
    NodeState& s = state[target];
    if (s.slots.size() < target->outputs.size()) s.slots.resize(target->outputs.size());
    s.slots[slot].push_back(std::move(c));
  };

  GradModeGuard mode(options.create_graph);
  for (std::size_t i = 0; i < roots.size(); ++i) {
    Tensor g = grad_roots[i];
    if (!g.defined()) g = filled(roots[i].shape(), roots[i].dtype(), 1.0);
    deliver(root_edges[i].node.get(), root_edges[i].input_nr,
            {UINT64_MAX, static_cast<std::uint32_t>(i), std::move(g)});
  }
  for (const Edge& e : root_edges)
    if (NodeState& s = state[e.node.get()]; s.dependencies == 0) {
      s.dependencies = -1;  // queued once
      ready.push(e.node.get(), s);
    }

  // One step takes a group of ready nodes (see core/schedule.h), prepares
  // their inputs here (sums, hooks: hooks call into JS, so they stay on this
  // thread), runs the group's backward rules, possibly concurrently, and then
  // delivers their outputs here in the group's order. Contributions are summed
  // in producer order (sum_slot), so results do not depend on the grouping.
  std::vector<Node*> group;
  std::vector<Grads> group_inputs, group_outputs;
  std::vector<char> group_runs;
  // A concurrent group's run order and cost estimates, reused from group to group.
  std::vector<std::size_t> group_order;
  std::vector<double> group_cost;

  auto prepare = [&](Node* node, Grads& inputs) -> bool {
    NodeState& s = state[node];
    inputs.assign(node->outputs.size(), Tensor{});
    bool any = false;
    for (std::size_t k = 0; k < node->outputs.size(); ++k) {
      if (k < s.slots.size()) inputs[k] = sum_slot(s.slots[k]);
      any = any || inputs[k].defined();
    }
    run_hooks(node->pre_hooks, inputs);
    // Retained gradients, as PyTorch's, see what the hooks made, and are
    // kept by grad() too where it runs the node.
    if (!captures || needed.count(node) > 0)
      for (const RetainedGrad& r : node->retained)
        if (inputs[r.slot].defined())
          if (std::shared_ptr<TensorImpl> t = r.tensor.lock()) accumulate_grad(t.get(), inputs[r.slot]);
    if (auto* acc = dynamic_cast<AccumulateGrad*>(node)) run_hooks(acc->leaf()->hooks, inputs);  // slot 0
    if (captures) {
      auto it = capture_at.find(node);
      if (it != capture_at.end())
        for (auto [slot, index] : it->second) captured[index] = inputs[slot];
    }
    const bool run_node = any && (captures ? needed.count(node) > 0 && !dynamic_cast<AccumulateGrad*>(node) : true);
    if (run_node && !node->takes_missing_grads)
      for (std::size_t k = 0; k < inputs.size(); ++k)
        if (!inputs[k].defined()) inputs[k] = filled(node->outputs[k].shape, node->outputs[k].dtype, 0.0);
    return run_node;
  };

  auto apply = [&](std::size_t i) {
    if (!group_runs[i]) return;
    group_outputs[i] = group[i]->apply(std::move(group_inputs[i]));
    if (!options.retain_graph) group[i]->release_saved();
  };

  while (!ready.all.empty()) {
    group.clear();
    if (hybrid) {
      // First the latest cheap node (a view, an add, a leaf's gradient):
      // running those can make more nodes ready to group, as in a chain of
      // adds over branches. Then every groupable node, when there are at
      // least two. Otherwise the latest node, its kernels split across the pool.
      if (!ready.cheap.empty()) group.push_back(*ready.cheap.begin());
      else if (ready.groupable.size() >= 2) group.assign(ready.groupable.begin(), ready.groupable.end());
      else group.push_back(*ready.all.begin());
    } else if (group_limit > 1) {
      // Inter: the latest ready nodes, however small.
      for (auto it = ready.all.begin(); it != ready.all.end() && static_cast<int>(group.size()) < group_limit; ++it)
        group.push_back(*it);
    } else {
      group.push_back(*ready.all.begin());
    }
    for (Node* n : group) ready.take(n);
    const std::size_t count = group.size();
    group_inputs.resize(count);
    group_outputs.assign(count, Grads{});
    group_runs.assign(count, 0);
    for (std::size_t i = 0; i < count; ++i) group_runs[i] = prepare(group[i], group_inputs[i]);
    if (count == 1) {
      apply(0);
    } else {
      // Each node runs on one thread with its kernels inline (a nested region
      // on the pool runs on the thread that opened it). Threads take the
      // next node as they finish one, largest estimate first, so a long node
      // does not leave the others' threads idle behind a fixed split. Which
      // thread runs a node does not change its result. Grad mode is per
      // thread: set it on the pool threads too.
      group_order.resize(count);
      group_cost.resize(count);
      // Under the hybrid policy the estimates were found when the nodes were queued.
      for (std::size_t i = 0; i < count; ++i)
        group_order[i] = i, group_cost[i] = hybrid ? state[group[i]].cost : node_cost(*group[i]);
      // Largest first, ties in group order: std::sort with the index as a
      // tie-break orders as a stable sort would, without its scratch buffer.
      std::sort(group_order.begin(), group_order.end(), [&](std::size_t a, std::size_t b) {
        return group_cost[a] != group_cost[b] ? group_cost[a] > group_cost[b] : a < b;
      });
      std::atomic<std::size_t> next{0};
      const bool mode = options.create_graph;
      note_grouped_nodes(count);
      const auto threads = std::min<std::int64_t>(static_cast<std::int64_t>(count), group_limit);
      runtime::parallel_for(0, threads, 1, [&](std::int64_t, std::int64_t) {
        GradModeGuard pool_mode(mode);
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) apply(group_order[i]);
      });
    }
    for (std::size_t g = 0; g < count; ++g) {
      Node* node = group[g];
      Grads& outputs = group_outputs[g];
      for (std::size_t i = 0; i < node->next_edges.size(); ++i) {
        const Edge& e = node->next_edges[i];
        if (!e.node) continue;
        if (i < outputs.size() && outputs[i].defined()) {
          check_grad(*node, i, outputs[i], e.node->outputs[e.input_nr]);
          deliver(e.node.get(), e.input_nr, {node->sequence_nr, static_cast<std::uint32_t>(i), std::move(outputs[i])});
        }
        NodeState& next = state[e.node.get()];
        if (--next.dependencies == 0) {
          next.dependencies = -1;
          ready.push(e.node.get(), next);
        }
      }
    }
  }
  return captured;
}

}  // namespace

bool backward_running() { return t_runs > 0; }

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, BackwardOptions options) {
  run(roots, grad_roots, options, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                         const std::vector<Tensor>& inputs, BackwardOptions options, bool allow_unused) {
  std::vector<Capture> captures;
  // Keep AccumulateGrad nodes of leaf inputs alive while the graph runs. Held
  // from the moment they are made: a leaf that no graph uses (an input that is
  // itself an output) has no other owner, and a second gradient_edge call
  // would make a new node that the capture does not point to.
  std::vector<std::shared_ptr<Node>> keep;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad())
      throw_error("grad: input ", i, " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    captures.push_back({e.node.get(), e.input_nr});
    keep.push_back(std::move(e.node));
  }
  std::vector<Tensor> result = run(roots, grad_roots, options, &captures);
  for (std::size_t i = 0; i < result.size(); ++i)
    if (!result[i].defined() && !allow_unused)
      throw_error("grad: input ", i, " was not used to compute the outputs; pass { allowUnused: true } to get null for it");
  return result;
}

}  // namespace tapegrad
