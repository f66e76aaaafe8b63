// How the backward engine spreads one pass over the thread pool.
//
// Inside a node, kernels split across the pool on their own (GEMM tiles;
// matmul runs dA and dB side by side). Between nodes, the engine may run
// several ready nodes at once, each on one pool thread with its kernels
// inline. Running small nodes that way is slower than one walking thread
// with parallel kernels (the hand-off costs more than it saves), so the
// default policy only groups nodes whose estimated work pays for it.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "runtime/parallel.h"

namespace tapegrad {

enum class BackwardStrategy {
  Hybrid,  // group ready nodes that are each large enough; the rest run one by one
  Intra,   // one node at a time; only the kernels inside it split
  Inter,   // group any ready nodes, however small
};

// Internal switch for benchmarks and tests; process-wide.
void set_backward_strategy(BackwardStrategy strategy);
BackwardStrategy backward_strategy();
// "hybrid" | "intra" | "inter"; throws a RangeError naming `op` otherwise.
BackwardStrategy parse_backward_strategy(std::string_view name, const char* op);
const char* backward_strategy_name(BackwardStrategy strategy);

// Estimated work of a node's backward, in float operations: elements read
// and written for most nodes, 2·m·n·k per GEMM for matmul and linear.
double node_cost(const Node& node);

// Work below which a node is not worth a pool thread of its own.
inline constexpr double kConcurrentNodeCost = 1 << 17;

// Work below which the two GEMMs of a matmul backward run one after the
// other (each still splitting its tiles across the pool).
inline constexpr double kConcurrentGemmFlops = 1 << 21;

// Runs first() and second() (the two GEMMs of a matmul backward) on two pool
// threads when each does at least kConcurrentGemmFlops of work, one after
// the other otherwise. Each writes its own result, so the order does not
// change them. Only without grad mode: recording a graph from two threads
// would share leaves' AccumulateGrad nodes.
template <typename First, typename Second>
void run_side_by_side(double flops_each, First&& first, Second&& second) {
  if (flops_each < kConcurrentGemmFlops || grad_enabled() || runtime::in_parallel_region() ||
      runtime::num_threads() < 2) {
    first();
    second();
    return;
  }
  runtime::parallel_for(0, 2, 1, [&](std::int64_t b, std::int64_t e) {
    GradModeGuard pool_mode(false);  // per thread: a pool thread starts with it on
    for (std::int64_t i = b; i < e; ++i) i == 0 ? first() : second();
  });
}

}  // namespace tapegrad
