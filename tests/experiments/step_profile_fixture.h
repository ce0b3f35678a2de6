// A step-time profile with round numbers, for the step-time and plan tests: compute 2 ms +
// 0.1 ms/example with 1 rank busy and 3 ms + 0.12 ms/example with 2 busy (b = 8 .. 512);
// all-reduce at 2 ranks 50 us + 1 ns/byte (1 KB .. 64 MB); 1e6 parameters in 10 tensors, 2
// gradient buckets, a momentum state of the same size; 25% of the gradient all-reduce hidden
// behind backward (measured at 2 ranks); the loader 10 us/example.
#pragma once

#include "experiments/engine/step_time.h"

namespace batchlab::experiments::fixtures {

inline LinearFit planted(double alpha, double beta, double lo, double hi) {
  LinearFit f;
  f.alpha = alpha;
  f.beta = beta;
  f.x_min = lo;
  f.x_max = hi;
  return f;
}

inline StepTimeProfile round_profile() {
  StepTimeProfile p;
  p.source = "test";
  p.model = "mlp";
  p.dataset = "fashion-mnist";
  p.parameters = 1'000'000;
  p.parameter_tensors = 10;
  p.optimizer_state_values = 1'000'000;
  p.optimizer_state_tensors = 10;
  p.gradient_buckets = 2;
  p.devices_per_node = 2;
  p.compute = {{1, planted(2e-3, 1e-4, 8, 512)}, {2, planted(3e-3, 1.2e-4, 8, 512)}};
  p.allreduce = {{2, planted(50e-6, 1e-9, 1e3, 64e6)}};
  p.sync.overlap = 0.25;
  p.sync.ranks = 2;
  p.has_data = true;
  p.data = planted(0.0, 1e-5, 8, 512);
  return p;
}

}  // namespace batchlab::experiments::fixtures
