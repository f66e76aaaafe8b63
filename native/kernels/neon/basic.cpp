// Basic vector kernels for the neon path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::neon {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Neon;
// The width of a vector register: kernels that pick their vectors' width
// (softmax.inc's short rows, layer_norm.inc's backward blocks).
constexpr int kVectorBytes = 16;
// basic.inc's mul_add: one fused instruction.
constexpr bool kFusedMultiplyAdd = true;
// No streaming stores on this path (write_each stores plainly): arm64's
// non-temporal pair stores are only a hint, and this path is not measured.
// The two functions are declared for write_each's discarded branch only.
constexpr bool kStreamingStores = false;
inline void stream_line(void*, const void*) {}
inline void stream_fence() {}
// Transposing copies move single elements (basic.inc), as on the baseline
// path (not measured on arm64).
constexpr bool kVectorTranspose = false;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::neon
