// The seeded generator behind rand/randn/randint/dropout: one stream per JS
// thread. xoshiro256** with splitmix64 seeding: the same seed gives the same
// numbers on every platform.
#pragma once

#include <cstdint>
#include <memory>

namespace tapegrad {

// A generator's state. Each thread draws from its own stream unless a
// RandomStreamScope lends it another's: a training step replayed off the JS
// thread draws from the JS thread's stream, so it gets the numbers the same
// step would get on the JS thread.
struct RandomStream;
std::shared_ptr<RandomStream> current_random_stream();

class RandomStreamScope {
 public:
  explicit RandomStreamScope(std::shared_ptr<RandomStream> stream);
  ~RandomStreamScope();
  RandomStreamScope(const RandomStreamScope&) = delete;
  RandomStreamScope& operator=(const RandomStreamScope&) = delete;

 private:
  std::shared_ptr<RandomStream> previous_;
};

void manual_seed(std::uint64_t seed);
// Fills `out` with n draws; each call holds the generator's lock once.
void random_uniform(double* out, std::int64_t n);       // [0, 1), 53 bits
void random_normal(double* out, std::int64_t n);        // N(0, 1), Box-Muller
void random_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high);  // [low, high)

}  // namespace tapegrad
