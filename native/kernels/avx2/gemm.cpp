// GEMM for the AVX2+FMA path: 6×16 (float32) and 6×8 (float64) micro-tiles,
// two vectors wide: 12 accumulators, 2 B vectors and a broadcast in 16
// registers.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

#define TG_INLINE inline __attribute__((always_inline))

namespace tapegrad::kernels::avx2 {
namespace {

#include "kernels/gemm.inc"

// Masks are lane vectors here; masked stores are slow on some cores, so
// full-width rows use plain loads and stores.
struct VecF32 {
  using T = float;
  using V = __m256;
  using M = __m256i;
  static constexpr int L = 8;
  static TG_INLINE V zero() { return _mm256_setzero_ps(); }
  static TG_INLINE V set1(T x) { return _mm256_set1_ps(x); }
  static TG_INLINE V load(const T* p) { return _mm256_loadu_ps(p); }
  static TG_INLINE void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static TG_INLINE V maskz_load(M m, const T* p) { return _mm256_maskload_ps(p, m); }
  static TG_INLINE void mask_store(T* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
  static TG_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static TG_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static TG_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  static TG_INLINE M mask(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // In-register 8×8 transpose.
  static TG_INLINE void transpose(V (&r)[L]) {
    V t[L], u[L];
    for (int i = 0; i < L; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < L; i += 4) {
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
      r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
  }
  static TG_INLINE __m256i bits(V v) { return _mm256_castps_si256(v); }
};

struct VecF64 {
  using T = double;
  using V = __m256d;
  using M = __m256i;
  static constexpr int L = 4;
  static TG_INLINE V zero() { return _mm256_setzero_pd(); }
  static TG_INLINE V set1(T x) { return _mm256_set1_pd(x); }
  static TG_INLINE V load(const T* p) { return _mm256_loadu_pd(p); }
  static TG_INLINE void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static TG_INLINE V maskz_load(M m, const T* p) { return _mm256_maskload_pd(p, m); }
  static TG_INLINE void mask_store(T* p, M m, V v) { _mm256_maskstore_pd(p, m, v); }
  static TG_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static TG_INLINE V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static TG_INLINE V add(V a, V b) { return _mm256_add_pd(a, b); }
  static TG_INLINE M mask(int count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  // In-register 4×4 transpose.
  static TG_INLINE void transpose(V (&r)[L]) {
    const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
  static TG_INLINE __m256i bits(V v) { return _mm256_castpd_si256(v); }
};

template <typename Vt_, int MR_>
struct Avx2Gemm {
  using Vt = Vt_;
  using T = typename Vt::T;
  using V = typename Vt::V;
  using M = typename Vt::M;
  static constexpr int L = Vt::L;
  static constexpr int MR = MR_;
  static constexpr int NR = 2 * L;
  static constexpr Index kAInPlaceBlocks = Index{1} << 62;  // however many B blocks (a_in_place)
  static constexpr int kVectorBytes = 32;  // gemm_dots' vectors

  static TG_INLINE V combine(V va, V acc, V vb, V old, bool zero_beta) {
    return zero_beta ? Vt::mul(va, acc) : Vt::fmadd(va, acc, Vt::mul(vb, old));
  }

  // C = alpha·acc + beta·C on a tile with unit column stride.
  static TG_INLINE void update(V (&acc)[MR][2], T* c, Index c_rs, int mr, int nr, T alpha, T beta) {
    const V va = Vt::set1(alpha), vb = Vt::set1(beta);
    const bool zb = beta == T(0);
    if (nr == NR) {
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        if (i >= mr) break;
        T* ci = c + i * c_rs;
        const V old0 = zb ? Vt::zero() : Vt::load(ci), old1 = zb ? Vt::zero() : Vt::load(ci + L);
        Vt::store(ci, combine(va, acc[i][0], vb, old0, zb));
        Vt::store(ci + L, combine(va, acc[i][1], vb, old1, zb));
      }
      return;
    }
    const M m0 = Vt::mask(nr), m1 = Vt::mask(nr - L);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
      T* ci = c + i * c_rs;
      const V old0 = zb ? Vt::zero() : Vt::maskz_load(m0, ci), old1 = zb ? Vt::zero() : Vt::maskz_load(m1, ci + L);
      Vt::mask_store(ci, m0, combine(va, acc[i][0], vb, old0, zb));
      Vt::mask_store(ci + L, m1, combine(va, acc[i][1], vb, old1, zb));
    }
  }

  // Any C strides: through a buffer, with the same arithmetic as update().
  static void update_strided(V (&acc)[MR][2], T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha, T beta) {
    alignas(64) T buf[MR * NR];
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < NR; ++j) buf[i * NR + j] = beta != T(0) && j < nr ? c[i * c_rs + j * c_cs] : T(0);
    update(acc, buf, NR, mr, NR, alpha, beta);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) c[i * c_rs + j * c_cs] = buf[i * NR + j];
  }

  static TG_INLINE void store(V (&acc)[MR][2], T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha, T beta) {
    if (c_cs == 1) update(acc, c, c_rs, mr, nr, alpha, beta);
    else update_strided(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  // The tile of C is needed at the end of a micro-kernel: start fetching it
  // (each row's first and last element) at the beginning.
  static TG_INLINE void prefetch_c(const T* c, Index c_rs, Index c_cs, int mr, int nr) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
      _mm_prefetch(reinterpret_cast<const char*>(c + i * c_rs), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * c_rs + (nr - 1) * c_cs), _MM_HINT_T0);
    }
  }

