// Basic vector kernels for the avx2 path.
#include <immintrin.h>

#include "kernels/kernels.h"

namespace tapegrad::kernels::avx2 {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Avx2;
// The width of a vector register: kernels that pick their vectors' width
// (softmax.inc's short rows, layer_norm.inc's backward blocks).
constexpr int kVectorBytes = 32;
// basic.inc's mul_add: one fused instruction.
constexpr bool kFusedMultiplyAdd = true;
// Streaming stores for write_each (basic.inc): one 64-byte line, dst
// aligned to 64, written past the caches, and the fence that ends a run.
constexpr bool kStreamingStores = true;
inline void stream_line(void* dst, const void* src) {
  const auto* s = static_cast<const __m256i*>(src);
  auto* d = static_cast<__m256i*>(dst);
  _mm256_stream_si256(d, _mm256_loadu_si256(s));
  _mm256_stream_si256(d + 1, _mm256_loadu_si256(s + 1));
}
inline void stream_fence() { _mm_sfence(); }
// Transposing copies shuffle 8 × 8 tiles in 32-byte vectors (basic.inc).
constexpr bool kVectorTranspose = true;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::avx2
