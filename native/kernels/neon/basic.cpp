// Basic vector kernels for the neon path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::neon {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Neon;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::neon
