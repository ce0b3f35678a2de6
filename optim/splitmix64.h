// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective avalanche of 64 bits. The one hash
// from which every seeded stream is derived: the simulator's per-trial / per-worker RNG streams
// (sim/rng.h) and the loaders' counter-based shuffles and augmentations (realtrain/data/rng.h).
#pragma once

#include <cstdint>

namespace batchlab {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace batchlab
