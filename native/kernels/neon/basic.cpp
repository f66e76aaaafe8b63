// Basic vector kernels for the neon path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::neon {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Neon;
// No streaming stores on this path (a plain copy): arm64's non-temporal
// pair stores are only a hint, and this path has not been measured.
constexpr bool kStreamingStores = false;
inline void stream_line(void* dst, const void* src) { __builtin_memcpy(dst, src, 64); }
inline void stream_fence() {}
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::neon
