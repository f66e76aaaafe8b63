// The process-wide seeded generator behind rand/randn/randint/dropout.
// xoshiro256** with splitmix64 seeding: the same seed gives the same
// numbers on every platform.
#pragma once

#include <cstdint>

namespace tapegrad {

void manual_seed(std::uint64_t seed);
// Fills `out` with n draws; each call holds the generator's lock once.
void random_uniform(double* out, std::int64_t n);       // [0, 1), 53 bits
void random_normal(double* out, std::int64_t n);        // N(0, 1), Box-Muller
void random_integers(std::int64_t* out, std::int64_t n, std::int64_t low, std::int64_t high);  // [low, high)

}  // namespace tapegrad
