#include "core/random.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

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

// One generator per thread: every JS thread (the main thread and each worker)
// that loaded the addon has its own stream, so manualSeed in one worker makes
// that worker's numbers reproducible whatever the others draw. Random ops run
// on the JS thread that called them (or replay its draws), never on pool
// threads.
thread_local Xoshiro256 g_rng = [] {
  Xoshiro256 r{};
  r.seed(0);
  return r;
}();

thread_local RandomCallLog* t_log = nullptr;
thread_local RandomDraws* t_draws = nullptr;

// Copies the numbers drawn ahead for `call` to `out` (throws when the next
// call drawn for is another).
template <typename T>
void take_drawn(const RandomCall& call, T* out, std::vector<T> RandomDraws::*pool, std::size_t RandomDraws::*next) {
  RandomDraws& d = *t_draws;
  const std::vector<T>& numbers = d.*pool;
  std::size_t& at = d.*next;
  const RandomCall* expected = d.next_call < d.calls->size() ? &(*d.calls)[d.next_call] : nullptr;
  if (!expected || expected->kind != call.kind || expected->n != call.n || expected->low != call.low ||
      expected->high != call.high || at + static_cast<std::size_t>(call.n) > numbers.size())
    throw_error("trace replay: a random op asked for other numbers than the recorded forward pass drew");
  d.next_call++;
  std::copy_n(numbers.begin() + static_cast<std::ptrdiff_t>(at), call.n, out);
  at += static_cast<std::size_t>(call.n);
}

void draw_uniform(double* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = g_rng.uniform();
}

void draw_normal(double* out, std::int64_t n) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (std::int64_t i = 0; i < n; i += 2) {
    const double u1 = 1.0 - g_rng.uniform();  // (0, 1]: log is finite
    const double u2 = g_rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = r * std::cos(kTwoPi * u2);
    if (i + 1 < n) out[i + 1] = r * std::sin(kTwoPi * u2);
  }
}

void draw_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high) {
  const std::uint64_t range = static_cast<std::uint64_t>(high - low);
  // Rejection sampling: no modulo bias.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint64_t x;
    do x = g_rng.next();
    while (x >= limit);
    out[i] = low + static_cast<std::int64_t>(x % range);
  }
}

}  // namespace

void manual_seed(std::uint64_t seed) {
  g_rng.seed(seed);
}

void random_uniform(double* out, std::int64_t n) {
  const RandomCall call{RandomCall::Kind::Uniform, n, 0, 0};
  if (t_log) t_log->calls.push_back(call);
  if (t_draws) take_drawn(call, out, &RandomDraws::reals, &RandomDraws::next_real);
  else draw_uniform(out, n);
}

void random_normal(double* out, std::int64_t n) {
  const RandomCall call{RandomCall::Kind::Normal, n, 0, 0};
  if (t_log) t_log->calls.push_back(call);
  if (t_draws) take_drawn(call, out, &RandomDraws::reals, &RandomDraws::next_real);
  else draw_normal(out, n);
}

void random_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high) {
  const RandomCall call{RandomCall::Kind::Integers, n, low, high};
  if (t_log) t_log->calls.push_back(call);
  if (t_draws) take_drawn(call, out, &RandomDraws::integers, &RandomDraws::next_integer);
  else draw_integers(out, n, low, high);
}

RandomCallLog::RandomCallLog() : previous_(t_log) { t_log = this; }
RandomCallLog::~RandomCallLog() { t_log = previous_; }

RandomDraws draw_ahead(const std::vector<RandomCall>& calls) {
  RandomDraws d;
  d.calls = &calls;
  std::size_t reals = 0, integers = 0;
  for (const RandomCall& c : calls) (c.kind == RandomCall::Kind::Integers ? integers : reals) += static_cast<std::size_t>(c.n);
  d.reals.resize(reals);
  d.integers.resize(integers);
  double* real = d.reals.data();
  std::int64_t* integer = d.integers.data();
  for (const RandomCall& c : calls) {
    if (c.kind == RandomCall::Kind::Integers) {
      draw_integers(integer, c.n, c.low, c.high);
      integer += c.n;
    } else {
      if (c.kind == RandomCall::Kind::Uniform) draw_uniform(real, c.n);
      else draw_normal(real, c.n);
      real += c.n;
    }
  }
  return d;
}

RandomDrawsScope::RandomDrawsScope(RandomDraws* draws) : previous_(t_draws) { t_draws = draws; }
RandomDrawsScope::~RandomDrawsScope() { t_draws = previous_; }

}  // namespace tapegrad
