// GEMM for the AVX-512 path: 12×32 (float32) and 12×16 (float64)
// micro-tiles, two vectors wide, 24 accumulators out of 32 registers.
#include "kernels/avx512/intrinsics.h"

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

#define TG_INLINE inline __attribute__((always_inline))

namespace tapegrad::kernels::avx512 {
namespace {

#include "kernels/gemm.inc"

struct VecF32 {
  using T = float;
  using V = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static TG_INLINE V zero() { return _mm512_setzero_ps(); }
  static TG_INLINE V set1(T x) { return _mm512_set1_ps(x); }
  static TG_INLINE V load(const T* p) { return _mm512_loadu_ps(p); }
  static TG_INLINE V maskz_load(M m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static TG_INLINE void mask_store(T* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static TG_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static TG_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static TG_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
  using I = __m512i;
  static TG_INLINE I index(const std::int64_t* x) {
    return _mm512_setr_epi32(int(x[0]), int(x[1]), int(x[2]), int(x[3]), int(x[4]), int(x[5]), int(x[6]), int(x[7]),
                             int(x[8]), int(x[9]), int(x[10]), int(x[11]), int(x[12]), int(x[13]), int(x[14]),
                             int(x[15]));
  }
  static TG_INLINE V permute2(V a, I idx, V b) { return _mm512_permutex2var_ps(a, idx, b); }
  static TG_INLINE M mask(int count) {
    return count >= L ? M(0xFFFF) : count <= 0 ? M(0) : static_cast<M>((1u << count) - 1);
  }
};

struct VecF64 {
  using T = double;
  using V = __m512d;
  using M = __mmask8;
  static constexpr int L = 8;
  static TG_INLINE V zero() { return _mm512_setzero_pd(); }
  static TG_INLINE V set1(T x) { return _mm512_set1_pd(x); }
  static TG_INLINE V load(const T* p) { return _mm512_loadu_pd(p); }
  static TG_INLINE V maskz_load(M m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static TG_INLINE void mask_store(T* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static TG_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static TG_INLINE V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static TG_INLINE V add(V a, V b) { return _mm512_add_pd(a, b); }
  using I = __m512i;
  static TG_INLINE I index(const std::int64_t* x) {
    return _mm512_setr_epi64(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
  }
  static TG_INLINE V permute2(V a, I idx, V b) { return _mm512_permutex2var_pd(a, idx, b); }
  static TG_INLINE M mask(int count) {
    return count >= L ? M(0xFF) : count <= 0 ? M(0) : static_cast<M>((1u << count) - 1);
  }
};

// Micro-kernels for an MR × 2L tile.
template <typename Vt_, int MR_>
struct Avx512Gemm {
  using Vt = Vt_;
  using T = typename Vt::T;
  using V = typename Vt::V;
  using M = typename Vt::M;
  static constexpr int L = Vt::L;
  static constexpr int MR = MR_;
  static constexpr int NR = 2 * L;
  static constexpr Index kAInPlaceBlocks = 1;  // a_in_place
  static constexpr int kVectorBytes = 64;  // gemm_dots' vectors

  // C = alpha·acc + beta·C on a tile with unit column stride.
  static TG_INLINE void update(V (&acc)[MR][2], T* c, Index c_rs, int mr, int nr, T alpha, T beta) {
    const V va = Vt::set1(alpha);
    const M m0 = Vt::mask(nr), m1 = Vt::mask(nr - L);
    if (beta == T(0)) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        if (i >= mr) break;
        T* ci = c + i * c_rs;
        Vt::mask_store(ci, m0, Vt::mul(va, acc[i][0]));
        Vt::mask_store(ci + L, m1, Vt::mul(va, acc[i][1]));
      }
    } else {
      const V vb = Vt::set1(beta);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        if (i >= mr) break;
        T* ci = c + i * c_rs;
        const V old0 = Vt::maskz_load(m0, ci), old1 = Vt::maskz_load(m1, ci + L);
        Vt::mask_store(ci, m0, Vt::fmadd(va, acc[i][0], Vt::mul(vb, old0)));
        Vt::mask_store(ci + L, m1, Vt::fmadd(va, acc[i][1], Vt::mul(vb, old1)));
      }
    }
  }

  // Any C strides: through a buffer, with the same arithmetic as update().
  static void update_strided(V (&acc)[MR][2], T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha, T beta) {
    alignas(64) T buf[MR * NR];
    if (beta != T(0))
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) buf[i * NR + j] = c[i * c_rs + j * c_cs];
    update(acc, buf, NR, mr, nr, alpha, beta);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) c[i * c_rs + j * c_cs] = buf[i * NR + j];
  }

