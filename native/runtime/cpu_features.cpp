#include "runtime/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace tapegrad::runtime {

Isa detect_isa() {
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
#elif defined(__aarch64__)
  return Isa::Neon;  // Advanced SIMD is part of the arm64 baseline.
#else
  return Isa::Scalar;
#endif
}

static int rank(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return 0;
    case Isa::Neon: return 1;
    case Isa::Avx2: return 1;
    case Isa::Avx512: return 2;
  }
  return 0;
}

static Isa choose() {
  Isa best = detect_isa();
  const char* want = std::getenv("TAPEGRAD_ISA");
  if (!want || !*want) return best;
  Isa asked = best;
  if (!std::strcmp(want, "scalar")) asked = Isa::Scalar;
  else if (!std::strcmp(want, "avx2")) asked = Isa::Avx2;
  else if (!std::strcmp(want, "avx512")) asked = Isa::Avx512;
  else if (!std::strcmp(want, "neon")) asked = Isa::Neon;
  // Only ever lower the path: asking for more than the CPU has would crash.
  if (asked == Isa::Scalar) return asked;
  if ((asked == Isa::Avx2 && (best == Isa::Avx2 || best == Isa::Avx512)) ||
      (asked == Isa::Avx512 && best == Isa::Avx512) || (asked == Isa::Neon && best == Isa::Neon))
    return asked;
  return rank(asked) < rank(best) ? asked : best;
}

Isa active_isa() {
  static const Isa isa = choose();
  return isa;
}

GemmPath gemm_path_override() {
  static const GemmPath path = [] {
    const char* want = std::getenv("TAPEGRAD_GEMM_PATH");
    if (want && !std::strcmp(want, "packed")) return GemmPath::Packed;
    if (want && !std::strcmp(want, "direct")) return GemmPath::Direct;
    return GemmPath::Auto;
  }();
  return path;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Neon: return "neon";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "unknown";
}

}  // namespace tapegrad::runtime
