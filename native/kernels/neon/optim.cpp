// Fused optimizer updates for the neon path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::neon {
#include "kernels/optim.inc"
}  // namespace tapegrad::kernels::neon
