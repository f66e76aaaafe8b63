// Basic vector kernels for the scalar path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::scalar {
namespace {
constexpr runtime::Isa kIsa = runtime::Isa::Scalar;
}
#include "kernels/basic.inc"
}  // namespace tapegrad::kernels::scalar
