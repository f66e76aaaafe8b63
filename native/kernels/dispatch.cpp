#include "kernels/kernels.h"

#include <atomic>

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

namespace {
std::atomic<std::int64_t> g_most_gemm_blocks{0};
}

void note_gemm_split(std::int64_t blocks) {
  std::int64_t most = g_most_gemm_blocks.load(std::memory_order_relaxed);
  while (blocks > most && !g_most_gemm_blocks.compare_exchange_weak(most, blocks, std::memory_order_relaxed)) {
  }
}

std::int64_t most_gemm_blocks() { return g_most_gemm_blocks.exchange(0, std::memory_order_relaxed); }

}  // namespace tapegrad::kernels
