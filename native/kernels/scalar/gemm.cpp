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
  static constexpr bool kDirectAvoidsSetConflicts = false;
};
struct GemmF64 : PortableGemm<double, 6, 4, false> {
  static constexpr Index KC = 256, NC = 128, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
  static constexpr double kDirectMaxABytes = 0;
  static constexpr bool kDirectAvoidsSetConflicts = false;
};

volatile double g_probe_sink;

}  // namespace

// The kernel-table entries (gemm.inc).
TG_GEMM_ENTRY_POINTS(GemmF32, GemmF64)

// No FMA in the x86-64 baseline: the probe times a multiply and an add.
double fma_probe_f32(std::int64_t iters) { return portable_probe<float, false>(iters, g_probe_sink); }
double fma_probe_f64(std::int64_t iters) { return portable_probe<double, false>(iters, g_probe_sink); }

}  // namespace tapegrad::kernels::scalar
