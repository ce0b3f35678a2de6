// Shared by the determinism tests: each trial run serially and again on two threads (one thread
// walks the specs in reverse, the two interleaved), and the two results compared bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "sim/trial.h"

namespace batchlab::sim {

// Returns the serial results; expects every threaded result to equal its serial twin exactly
// (status, steps to target, final metric, every curve point).
inline std::vector<TrialResult> expect_same_results_serial_and_on_two_threads(const std::vector<TrialSpec>& specs) {
  std::vector<TrialResult> serial, threaded(specs.size());
  for (const auto& s : specs) serial.push_back(run_trial(s));
  std::thread a([&] {
    for (std::size_t i = specs.size(); i-- > 0;)
      if (i % 2 == 0) threaded[i] = run_trial(specs[i]);
  });
  std::thread b([&] {
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (i % 2 == 1) threaded[i] = run_trial(specs[i]);
  });
  a.join();
  b.join();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(serial[i].status, threaded[i].status) << i;
    EXPECT_EQ(serial[i].steps_to_target, threaded[i].steps_to_target) << i;
    EXPECT_EQ(serial[i].final_metric, threaded[i].final_metric) << i;
    EXPECT_EQ(serial[i].curve.size(), threaded[i].curve.size()) << i;
    for (std::size_t k = 0; k < std::min(serial[i].curve.size(), threaded[i].curve.size()); ++k)
      EXPECT_EQ(serial[i].curve[k].metric, threaded[i].curve[k].metric) << i << " point " << k;
  }
  return serial;
}

}  // namespace batchlab::sim
