// Basic vector kernels for the avx2 path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::avx2 {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Avx2;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::avx2
