#include "core/schedule.h"

#include <atomic>
#include <cstring>

#include "runtime/error.h"

namespace tapegrad {

namespace {
// Intra is the default: in bench/backward-scaling.mjs on 2 threads it beat or
// tied hybrid and inter on every graph (hybrid pairs nodes one thread each,
// leaving a thread idle when their costs differ, while intra already splits
// each GEMM and runs a matmul's dA and dB side by side).
std::atomic<int> g_strategy{static_cast<int>(BackwardStrategy::Intra)};
std::atomic<std::uint64_t> g_grouped_nodes{0};

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

double node_cost(const Node& node) {
  // Gradients flowing in (one per output) and out (one per input that needs one).
  double in = 0, out = 0;
  for (const OutputMeta& m : node.outputs) in += numel_of(m.shape);
  for (const Edge& e : node.next_edges)
    if (e.node && e.input_nr < e.node->outputs.size()) out += numel_of(e.node->outputs[e.input_nr].shape);
  // A leaf's first gradient is stored as it is; later ones are one add.
  if (const auto* acc = dynamic_cast<const AccumulateGrad*>(&node)) return acc->leaf()->grad ? kNsPerElement * in : 0;
  const char* name = node.name();
  const bool is_linear = std::strcmp(name, "linear") == 0;
  if (is_linear || std::strcmp(name, "matmul") == 0) {
    // out = a·b with a [.., n, k]: each needed input gradient is one GEMM of
    // 2·(elements of out)·k flops. k is the last dim of a (and of linear's
    // weight [out, in]), or the second-to-last of matmul's b.
    double k = 0, gemms = 0;
    for (std::size_t i = 0; i < node.next_edges.size() && i < 2; ++i) {
      const Edge& e = node.next_edges[i];
      if (!e.node || e.input_nr >= e.node->outputs.size()) continue;
      const Shape& s = e.node->outputs[e.input_nr].shape;
      if (s.empty()) continue;
      gemms += 1;
      k = static_cast<double>(i == 0 || is_linear || s.size() < 2 ? s.back() : s[s.size() - 2]);
    }
    return kNsPerElement * (in + out) + gemms * 2 * in * k / kFlopsPerNs;
  }
  return kNsPerElement * (in + out);
}

}  // namespace tapegrad
