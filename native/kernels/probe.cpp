// The peak probe and the GEMM timer behind the benchmark's test hooks.
#include "kernels/probe.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>

#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace tapegrad::kernels {

namespace {

using Clock = std::chrono::steady_clock;

double probe(bool f64, std::int64_t iters) {
  switch (active().isa) {
#if defined(TAPEGRAD_HAVE_X86_SIMD)
    case runtime::Isa::Avx512: return f64 ? avx512::fma_probe_f64(iters) : avx512::fma_probe_f32(iters);
    case runtime::Isa::Avx2: return f64 ? avx2::fma_probe_f64(iters) : avx2::fma_probe_f32(iters);
#endif
#if defined(TAPEGRAD_HAVE_NEON)
    case runtime::Isa::Neon: return f64 ? neon::fma_probe_f64(iters) : neon::fma_probe_f32(iters);
#endif
    default: return f64 ? scalar::fma_probe_f64(iters) : scalar::fma_probe_f32(iters);
  }
}

struct ProbeJob {
  bool f64;
  std::int64_t iters;
  std::atomic<double> flops{0};
};

void probe_chunk(void* ctx, std::int64_t begin, std::int64_t end) {
  auto& job = *static_cast<ProbeJob*>(ctx);
  double done = 0;
  for (std::int64_t t = begin; t < end; ++t) done += probe(job.f64, job.iters);
  double old = job.flops.load();
  while (!job.flops.compare_exchange_weak(old, old + done)) {
  }
}

// An operand in tensor memory (runtime::allocate): the timings see what a
// matmul of tensors sees, huge pages for large buffers included (with
// std::vector's memory, one thread on Zen 5 timed 2048³ 3-5 points of peak
// lower, float32 and float64; 1024³ 0-2).
template <typename T>
struct Operand {
  explicit Operand(std::int64_t count)
      : bytes(static_cast<std::size_t>(count) * sizeof(T)), ptr(static_cast<T*>(runtime::allocate(bytes, "_timeGemm"))) {}
  Operand(const Operand&) = delete;
  Operand& operator=(const Operand&) = delete;
  ~Operand() { runtime::release(ptr, bytes); }
  T* data() { return ptr; }
  T& operator[](std::int64_t i) { return ptr[i]; }
  std::size_t bytes;
  T* ptr;
};

template <typename T>
double time_gemm_typed(std::int64_t m, std::int64_t n, std::int64_t k, GemmLayout layout, int reps) {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Operand<T> a(m * k), b(k * n), c(m * n);
  for (std::int64_t i = 0; i < m * k; ++i) a[i] = static_cast<T>(dist(rng));
  for (std::int64_t i = 0; i < k * n; ++i) b[i] = static_cast<T>(dist(rng));
  std::memset(c.data(), 0, c.bytes);  // C's pages touched before the first timed call
  const bool ta = layout == GemmLayout::TN || layout == GemmLayout::TT;
  const bool tb = layout == GemmLayout::NT || layout == GemmLayout::TT;
  // A is stored k×m when transposed, B n×k; both row-major.
  const std::int64_t a_rs = ta ? 1 : k, a_cs = ta ? m : 1;
  const std::int64_t b_rs = tb ? 1 : n, b_cs = tb ? k : 1;
  const KernelTable& kt = active();
  auto call = [&] {
    if constexpr (sizeof(T) == 4)
      kt.gemm_f32(m, n, k, 1.0f, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, 0.0f, c.data(), n, 1);
    else
      kt.gemm_f64(m, n, k, 1.0, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, 0.0, c.data(), n, 1);
  };
  call();  // warm up: grow the pack buffers, bring the operands into cache
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    call();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < best) best = s;
  }
  return best;
}

}  // namespace

double measure_fma_peak(bool f64, int threads, double seconds) {
  // Calibrate on one thread for runs of about a tenth of `seconds`, then
  // keep the best of ten runs on every thread: the same best-of rule as the
  // GEMM timings it is compared with (an average over one long run counts
  // whatever else the machine was doing).
  constexpr int kRuns = 10;
  std::int64_t iters = 1 << 14;
  for (;;) {
    const auto t0 = Clock::now();
    probe(f64, iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > seconds / (4 * kRuns) || iters > (std::int64_t{1} << 40)) {
      iters = static_cast<std::int64_t>(static_cast<double>(iters) * seconds / kRuns / s) + 1;
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    ProbeJob job{f64, iters};
    const auto t0 = Clock::now();
    runtime::parallel_for(0, threads, 1, probe_chunk, &job);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rate = job.flops.load() / s * 1e-9;
    if (rate > best) best = rate;
  }
  return best;
}

double time_gemm(bool f64, std::int64_t m, std::int64_t n, std::int64_t k, GemmLayout layout, int reps) {
  return f64 ? time_gemm_typed<double>(m, n, k, layout, reps) : time_gemm_typed<float>(m, n, k, layout, reps);
}

}  // namespace tapegrad::kernels
