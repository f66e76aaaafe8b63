// Fused optimizer updates for the avx512 path.
#include "kernels/kernels.h"

namespace tapegrad::kernels::avx512 {
#include "kernels/optim.inc"
}  // namespace tapegrad::kernels::avx512
