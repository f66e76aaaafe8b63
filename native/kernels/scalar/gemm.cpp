// GEMM for the portable path: the shared driver with plain-loop
// micro-kernels sized for 16 128-bit registers (x86-64 baseline SSE2): a 6×8
// float32 tile or a 6×4 float64 tile is 12 accumulator registers.
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace tapegrad::kernels::scalar {
namespace {

#include "kernels/gemm.inc"

// Blocking: a kc×6 A micro-panel in L1, the KC×NC packed B block in about
// 256 KiB of L2.
struct GemmF32 : PortableGemm<float, 6, 8, false> {
  static constexpr Index KC = 256, NC = 256, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
  static constexpr double kDirectMaxABytes = 0;
};
struct GemmF64 : PortableGemm<double, 6, 4, false> {
  static constexpr Index KC = 256, NC = 128, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
  static constexpr double kDirectMaxABytes = 0;
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

bool gemm_batch_f32(Index count, Index m, Index n, Index k, float alpha, const float* a, const Index* a_off,
                    Index a_rs, Index a_cs, const float* b, const Index* b_off, Index b_rs, Index b_cs, float beta,
                    float* c, const Index* c_off, Index c_rs, Index c_cs) {
  return gemm_batch_run<GemmF32>(count, m, n, k, alpha, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, beta, c, c_off,
                                 c_rs, c_cs);
}

bool gemm_batch_f64(Index count, Index m, Index n, Index k, double alpha, const double* a, const Index* a_off,
                    Index a_rs, Index a_cs, const double* b, const Index* b_off, Index b_rs, Index b_cs, double beta,
                    double* c, const Index* c_off, Index c_rs, Index c_cs) {
  return gemm_batch_run<GemmF64>(count, m, n, k, alpha, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, beta, c, c_off,
                                 c_rs, c_cs);
}

// No FMA in the x86-64 baseline: the probe times a multiply and an add.
double fma_probe_f32(std::int64_t iters) { return portable_probe<float, false>(iters, g_probe_sink); }
double fma_probe_f64(std::int64_t iters) { return portable_probe<double, false>(iters, g_probe_sink); }

}  // namespace tapegrad::kernels::scalar
