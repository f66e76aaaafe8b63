// Basic vector kernels for the scalar path.
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/kernels.h"

namespace tapegrad::kernels::scalar {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Scalar;
// The width of a vector register: kernels that pick their vectors' width
// (softmax.inc's short rows, layer_norm.inc's backward blocks).
constexpr int kVectorBytes = 16;
// basic.inc's mul_add: a multiply and an add, each rounded (the CPUs on
// this path have no FMA; the C library's would be exact but emulated).
constexpr bool kFusedMultiplyAdd = false;
// Streaming stores for write_each (basic.inc): one 64-byte line, dst
// aligned to 64, written past the caches, and the fence that ends a run.
// SSE2's streaming store is in the x86-64 baseline; elsewhere plain stores.
#if defined(__SSE2__)
constexpr bool kStreamingStores = true;
inline void stream_line(void* dst, const void* src) {
  const auto* s = static_cast<const __m128i*>(src);
  auto* d = static_cast<__m128i*>(dst);
  for (int i = 0; i < 4; ++i) _mm_stream_si128(d + i, _mm_loadu_si128(s + i));
}
inline void stream_fence() { _mm_sfence(); }
#else
constexpr bool kStreamingStores = false;  // the two below are never called
inline void stream_line(void*, const void*) {}
inline void stream_fence() {}
#endif
// Transposing copies move single elements (basic.inc): 32-byte shuffles
// split into 16-byte halves here, and were no faster.
constexpr bool kVectorTranspose = false;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::scalar
