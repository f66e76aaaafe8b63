// Basic vector kernels for the avx512 path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::avx512 {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Avx512;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::avx512
