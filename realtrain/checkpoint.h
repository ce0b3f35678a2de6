// Training checkpoints: everything needed to continue a run bit-identically on CPU.
// Parameters, model buffers (BN running statistics), optimizer state buffers and counters, the
// number of updates done (the data sampler and augmentation RNG are pure functions of the step,
// so the step *is* their position), the metrics rows written so far and the online noise-scale
// EMAs (B_simple), so a resumed run's noise-scale column continues the uninterrupted one.
// Written to PATH.tmp and renamed onto PATH, so a run killed mid-write keeps the previous one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::realtrain {

struct CheckpointState {
  std::int64_t step = 0;  // updates done
  double prev_lr = 0.0;   // Optimizer::prev_lr (momentum correction)
  std::vector<torch::Tensor> params;           // registration order
  std::vector<torch::Tensor> buffers;          // model buffers, registration order
  std::vector<torch::Tensor> optimizer_state;  // per group, the rule's state() order
  std::string metrics_csv;                     // metrics.csv content up to `step`
  std::vector<double> counters;                // trainer accumulators (times, examples)
  std::vector<double> noise_scale;             // NoiseScaleEstimator::save_state(); empty: none
};

// Atomic: temp file + rename. Throws std::runtime_error naming the path.
void save_checkpoint(const std::string& path, const CheckpointState& state);
// Tensors come back on the CPU. Throws std::runtime_error naming the path.
CheckpointState load_checkpoint(const std::string& path);

}  // namespace batchlab::realtrain
