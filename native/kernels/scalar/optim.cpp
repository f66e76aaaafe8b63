// Fused optimizer updates for the scalar path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::scalar {
#include "kernels/optim.inc"
}  // namespace tapegrad::kernels::scalar
