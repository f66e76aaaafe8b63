// The AVX-512 intrinsics this path uses. In the emulated build
// (TAPEGRAD_EMULATE_AVX512, scripts/check-avx512.sh) they are SIMDe's
// portable definitions of the same operations, compiled for AVX2, so that
// the path's own code (tiles, masks, permutes, tails) runs and is checked
// on a CPU without AVX-512. Release builds never define it.
#pragma once

#if defined(TAPEGRAD_EMULATE_AVX512)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cstring>

// What SIMDe 0.7 lacks. A masked load or store touches only the lanes its
// mask selects, as the hardware's: an access past a buffer in a masked-off
// lane is no access.
template <typename V, typename T, typename M, int L>
inline V tapegrad_emulated_maskz_loadu(M k, const void* p) {
  T lanes[L];
  for (int i = 0; i < L; ++i) lanes[i] = (k >> i) & 1 ? static_cast<const T*>(p)[i] : T(0);
  V v;
  std::memcpy(&v, lanes, sizeof v);
  return v;
}
template <typename V, typename T, typename M, int L>
inline void tapegrad_emulated_mask_storeu(void* p, M k, V v) {
  T lanes[L];
  std::memcpy(lanes, &v, sizeof lanes);
  for (int i = 0; i < L; ++i)
    if ((k >> i) & 1) static_cast<T*>(p)[i] = lanes[i];
}
#define _mm512_maskz_loadu_ps tapegrad_emulated_maskz_loadu<simde__m512, float, simde__mmask16, 16>
#define _mm512_maskz_loadu_pd tapegrad_emulated_maskz_loadu<simde__m512d, double, simde__mmask8, 8>
#define _mm512_mask_storeu_ps tapegrad_emulated_mask_storeu<simde__m512, float, simde__mmask16, 16>
#define _mm512_mask_storeu_pd tapegrad_emulated_mask_storeu<simde__m512d, double, simde__mmask8, 8>
// A streaming store: a plain one (the same bytes).
inline void tapegrad_emulated_stream_si512(simde__m512i* p, simde__m512i v) { std::memcpy(p, &v, sizeof v); }
#define _mm512_stream_si512 tapegrad_emulated_stream_si512
#else
#include <immintrin.h>
#endif
