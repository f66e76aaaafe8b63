#include "core/schedule.h"

#include <atomic>
#include <cstring>
#include <initializer_list>

#include "kernels/kernels.h"
#include "runtime/error.h"

namespace tapegrad {

namespace {
// Intra is the default. In bench/backward-scaling.mjs on 2 threads hybrid
// tied it within 2% where every node splits itself or is cheap (MLP, residual
// stack, transformer block, 512-wide branches: hybrid runs those one by one
// too). Where small nodes wait side by side it won with both cores free
// (8 branches of 128-wide linears 0.16 vs 0.20 ms, attention head by head
// 0.29 vs 0.31 ms) but lost about 7% while another process kept one core busy
// (0.22 vs 0.20, 0.37 vs 0.34 ms): a hand-off then waits for a worker the OS
// has not run. Intra was never the slower one. Inter lost to both on the
// 512-wide branches (1.55x).
std::atomic<int> g_strategy{static_cast<int>(BackwardStrategy::Intra)};
std::atomic<std::uint64_t> g_grouped_nodes{0};
std::atomic<std::uint64_t> g_side_by_side{0};

constexpr double kNsPerElement = 0.5, kFlopsPerNs = 100;

double numel_of(const Shape& shape) {
  double n = 1;
  for (std::int64_t d : shape) n *= static_cast<double>(d);
  return n;
}
}  // namespace

void set_backward_strategy(BackwardStrategy strategy) {
  g_strategy.store(static_cast<int>(strategy), std::memory_order_relaxed);
}

BackwardStrategy backward_strategy() {
  return static_cast<BackwardStrategy>(g_strategy.load(std::memory_order_relaxed));
}

BackwardStrategy parse_backward_strategy(std::string_view name, const char* op) {
  if (name == "hybrid") return BackwardStrategy::Hybrid;
  if (name == "intra") return BackwardStrategy::Intra;
  if (name == "inter") return BackwardStrategy::Inter;
  throw_range_error(op, ": strategy must be 'hybrid', 'intra' or 'inter', got '", name, "'");
}

const char* backward_strategy_name(BackwardStrategy strategy) {
  switch (strategy) {
    case BackwardStrategy::Intra: return "intra";
    case BackwardStrategy::Inter: return "inter";
    default: return "hybrid";
  }
}

void note_grouped_nodes(std::size_t count) { g_grouped_nodes.fetch_add(count, std::memory_order_relaxed); }

std::uint64_t grouped_nodes() { return g_grouped_nodes.load(std::memory_order_relaxed); }

void note_side_by_side() { g_side_by_side.fetch_add(1, std::memory_order_relaxed); }

std::uint64_t side_by_side_runs() { return g_side_by_side.load(std::memory_order_relaxed); }

namespace {

// What a node's backward does, from its shapes and op kind.
struct NodeWork {
  double elements = 0;  // gradient elements read and written outside GEMMs
  double macs = 0;      // multiply-adds of its GEMMs, all together
  int gemms = 0;
  bool one_thread = false;  // its rule never splits across the pool
};

bool is_named(const Node& node, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (std::strcmp(node.name(), n) == 0) return true;
  return false;
}

NodeWork work_of(const Node& node) {
  NodeWork w;
  // Gradients flowing in (one per output) and out (one per input that needs one).
  double in = 0, out = 0;
  bool same_shapes = true;
  for (const OutputMeta& m : node.outputs) in += numel_of(m.shape);
  for (const Edge& e : node.next_edges) {
    if (!e.node || e.input_nr >= e.node->outputs.size()) continue;
    const Shape& s = e.node->outputs[e.input_nr].shape;
    out += numel_of(s);
    same_shapes = same_shapes && !node.outputs.empty() && s == node.outputs[0].shape;
  }
  // A leaf's first gradient is stored as it is; later ones are one add
  // (the elementwise fast path, split over the pool when large).
  if (const auto* acc = dynamic_cast<const AccumulateGrad*>(&node)) {
    w.elements = acc->leaf()->grad ? in : 0;
    return w;
  }
  // Rules that return a view of the incoming gradient (or the gradient
  // itself) copy nothing.
  if (is_named(node, {"permute", "transpose", "clone"}) || (is_named(node, {"add"}) && same_shapes))
    return w;
  // A reshape of a gradient that is not contiguous (one coming back through
  // a permute) copies it, in a plain loop on the calling thread.
  if (is_named(node, {"reshape", "view", "flatten", "squeeze", "unsqueeze"})) {
    w.elements = in;
    w.one_thread = true;
    return w;
  }
  w.elements = in + out;
  const bool is_linear = is_named(node, {"linear", "linearRelu"});
  // ReLU's gradient first: the incoming gradient and the output read, one written.
  if (is_named(node, {"linearRelu"})) w.elements += 3 * in;
  if (is_linear || is_named(node, {"matmul"})) {
    // out = a·b with a [.., n, k]: each needed input gradient is one GEMM of
    // (elements of out)·k multiply-adds. k is the last dim of a (and of
    // linear's weight [out, in]), or the second-to-last of matmul's b.
    for (std::size_t i = 0; i < node.next_edges.size() && i < 2; ++i) {
      const Edge& e = node.next_edges[i];
      if (!e.node || e.input_nr >= e.node->outputs.size()) continue;
      const Shape& s = e.node->outputs[e.input_nr].shape;
      if (s.empty()) continue;
      const double k = static_cast<double>(i == 0 || is_linear || s.size() < 2 ? s.back() : s[s.size() - 2]);
      w.gemms += 1;
      w.macs += in * k;
    }
  }
  return w;
}

double cost_of(const NodeWork& w) { return kNsPerElement * w.elements + 2 * w.macs / kFlopsPerNs; }

bool splits_itself(const NodeWork& w) {
  if (w.one_thread) return false;
  // Each GEMM splits its tiles from kGemmParallelMinMacs on, and a matmul's
  // two GEMMs run side by side from the same size (kConcurrentGemmFlops).
  if (w.gemms > 0 && w.macs / w.gemms >= kernels::kGemmParallelMinMacs) return true;
  return w.elements >= 2 * static_cast<double>(runtime::kElementwiseGrain);
}

}  // namespace

double node_cost(const Node& node) { return cost_of(work_of(node)); }

NodeEstimate estimate_node(const Node& node) {
  const NodeWork w = work_of(node);
  const double cost = cost_of(w);
  if (cost < kConcurrentNodeCost) return {cost, NodeRole::Cheap};
  return {cost, splits_itself(w) ? NodeRole::SplitsItself : NodeRole::Groupable};
}

}  // namespace tapegrad
