// GEMM for the NEON path (arm64 only): the shared driver with an
// Advanced SIMD micro-kernel for 32 128-bit registers: 8×12 float32 and 8×6
// float64 tiles are 24 accumulator registers, three vectors per row. The
// direct (unpacked) path uses the portable kernel. Checked for correctness
// under qemu-aarch64 (scripts/check-neon.sh); never timed on real hardware,
// so the block sizes are textbook values, not measured ones.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace tapegrad::kernels::neon {
namespace {

#include "kernels/gemm.inc"

struct VecF32 {
  using T = float;
  using V = float32x4_t;
  static constexpr int L = 4;
  static inline V zero() { return vdupq_n_f32(0); }
  static inline V load(const T* p) { return vld1q_f32(p); }
  static inline void store(T* p, V v) { vst1q_f32(p, v); }
  static inline V mul_n(V x, T s) { return vmulq_n_f32(x, s); }
  static inline V fma_nv(V acc, V x, T s) { return vfmaq_n_f32(acc, x, s); }
  template <int kLane>
  static inline V fma_lane(V acc, V b, V a) { return vfmaq_laneq_f32(acc, b, a, kLane); }
};

struct VecF64 {
  using T = double;
  using V = float64x2_t;
  static constexpr int L = 2;
  static inline V zero() { return vdupq_n_f64(0); }
  static inline V load(const T* p) { return vld1q_f64(p); }
  static inline void store(T* p, V v) { vst1q_f64(p, v); }
  static inline V mul_n(V x, T s) { return vmulq_n_f64(x, s); }
  static inline V fma_nv(V acc, V x, T s) { return vfmaq_n_f64(acc, x, s); }
  template <int kLane>
  static inline V fma_lane(V acc, V b, V a) { return vfmaq_laneq_f64(acc, b, a, kLane); }
};

template <typename Vt>
struct NeonGemm {
  using T = typename Vt::T;
  using V = typename Vt::V;
  static constexpr int L = Vt::L, NV = 3;
  static constexpr int MR = 8, NR = NV * L;
  static constexpr Index kAInPlaceBlocks = 0;
  static constexpr int kVectorBytes = 16;  // gemm_dots' vectors

  // acc[i][v] += b[v] · a[i] for rows I.., with a[i] taken from a lane (A
  // loaded as vectors: 24 accumulators + 3 B + 2-4 A vectors fit in 32).
  template <int I>
  static inline __attribute__((always_inline)) void rows(V (&acc)[MR][NV], const V (&bv)[NV], const V (&av)[MR / L]) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[I][v] = Vt::template fma_lane<I % L>(acc[I][v], bv[v], av[I / L]);
    if constexpr (I + 1 < MR) rows<I + 1>(acc, bv, av);
  }

  static void kernel(Index kc, const T* a, const T* b, T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha,
                     T beta) {
    V acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = Vt::zero();
    for (Index p = 0; p < kc; ++p) {
      V bv[NV], av[MR / L];
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) bv[v] = Vt::load(b + v * L);
#pragma GCC unroll 4
      for (int q = 0; q < MR / L; ++q) av[q] = Vt::load(a + q * L);
      rows<0>(acc, bv, av);
      a += MR;
      b += NR;
    }
    // C = alpha·acc + beta·C, through a buffer for edge or strided tiles
    // (same arithmetic either way).
    const bool direct = mr == MR && nr == NR && c_cs == 1;
    alignas(16) T buf[MR * NR];
    T* out = direct ? c : buf;
    const Index out_rs = direct ? c_rs : NR;
    if (!direct && beta != T(0))
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) buf[i * NR + j] = c[i * c_rs + j * c_cs];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
      T* row = out + i * out_rs;
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        const V scaled = Vt::mul_n(acc[i][v], alpha);
        Vt::store(row + v * L, beta == T(0) ? scaled : Vt::fma_nv(scaled, Vt::load(row + v * L), beta));
      }
    }
    if (!direct)
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) c[i * c_rs + j * c_cs] = buf[i * NR + j];
  }

  static void direct(Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, T* c, Index c_rs,
                     Index c_cs, int mr, int nr, T alpha, T beta) {
    PortableGemm<T, MR, NR, true>::direct(kc, a, a_rs, a_cs, b, b_rs, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  static void interleave(const T* src, Index stride, int count, Index kc, T* out, int W) {
    interleave_portable(src, stride, count, kc, out, W);
  }
};

// Blocking: a kc×8 A micro-panel (8-16 KiB) in a 64 KiB+ L1, the KC×NC
// packed B block (about 256 KiB) in L2.
struct GemmF32 : NeonGemm<VecF32> {
  static constexpr Index KC = 256, NC = 252, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
  static constexpr double kDirectMaxABytes = 0;
  static constexpr bool kDirectAvoidsSetConflicts = false;
};
struct GemmF64 : NeonGemm<VecF64> {
  static constexpr Index KC = 256, NC = 126, MC = 1536;
  static constexpr double kDirectMax = 32.0 * 32.0 * 32.0;
  static constexpr double kDirectMaxABytes = 0;
  static constexpr bool kDirectAvoidsSetConflicts = false;
};

volatile double g_probe_sink;

}  // namespace

// The kernel-table entries (gemm.inc).
TG_GEMM_ENTRY_POINTS(GemmF32, GemmF64)

double fma_probe_f32(std::int64_t iters) { return portable_probe<float, true>(iters, g_probe_sink); }
double fma_probe_f64(std::int64_t iters) { return portable_probe<double, true>(iters, g_probe_sink); }

}  // namespace tapegrad::kernels::neon
