// Fused optimizer updates for the avx2 path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::avx2 {
#include "kernels/optim.inc"
}  // namespace tapegrad::kernels::avx2
