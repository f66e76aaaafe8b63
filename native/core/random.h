// The seeded generator behind rand/randn/randint/dropout: one stream per
// thread. xoshiro256** with splitmix64 seeding: the same seed gives the same
// numbers on every platform.
#pragma once

#include <cstdint>
#include <vector>

namespace tapegrad {

void manual_seed(std::uint64_t seed);
// Fill `out` with n draws from the calling thread's stream.
void random_uniform(double* out, std::int64_t n);       // [0, 1), 53 bits
void random_normal(double* out, std::int64_t n);        // N(0, 1), Box-Muller
void random_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high);  // [low, high)

// Random numbers for a replay on another thread (binding/trace.h): the
// calls a traced forward pass makes are logged while it is recorded; before
// each replay the JS thread draws what they will need, in order, from its
// own stream (draw_ahead), and the replay's calls take those draws instead
// of drawing. So a replayed step gets exactly the numbers the same step
// would have drawn on the JS thread, and the JS thread's stream moves on as
// it would have, whatever the JS thread draws while the replay runs.
struct RandomCall {
  enum class Kind : std::uint8_t { Uniform, Normal, Integers } kind;
  std::int64_t n, low, high;
};

// While alive, logs the random calls made on the constructing thread.
class RandomCallLog {
 public:
  RandomCallLog();
  ~RandomCallLog();
  RandomCallLog(const RandomCallLog&) = delete;
  RandomCallLog& operator=(const RandomCallLog&) = delete;
  std::vector<RandomCall> calls;

 private:
  RandomCallLog* previous_;
};

struct RandomDraws {
  const std::vector<RandomCall>* calls = nullptr;  // those of the trace, which outlives its replays
  std::vector<double> reals;
  std::vector<std::int64_t> integers;
  std::size_t next_call = 0, next_real = 0, next_integer = 0;
};

// Draws now, on the calling thread, what `calls` will take (`calls` must
// outlive the draws).
RandomDraws draw_ahead(const std::vector<RandomCall>& calls);

// While alive, the random calls on the constructing thread take their
// numbers from `draws`; a call that was not drawn ahead throws.
class RandomDrawsScope {
 public:
  explicit RandomDrawsScope(RandomDraws* draws);
  ~RandomDrawsScope();
  RandomDrawsScope(const RandomDrawsScope&) = delete;
  RandomDrawsScope& operator=(const RandomDrawsScope&) = delete;

 private:
  RandomDraws* previous_;
};

}  // namespace tapegrad
