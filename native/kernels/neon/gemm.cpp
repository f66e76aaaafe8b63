// GEMM for the NEON path (arm64 only): the shared driver with the portable
// micro-kernels, fused multiply-adds, tiles sized for 32 128-bit registers:
// 8×12 float32 and 8×6 float64 are 24 accumulator registers. No intrinsics:
// this path cannot be run on the x86 machines it is developed on, so it
// relies on the compiler's vectoriser (Advanced SIMD is in the arm64
// baseline).
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace tapegrad::kernels::neon {
namespace {

#include "kernels/gemm.inc"

// Blocking: a kc×8 A micro-panel in a 64 KiB+ L1, the KC×NC packed B block
// in about 256 KiB of L2.
struct GemmF32 : PortableGemm<float, 8, 12, true> {
  static constexpr Index KC = 256, NC = 252, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
};
struct GemmF64 : PortableGemm<double, 8, 6, true> {
  static constexpr Index KC = 256, NC = 126, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
};

volatile double g_probe_sink;

}  // namespace

void gemm_f32(Index m, Index n, Index k, float alpha, const float* a, Index a_rs, Index a_cs, const float* b,
              Index b_rs, Index b_cs, float beta, float* c, Index c_rs, Index c_cs) {
  gemm_run<GemmF32>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
}

void gemm_f64(Index m, Index n, Index k, double alpha, const double* a, Index a_rs, Index a_cs, const double* b,
              Index b_rs, Index b_cs, double beta, double* c, Index c_rs, Index c_cs) {
  gemm_run<GemmF64>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
}

double fma_probe_f32(std::int64_t iters) { return portable_probe<float, true>(iters, g_probe_sink); }
double fma_probe_f64(std::int64_t iters) { return portable_probe<double, true>(iters, g_probe_sink); }

}  // namespace tapegrad::kernels::neon
