// Measuring this machine for the benchmark (reached through test hooks): an
// FMA throughput probe per ISA and a GEMM timer.
//
// Shared by the per-ISA units and baseline code: declarations only (see
// kernels.h).
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// Runs independent FMA chains with the active ISA's widest vectors on
// `threads` threads (through the pool) for about `seconds` in ten runs;
// returns the best run's GFLOP/s (an FMA counts as two flops).
double measure_fma_peak(bool f64, int threads, double seconds);

// Operand layouts for time_gemm: A·B, Aᵀ·B, A·Bᵀ, Aᵀ·Bᵀ, all from row-major
// storage.
enum class GemmLayout { NN, TN, NT, TT };

// The fastest of `reps` calls of the active GEMM (pool threads as set) on
// random row-major operands, in seconds.
double time_gemm(bool f64, std::int64_t m, std::int64_t n, std::int64_t k, GemmLayout layout, int reps);

// Per ISA: runs `iters` rounds of the probe loop, returns the flops done.
namespace scalar { double fma_probe_f32(std::int64_t iters); double fma_probe_f64(std::int64_t iters); }
namespace avx2 { double fma_probe_f32(std::int64_t iters); double fma_probe_f64(std::int64_t iters); }
namespace avx512 { double fma_probe_f32(std::int64_t iters); double fma_probe_f64(std::int64_t iters); }
namespace neon { double fma_probe_f32(std::int64_t iters); double fma_probe_f64(std::int64_t iters); }

}  // namespace tapegrad::kernels