  // A tile of ROWS × NV vectors out of a packed MR × NR panel pair: edge
  // tiles (m = 128 leaves 8 rows of a 12-row tile) skip the padding's work.
  template <int ROWS, int NV>
  static void kernel_tile(Index kc, const T* a, const T* b, T* c, Index c_rs, Index c_cs, int mr, int nr, T alpha,
                          T beta) {
    V acc[MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = acc[i][1] = Vt::zero();
    }
    prefetch_c(c, c_rs, c_cs, mr, nr);
    // Unrolled 4 times: about 10% faster on Zen 3 for a stream of full tiles.
#pragma GCC unroll 4
    for (Index p = 0; p < kc; ++p) {
      const V b0 = Vt::load(b), b1 = NV == 2 ? Vt::load(b + L) : Vt::zero();
#pragma GCC unroll 8
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
  static TG_INLINE void direct_rows(Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, int nr,
                                    V (&acc)[MR][2]) {
    const M m0 = Vt::mask(nr), m1 = Vt::mask(nr - L);
    const bool full = nr == NV * L;
#pragma GCC unroll 4
    for (Index p = 0; p < kc; ++p) {
      const T* bp = b + p * b_rs;
      const V b0 = full ? Vt::load(bp) : Vt::maskz_load(m0, bp);
      const V b1 = NV == 1 ? Vt::zero() : full ? Vt::load(bp + L) : Vt::maskz_load(m1, bp + L);
      const T* ap = a + p * a_cs;
#pragma GCC unroll 8
      for (int i = 0; i < ROWS; ++i) {
        const V ai = Vt::set1(ap[i * a_rs]);
        acc[i][0] = Vt::fmadd(ai, b0, acc[i][0]);
        if (NV == 2) acc[i][1] = Vt::fmadd(ai, b1, acc[i][1]);
      }
    }
  }

  template <int ROWS, int NV>
  static TG_INLINE void direct_dispatch(int mr, Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs,
                                        int nr, V (&acc)[MR][2]) {
    if (mr == ROWS) direct_rows<ROWS, NV>(kc, a, a_rs, a_cs, b, b_rs, nr, acc);
    else if constexpr (ROWS > 1) direct_dispatch<ROWS - 1, NV>(mr, kc, a, a_rs, a_cs, b, b_rs, nr, acc);
  }

  static void direct(Index kc, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, T* c, Index c_rs,
                     Index c_cs, int mr, int nr, T alpha, T beta) {
    V acc[MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = Vt::zero();
    prefetch_c(c, c_rs, c_cs, mr, nr);
    if (nr > L) direct_dispatch<MR, 2>(mr, kc, a, a_rs, a_cs, b, b_rs, nr, acc);
    else direct_dispatch<MR, 1>(mr, kc, a, a_rs, a_cs, b, b_rs, nr, acc);
    store(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
  }

  static void interleave(const T* src, Index stride, int count, Index kc, T* out, int W) {
    interleave_in_registers<Avx2Gemm>(src, stride, count, kc, out, W);
  }

  static TG_INLINE void transpose(V (&r)[L]) { Vt::transpose(r); }

  // Stores the first `lanes` lanes of v, in whole 16- and 8-byte pieces:
  // the panel widths (MR, 2L) leave an even number of floats in a vector.
  static_assert(MR % 2 == 0, "store_first writes 8-byte pieces");
  static TG_INLINE void store_first(T* p, V v, int lanes) {
    if (lanes == L) return Vt::store(p, v);
    int bytes = lanes * static_cast<int>(sizeof(T));
    char* out = reinterpret_cast<char*>(p);
    __m128i x = _mm256_castsi256_si128(Vt::bits(v));
    if (bytes >= 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), x);
      x = _mm256_extracti128_si256(Vt::bits(v), 1);
      out += 16;
      bytes -= 16;
    }
    if (bytes >= 8) _mm_storel_epi64(reinterpret_cast<__m128i*>(out), x);
  }
};

// Blocking (same on every AVX2 CPU): the kc×6 A micro-panel (6 KiB f32,
// 12 KiB f64) in L1, the KC×NC packed B block (128 KiB) in half of the
// smallest L2 (256 KiB), leaving room for the A panels and C tiles passing
// through; A blocks of at most 768 rows. On a shared Zen 3 (512 KiB L2, L3
// shared with other guests) the earlier 192 KiB B block and 1536-row A
// block lost up to 10% on products larger than 1024³ (one thread, GFLOP/s:
// float32 1536³ 77-82 -> 84-89, m = 3000 with n = k = 1000 76-81 -> 85-89;
// float64 2048³ 41 -> 44.5), and tied on the smaller ones.
struct GemmF32 : Avx2Gemm<VecF32, 6> {
  static constexpr Index KC = 256, NC = 128, MC = 768;
  static constexpr double kDirectMax = 128.0 * 128.0 * 128.0;
  static constexpr double kDirectMaxABytes = 0;
  static constexpr bool kDirectAvoidsSetConflicts = true;
};
struct GemmF64 : Avx2Gemm<VecF64, 6> {
  static constexpr Index KC = 256, NC = 64, MC = 768;
  static constexpr double kDirectMax = 128.0 * 128.0 * 128.0;
  static constexpr double kDirectMaxABytes = 0;
  static constexpr bool kDirectAvoidsSetConflicts = true;
};

volatile double g_probe_sink;

template <typename Vt>
double probe(std::int64_t iters) {
  using V = typename Vt::V;
  constexpr int kChains = 12;  // more than latency × pipes on AVX2 cores
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
  Vt::store(out, sum);
  g_probe_sink = static_cast<double>(out[0]);
  return static_cast<double>(iters) * kChains * Vt::L * 2;
}

}  // namespace

// The kernel-table entries (gemm.inc).
TG_GEMM_ENTRY_POINTS(GemmF32, GemmF64)

double fma_probe_f32(std::int64_t iters) { return probe<VecF32>(iters); }
double fma_probe_f64(std::int64_t iters) { return probe<VecF64>(iters); }

}  // namespace tapegrad::kernels::avx2
