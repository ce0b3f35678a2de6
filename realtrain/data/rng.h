// Counter-based seeding for the loaders. Every random decision is a pure function of
// (seed, epoch) or (seed, step, example index), so the data a run sees does not depend on
// how many threads or ranks produce it. The integer/real mappings are written here rather
// than taken from std::uniform_*_distribution, whose outputs differ between standard
// libraries: a seed must mean the same examples on every cluster.
#pragma once

#include <cstdint>
#include <random>

#include "optim/splitmix64.h"

namespace batchlab::data {

inline std::uint64_t hash_seed(std::uint64_t a, std::uint64_t b) {
  return splitmix64(splitmix64(a) ^ (b + 0x632be59bd9b4e019ULL));
}
inline std::uint64_t hash_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return hash_seed(hash_seed(a, b), c);
}

// Uniform integer in [0, n), n >= 1, unbiased: rejects the top 2^64 mod n raw values.
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t reject_below = (0 - n) % n;  // == 2^64 mod n
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= reject_below) return r % n;
  }
}

// Uniform double in [0, 1) from the top 53 bits.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

inline double uniform_real(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

}  // namespace batchlab::data
