// Log-spaced evaluation steps for TrialResult::curve: every step up to 10, then about 20 per
// decade, always including 0 and `end`, so a curve over 10^5 steps has ~100 points.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace batchlab::sim {

inline std::vector<std::int64_t> log_spaced_steps(std::int64_t end, int per_decade = 20) {
  std::vector<std::int64_t> out;
  for (std::int64_t t = 0; t <= end && t <= 10; ++t) out.push_back(t);
  for (int i = per_decade + 1;; ++i) {
    const auto t = static_cast<std::int64_t>(std::llround(std::pow(10.0, double(i) / per_decade)));
    if (t >= end) break;
    if (t > out.back()) out.push_back(t);
  }
  if (out.back() != end) out.push_back(end);
  return out;
}

}  // namespace batchlab::sim
