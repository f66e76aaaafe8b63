#include "runtime/cpu_features.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace tapegrad::runtime {

Isa detect_isa() {
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__)
  __builtin_cpu_init();
#if defined(TAPEGRAD_EMULATE_AVX512)
  // The check build's AVX-512 kernels need only AVX2 and FMA (CMakeLists.txt).
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx512;
#endif
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

// The largest cache the OS lists for the first CPU, in bytes (0 if none).
// Linux's sysfs gives what that CPU shares with its neighbours, as lscpu
// shows; glibc's sysconf figure is the fallback, capped at 32 MiB: in VMs it
// gives the whole package's L3 (320 MiB in one where sysfs said 32; 508 MiB
// in a Zen 5 VM with no cache entries in sysfs, 254 CPUs sharing it by
// CPUID), and uncapped it kept every output under 254 MiB from streaming
// there. The cap puts the threshold at 16 MiB, where that VM measured the
// crossover: a chain of four float32 ops on 4 MiB tensors ran faster plain on
// two threads (280-309 µs against 353-366) and as fast on one; on 8 MiB
// tensors faster streamed (one thread 1.3-1.4 ms against 1.8-2.0; two
// 0.67-0.71 against 0.79-0.83).
static std::int64_t last_level_cache_bytes() {
  std::int64_t largest = 0;
#if defined(__linux__)
  for (int index = 0; index < 16; ++index) {
    char path[64];
    std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    std::FILE* f = std::fopen(path, "r");
    if (!f) continue;
    long long amount = 0;
    char unit = 0;
    if (std::fscanf(f, "%lld%c", &amount, &unit) >= 1 && amount > 0) {
      const std::int64_t scale = unit == 'K' ? 1 << 10 : unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : 1;
      largest = std::max<std::int64_t>(largest, amount * scale);
    }
    std::fclose(f);
  }
  if (largest > 0) return largest;
#endif
#if defined(_SC_LEVEL3_CACHE_SIZE)
  long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (bytes <= 0) bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (bytes > 0) largest = std::min<std::int64_t>(bytes, std::int64_t{32} << 20);
#endif
  return largest;
}

bool streams_output(std::int64_t bytes) {
  static const std::int64_t min_bytes = [] {
    constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
    const char* want = std::getenv("TAPEGRAD_STREAM_STORES");
    if (want && !std::strcmp(want, "always")) return std::int64_t{0};
    if (want && !std::strcmp(want, "never")) return kNever;
    const std::int64_t cache = last_level_cache_bytes();
    return cache > 0 ? cache / 2 : kNever;
  }();
  return bytes >= min_bytes;
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
