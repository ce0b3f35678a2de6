// Random streams of the simulator.
//
// Every random draw of a trial comes from a stream derived from (seed, stream id) by hashing with
// splitmix64 (Steele, Lea & Flood 2014), never from a generator shared across threads: the same
// spec gives the same numbers whatever the thread count or the order in which trials run.
// Stream ids: worker w of a trial uses kWorkerStream + w, the initial point kInitStream; the
// dataset of a finite-sum landscape is drawn from LandscapeConfig::data_seed, not the trial seed.
#pragma once

#include <cstdint>
#include <random>

#include "optim/splitmix64.h"

namespace batchlab::sim {

// Seed of stream `stream` of a trial with seed `seed`: two rounds so that nearby (seed, stream)
// pairs give unrelated generators.
inline std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) {
  return splitmix64(splitmix64(seed) ^ splitmix64(stream + 0x51ED270B27E2A7C5ULL));
}

inline constexpr std::uint64_t kInitStream = 0xFFFFFFFF00000001ULL;
inline constexpr std::uint64_t kDataStream = 0xFFFFFFFF00000002ULL;
inline constexpr std::uint64_t kWorkerStream = 0;

using Rng = std::mt19937_64;

inline Rng make_rng(std::uint64_t seed, std::uint64_t stream) { return Rng(stream_seed(seed, stream)); }

}  // namespace batchlab::sim
