#include "kernels/kernels.h"

namespace tapegrad::kernels {

static const KernelTable& choose() {
  switch (runtime::active_isa()) {
#if defined(TAPEGRAD_HAVE_X86_SIMD)
    case runtime::Isa::Avx512: return avx512::table();
    case runtime::Isa::Avx2: return avx2::table();
#endif
#if defined(TAPEGRAD_HAVE_NEON)
    case runtime::Isa::Neon: return neon::table();
#endif
    default: return scalar::table();
  }
}

const KernelTable& active() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace tapegrad::kernels
