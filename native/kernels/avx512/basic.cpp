// Basic vector kernels for the avx512 path.
#include "kernels/avx512/intrinsics.h"

#include "kernels/kernels.h"

namespace tapegrad::kernels::avx512 {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Avx512;
// The width of a vector register: kernels that pick their vectors' width
// (softmax.inc's short rows, layer_norm.inc's backward blocks).
constexpr int kVectorBytes = 64;
// basic.inc's mul_add: one fused instruction.
constexpr bool kFusedMultiplyAdd = true;
// Streaming stores for write_each (basic.inc): one 64-byte line, dst
// aligned to 64, written past the caches, and the fence that ends a run.
constexpr bool kStreamingStores = true;
inline void stream_line(void* dst, const void* src) {
  _mm512_stream_si512(static_cast<__m512i*>(dst), _mm512_loadu_si512(src));
}
inline void stream_fence() { _mm_sfence(); }
// Transposing copies shuffle 8 × 8 tiles in 32-byte vectors (basic.inc).
constexpr bool kVectorTranspose = true;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::avx512
