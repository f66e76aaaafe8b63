// Checks the NEON GEMM against a float64 reference without Node: built with
// an arm64 cross compiler and run under qemu-aarch64 by
// scripts/check-neon.sh (the addon itself needs an arm64 Node to load).
// Shapes around the NEON blocking (MR 8, NR 12/6, KC 256, NC 252/126), every
// layout, 1 and 3 threads; exit status 1 on any mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "runtime/thread_pool.h"

namespace tapegrad::kernels::neon {
void gemm_f32(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t a_rs,
              std::int64_t a_cs, const float* b, std::int64_t b_rs, std::int64_t b_cs, float beta, float* c,
              std::int64_t c_rs, std::int64_t c_cs);
void gemm_f64(std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a, std::int64_t a_rs,
              std::int64_t a_cs, const double* b, std::int64_t b_rs, std::int64_t b_cs, double beta, double* c,
              std::int64_t c_rs, std::int64_t c_cs);
}  // namespace tapegrad::kernels::neon

namespace {

using Index = std::int64_t;

struct View {
  Index rs, cs, size;
};

// 0: row-major, 1: column-major, 2: row-major with padding.
View layout(int kind, Index rows, Index cols) {
  if (kind == 0) return {cols, 1, rows * cols};
  if (kind == 1) return {1, rows, rows * cols};
  return {cols + 3, 1, rows * (cols + 3)};
}

template <typename T>
void gemm(Index m, Index n, Index k, T alpha, const T* a, Index a_rs, Index a_cs, const T* b, Index b_rs, Index b_cs,
          T beta, T* c, Index c_rs, Index c_cs) {
  if constexpr (sizeof(T) == 4) tapegrad::kernels::neon::gemm_f32(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
  else tapegrad::kernels::neon::gemm_f64(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
}

template <typename T>
int check(std::mt19937& rng, Index m, Index n, Index k, int la, int lb, int lc, T alpha, T beta) {
  std::uniform_real_distribution<double> dist(-1, 1);
  const View va = layout(la, m, k), vb = layout(lb, k, n), vc = layout(lc, m, n);
  std::vector<T> a(va.size), b(vb.size), c(vc.size), c0;
  for (auto& x : a) x = static_cast<T>(dist(rng));
  for (auto& x : b) x = static_cast<T>(dist(rng));
  for (auto& x : c) x = beta == T(0) ? NAN : static_cast<T>(dist(rng));
  c0 = c;
  gemm<T>(m, n, k, alpha, a.data(), va.rs, va.cs, b.data(), vb.rs, vb.cs, beta, c.data(), vc.rs, vc.cs);
  const double eps = sizeof(T) == 4 ? 0x1p-23 : 0x1p-52;
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      double s = 0, abs = 0;
      for (Index p = 0; p < k; ++p) {
        const double x = double(a[i * va.rs + p * va.cs]) * double(b[p * vb.rs + j * vb.cs]);
        s += x;
        abs += std::fabs(x);
      }
      const double old = beta == T(0) ? 0.0 : double(beta) * double(c0[i * vc.rs + j * vc.cs]);
      const double want = double(alpha) * s + old;
      const double got = c[i * vc.rs + j * vc.cs];
      const double tol = double(k + 4) * eps * (std::fabs(double(alpha)) * abs + std::fabs(old)) + 1e-300;
      if (!(std::fabs(got - want) <= tol)) {
        std::printf("FAIL %s m=%lld n=%lld k=%lld layouts %d%d%d: C[%lld,%lld] = %g, expected %g\n",
                    sizeof(T) == 4 ? "f32" : "f64", (long long)m, (long long)n, (long long)k, la, lb, lc,
                    (long long)i, (long long)j, got, want);
        return 1;
      }
    }
  }
  return 0;
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  int failures = 0, cases = 0;
  const Index sizes[][3] = {{1, 1, 1},    {7, 11, 5},    {8, 12, 16},   {9, 13, 17},   {16, 24, 255},
                            {17, 25, 257}, {3, 251, 40},  {5, 253, 33},  {40, 127, 31}, {64, 64, 64},
                            {100, 90, 80}, {129, 130, 300}, {1, 300, 200}, {300, 1, 200}};
  for (int threads : {1, 3}) {
    tapegrad::runtime::set_num_threads(threads);
    for (const auto& s : sizes)
      for (int la = 0; la < 3; ++la)
        for (int lb = 0; lb < 3; ++lb)
          for (int lc = 0; lc < 3; lc += 2) {
            failures += check<float>(rng, s[0], s[1], s[2], la, lb, lc, 1.5f, lc == 0 ? 0.0f : -0.5f);
            failures += check<double>(rng, s[0], s[1], s[2], la, lb, lc, 1.0, lc == 0 ? 0.0 : 2.0);
            cases += 2;
          }
  }
  std::printf("neon gemm: %d cases, %d failures\n", cases, failures);
  return failures ? 1 : 0;
}