  static TG_INLINE void store(V (&acc)[MR][2], T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha, T beta) {
    if (c_cs == 1) update(acc, c, c_rs, mr, nr, alpha, beta);
    else update_strided(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  // A tile of ROWS × NV vectors out of a packed MR × NR panel pair: edge
  // tiles (m = 128 leaves 8 rows of a 12-row tile) skip the padding's work.
  template <int ROWS, int NV>
  static void kernel_tile(Index kc, const T* a, const T* b, T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha,
                          T beta) {
    V acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = acc[i][1] = Vt::zero();
      // The tile of C is needed at the end: start fetching it now.
      if (i < mr) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * c_rs), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * c_rs + NR - 1), _MM_HINT_T0);
      }
    }
    for (Index p = 0; p < kc; ++p) {
      const V b0 = Vt::load(b), b1 = NV == 2 ? Vt::load(b + L) : Vt::zero();
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        const V ai = Vt::set1(a[i]);
        acc[i][0] = Vt::fmadd(ai, b0, acc[i][0]);
        if (NV == 2) acc[i][1] = Vt::fmadd(ai, b1, acc[i][1]);
      }
      a += MR;
      b += NR;
    }
    store(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  // Tile heights tried: MR, then halving (12, 6, 3, 2, 1).
  template <int ROWS>
  static TG_INLINE void kernel_rows(Index kc, const T* a, const T* b, T* c, Index c_rs, Index c_cs, int mr, int nr,
                                    T alpha, T beta) {
    constexpr int kNext = (ROWS + 1) / 2;
    if (ROWS == 1 || mr > kNext) {
      if (nr > L) kernel_tile<ROWS, 2>(kc, a, b, c, c_rs, c_cs, mr, nr, alpha, beta);
      else kernel_tile<ROWS, 1>(kc, a, b, c, c_rs, c_cs, mr, nr, alpha, beta);
    } else if constexpr (ROWS > 1) {
      kernel_rows<kNext>(kc, a, b, c, c_rs, c_cs, mr, nr, alpha, beta);
    }
  }

  static void kernel(Index kc, const T* a, const T* b, T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha,
                     T beta) {
    kernel_rows<MR>(kc, a, b, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  // NV vectors of B per row: a tile at most L wide (a narrow product, or
  // the last columns) runs half the multiply-adds.
  template <int ROWS, int NV>
  static TG_INLINE void direct_rows(Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, M m0, M m1,
                                    V (&acc)[MR][2]) {
    for (Index p = 0; p < kc; ++p) {
      const T* bp = b + p * b_rs;
      const V b0 = Vt::maskz_load(m0, bp), b1 = NV == 2 ? Vt::maskz_load(m1, bp + L) : Vt::zero();
      const T* ap = a + p * a_cs;
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        const V ai = Vt::set1(ap[i * a_rs]);
        acc[i][0] = Vt::fmadd(ai, b0, acc[i][0]);
        if (NV == 2) acc[i][1] = Vt::fmadd(ai, b1, acc[i][1]);
      }
    }
  }

  template <int ROWS, int NV>
  static TG_INLINE void direct_dispatch(int mr, Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs,
                                        M m0, M m1, V (&acc)[MR][2]) {
    if (mr == ROWS) direct_rows<ROWS, NV>(kc, a, a_rs, a_cs, b, b_rs, m0, m1, acc);
    else if constexpr (ROWS > 1) direct_dispatch<ROWS - 1, NV>(mr, kc, a, a_rs, a_cs, b, b_rs, m0, m1, acc);
  }

  static void direct(Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, T* c, Index c_rs,
                     Index c_cs, int mr, int nr, T alpha, T beta) {
    V acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = Vt::zero();
    if (nr > L) direct_dispatch<MR, 2>(mr, kc, a, a_rs, a_cs, b, b_rs, Vt::mask(nr), Vt::mask(nr - L), acc);
    else direct_dispatch<MR, 1>(mr, kc, a, a_rs, a_cs, b, b_rs, Vt::mask(nr), Vt::mask(0), acc);
    store(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  // In-register L×L transpose: stage h swaps bit h of the row index with
  // bit h of the column index, one two-source permute per row.
  static TG_INLINE void transpose(V (&r)[L]) {
#pragma GCC unroll 4
    for (int h = 1; h < L; h <<= 1) {
      std::int64_t lo[L], hi[L];
      for (int c = 0; c < L; ++c) {
        lo[c] = (c & h) ? L + (c ^ h) : c;
        hi[c] = (c & h) ? L + c : (c ^ h);
      }
      const typename Vt::I ilo = Vt::index(lo), ihi = Vt::index(hi);
#pragma GCC unroll 16
      for (int r0 = 0; r0 < L; ++r0) {
        if (r0 & h) continue;
        const V x = r[r0], y = r[r0 | h];
        r[r0] = Vt::permute2(x, ilo, y);
        r[r0 | h] = Vt::permute2(x, ihi, y);
      }
    }
  }

  static void interleave(const T* src, Index stride, int count, Index kc, T* out, int W) {
    interleave_in_registers<Avx512Gemm>(src, stride, count, kc, out, W);
  }

  static TG_INLINE void store_first(T* p, V v, int lanes) { Vt::mask_store(p, Vt::mask(lanes), v); }
};

// Blocking (the same on every AVX-512 CPU; float64's measured on Zen 5
// only): a kc×MR A micro-panel is reused across the B micro-panels that
// stream from the packed KC×NC B block, kept in L2 (720 KiB for float32;
// 960 KiB for float64, which just fits a 1 MiB L2 beside the A panel).
// float64 takes a deep KC (512: its A micro-panel, 48 KiB, comes partly from
// L2), so that the C tile's load and store and the pass over C per depth
// block amortise over 512 steps of the tile instead of 192. Measured on Zen 5
// (48 KiB L1, 1 MiB L2), one thread, medians of 12: KC 192 / NC 480 (720 KiB
// block) 84.5 GFLOP/s at 1024³, 83.7 at 2048³; KC 512 / NC 240 89.0 and
// 88.7; 256-448 and NC 160-320 in between; 64³-512³ unchanged. On an Intel
// Xeon (2 MiB L2) KC 384 / NC 480 had measured below KC 192; KC 512 / NC 240
// is not measured there. The A pack buffer (MC·KC at most, per thread) grows
// with KC: 4 MiB for a float64 1024³. float32's panels (18 + 48 KiB) lost
// nothing measurable at KC 256, nor gained at 512. MC only bounds the A pack
// buffer.
// Where float64's last 10-15% of peak goes from 1024³ up (Zen 5 VM, one
// thread, the micro-kernel timed alone on the same panels): with its panels
// in L1 and L2 (one A micro-panel, the 960 KiB B block) it runs at 98-103%
// of the FMA probe; A micro-panels cycled from a 4 MiB packed block cost
// about 5% more, C tiles spread over an 8 MiB C 2-5%, packing about 5%.
// None of these gained beyond noise: prefetching the next A micro-panel
// (T0, T1; T2 lost 3%) spread over the B micro-panels, fetching C late in
// the loop, BLIS's loop order (B micro-panel in L1, A block in L2), other
// KC/NC pairs. That traffic per multiply-add falls only with larger blocks
// (A's with NC, C's with KC), and the L2 bounds KC·NC.
struct GemmF32 : Avx512Gemm<VecF32, 12> {
  static constexpr Index KC = 384, NC = 480, MC = 1536;
  static constexpr double kDirectMax = 128.0 * 128.0 * 128.0;
  static constexpr double kDirectMaxABytes = 512.0 * 1024;
  static constexpr bool kDirectAvoidsSetConflicts = false;
};
struct GemmF64 : Avx512Gemm<VecF64, 12> {
  static constexpr Index KC = 512, NC = 240, MC = 1536;
  static constexpr double kDirectMax = 128.0 * 128.0 * 128.0;
  static constexpr double kDirectMaxABytes = 512.0 * 1024;
  static constexpr bool kDirectAvoidsSetConflicts = false;
};

volatile double g_probe_sink;

template <typename Vt>
double probe(std::int64_t iters) {
  using V = typename Vt::V;
  constexpr int kChains = 16;  // more than latency × pipes on any AVX-512 core
  V acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = Vt::set1(static_cast<typename Vt::T>(j));
  const V x = Vt::set1(static_cast<typename Vt::T>(0.9999)), y = Vt::set1(static_cast<typename Vt::T>(1e-4));
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = Vt::fmadd(acc[j], x, y);
  }
  alignas(64) typename Vt::T out[Vt::L];
  V sum = acc[0];
  for (int j = 1; j < kChains; ++j) sum = Vt::add(sum, acc[j]);
  Vt::mask_store(out, Vt::mask(Vt::L), sum);
  g_probe_sink = static_cast<double>(out[0]);
  return static_cast<double>(iters) * kChains * Vt::L * 2;
}

}  // namespace

// The kernel-table entries (gemm.inc).
TG_GEMM_ENTRY_POINTS(GemmF32, GemmF64)

double fma_probe_f32(std::int64_t iters) { return probe<VecF32>(iters); }
double fma_probe_f64(std::int64_t iters) { return probe<VecF64>(iters); }

}  // namespace tapegrad::kernels::avx512
