// How the backward engine spreads one pass over the thread pool.
//
// Inside a node, kernels split across the pool on their own (GEMM tiles;
// matmul runs dA and dB side by side on two or three threads). Between
// nodes, the engine may run several ready nodes at once, each on one pool
// thread with its kernels inline. That only pays for nodes too small to
// split their own kernels: a node that splits itself, run on one thread
// beside another, loses its own parallelism (measured: 4 branches of
// 512×512 linears took 1.5x as long grouped as one by one), and a node
// cheaper than the hand-off gains nothing.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/autograd.h"
#include "core/grad_mode.h"
#include "kernels/kernels.h"
#include "runtime/parallel.h"

namespace tapegrad {

enum class BackwardStrategy {
  Hybrid,  // group ready nodes too small to split themselves but worth a hand-off; the rest one by one
  Intra,   // one node at a time; only the kernels inside it split
  Inter,   // group any ready nodes, however small
};

// Internal switch for benchmarks and tests; process-wide.
void set_backward_strategy(BackwardStrategy strategy);
BackwardStrategy backward_strategy();
// "hybrid" | "intra" | "inter"; throws a RangeError naming `op` otherwise.
BackwardStrategy parse_backward_strategy(std::string_view name, const char* op);
const char* backward_strategy_name(BackwardStrategy strategy);

// Nodes the engine has run in groups of two or more since the process
// started (all threads): lets tests see that a strategy took effect.
void note_grouped_nodes(std::size_t count);
std::uint64_t grouped_nodes();
// Matmul backwards whose two GEMMs run_side_by_side chose to run side by
// side (inline all the same when another thread's region holds the pool).
void note_side_by_side();
std::uint64_t side_by_side_runs();

// Estimated time of a node's backward on one thread, in nanoseconds: about
// half a nanosecond per gradient element read or written, plus 2·m·n·k GEMM
// flops at about 100 GFLOP/s for matmul and linear; rules that only re-view
// the gradient (permute, transpose, an add without broadcasting) cost
// nothing, and a reshape counts as the copy it may need. It overestimates by
// about 3x on AVX-512 machines; only the order of magnitude matters: it
// decides whether a node is worth a pool thread.
double node_cost(const Node& node);

// A pool hand-off costs one to a few microseconds; a node estimated below
// this runs on the walking thread.
inline constexpr double kConcurrentNodeCost = 10'000;

// How the hybrid policy runs a node.
enum class NodeRole {
  Cheap,      // estimated below kConcurrentNodeCost: alone, and early, since
              // it may make more groupable nodes ready
  Groupable,  // too small to split its own kernels, worth a hand-off
  SplitsItself,  // its kernels split across the pool (a GEMM of at least
                 // kernels::kGemmParallelMinMacs multiply-adds, a matmul
                 // backward whose two GEMMs run side by side, elementwise
                 // work of two grains or more): alone
};
// A node's cost estimate (node_cost) and its role, found together.
struct NodeEstimate {
  double cost;
  NodeRole role;
};
NodeEstimate estimate_node(const Node& node);

// Work below which the two GEMMs of a matmul backward run one after the
// other: the size from which one GEMM splits its own tiles (below it, a
// packed or direct GEMM runs on one thread; the dot and sweep paths split
// from less).
inline constexpr double kConcurrentGemmFlops = 2 * kernels::kGemmParallelMinMacs;

// The most threads with which the two GEMMs of a matmul backward run side
// by side: each then runs on one thread (a region inside a region runs
// inline), so with more threads each splits its own tiles across all of
// them, one after the other. Side by side on 16 threads, backward stopped
// scaling at two (16-core Xeon, 4 branches of 512×512 linears: 1.86x on 2
// threads and the same on 16, where those GEMMs alone scaled 7x). With
// three, side by side leaves one thread idle; a three-way split of each
// costs its own packing and edges.
inline constexpr int kSideBySideMaxThreads = 3;

// Runs first() and second() (the two GEMMs of a matmul backward) on two pool
// threads when each does at least kConcurrentGemmFlops of work and the
// region has two or three threads, one after the other otherwise. Each
// writes its own result, so the order does not change them. Only without
// grad mode: recording a graph from two threads would share leaves'
// AccumulateGrad nodes.
template <typename First, typename Second>
void run_side_by_side(double flops_each, First&& first, Second&& second) {
  const int threads = runtime::region_threads();
  if (flops_each < kConcurrentGemmFlops || grad_enabled() || threads < 2 || threads > kSideBySideMaxThreads) {
    first();
    second();
    return;
  }
  Node* const node = running_node();
  note_side_by_side();
  runtime::parallel_for(0, 2, 1, [&](std::int64_t b, std::int64_t e) {
    GradModeGuard pool_mode(false);  // per thread: a pool thread starts with it on
    const RunningNodeScope running(node);
    for (std::int64_t i = b; i < e; ++i) i == 0 ? first() : second();
  });
}

}  // namespace tapegrad
