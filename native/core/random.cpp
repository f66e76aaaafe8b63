#include "core/random.h"

#include <cmath>
#include <mutex>

namespace tapegrad {

namespace {

struct Xoshiro256 {
  std::uint64_t s[4];

  void seed(std::uint64_t x) {
    for (auto& word : s) {  // splitmix64
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

}  // namespace

struct RandomStream {
  std::mutex mutex;  // a stream lent to a job may also be drawn from its JS thread
  Xoshiro256 generator{};
};

namespace {

// The calling thread's stream: every JS thread (the main thread and each
// worker) that loaded the addon has its own, so manualSeed in one worker
// makes that worker's numbers reproducible whatever the others draw.
thread_local std::shared_ptr<RandomStream> t_stream;

RandomStream& stream() {
  if (!t_stream) {
    t_stream = std::make_shared<RandomStream>();
    t_stream->generator.seed(0);
  }
  return *t_stream;
}

// Runs `fn(generator)` under the stream's lock (once per call, not per number).
template <class Fn>
void with_generator(Fn&& fn) {
  RandomStream& s = stream();
  std::lock_guard<std::mutex> lock(s.mutex);
  fn(s.generator);
}

}  // namespace

std::shared_ptr<RandomStream> current_random_stream() {
  stream();
  return t_stream;
}

RandomStreamScope::RandomStreamScope(std::shared_ptr<RandomStream> stream) : previous_(std::move(t_stream)) {
  t_stream = std::move(stream);
}

RandomStreamScope::~RandomStreamScope() { t_stream = std::move(previous_); }

void manual_seed(std::uint64_t seed) {
  with_generator([&](Xoshiro256& g) { g.seed(seed); });
}

void random_uniform(double* out, std::int64_t n) {
  with_generator([&](Xoshiro256& g) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = g.uniform();
  });
}

void random_normal(double* out, std::int64_t n) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  with_generator([&](Xoshiro256& g) {
    for (std::int64_t i = 0; i < n; i += 2) {
      const double u1 = 1.0 - g.uniform();  // (0, 1]: log is finite
      const double u2 = g.uniform();
      const double r = std::sqrt(-2.0 * std::log(u1));
      out[i] = r * std::cos(kTwoPi * u2);
      if (i + 1 < n) out[i + 1] = r * std::sin(kTwoPi * u2);
    }
  });
}

void random_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high) {
  const std::uint64_t range = static_cast<std::uint64_t>(high - low);
  // Rejection sampling: no modulo bias.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  with_generator([&](Xoshiro256& g) {
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint64_t x;
      do x = g.next();
      while (x >= limit);
      out[i] = low + static_cast<std::int64_t>(x % range);
    }
  });
}

}  // namespace tapegrad
