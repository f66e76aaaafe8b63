#include "core/schedule.h"

#include <atomic>
#include <cstring>

#include "runtime/error.h"

namespace tapegrad {

namespace {
std::atomic<int> g_strategy{static_cast<int>(BackwardStrategy::Hybrid)};

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

double node_cost(const Node& node) {
  // Gradients flowing in (one per output) and out (one per input that needs one).
  double in = 0, out = 0;
  for (const OutputMeta& m : node.outputs) in += numel_of(m.shape);
  for (const Edge& e : node.next_edges)
    if (e.node && e.input_nr < e.node->outputs.size()) out += numel_of(e.node->outputs[e.input_nr].shape);
  const char* name = node.name();
  if (std::strcmp(name, "matmul") == 0 || std::strcmp(name, "linear") == 0) {
    // out[.., n, m] = a[.., n, k]·b[k, m]: the gradients of a and b together
    // hold n·k + k·m elements, the output n·m, so k ≈ (a + b) / (n + m);
    // each needed input gradient is one GEMM of 2·n·m·k.
    if (node.outputs.empty() || node.outputs[0].shape.size() < 1) return in + out;
    const Shape& o = node.outputs[0].shape;
    const double cols = static_cast<double>(o.back());
    const double rows = in / (cols > 0 ? cols : 1);
    double gemms = 0;
    for (std::size_t i = 0; i < node.next_edges.size() && i < 2; ++i)
      if (node.next_edges[i].node) gemms += 1;
    const double k = out / (rows + cols > 0 ? rows + cols : 1);
    return in + out + gemms * 2 * in * k;
  }
  return in + out;
}

}  // namespace tapegrad
