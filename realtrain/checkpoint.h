// Training checkpoints: everything needed to continue a run bit-identically on CPU.
// Parameters, model buffers (BN running statistics), optimizer state buffers and counters, the
// number of updates done (the data sampler and augmentation RNG are pure functions of the step,
// so the step *is* their position), the metrics rows written so far, the online noise-scale
// EMAs (B_simple), and the trainer's named progress values (the train-loss sum of the evaluation
// window open at the checkpoint, examples, timings, ...), so that every metrics column but the
// timings of a resumed run continues the uninterrupted one, even inside an evaluation window.
// Under diloco / streaming-diloco also the outer state (optim::DilocoSync::save_state: theta, the
// outer momentum, the fragments in flight, the counters), by name.
// Written to PATH.tmp and renamed onto PATH, so a run killed mid-write keeps the previous one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace batchlab::realtrain {

struct CheckpointState {
  std::int64_t step = 0;  // updates done
  double prev_lr = 0.0;   // Optimizer::prev_lr (momentum correction)
  std::vector<torch::Tensor> params;           // registration order
  std::vector<torch::Tensor> buffers;          // model buffers, registration order
  std::vector<torch::Tensor> optimizer_state;  // per group, the rule's state() order
  std::vector<torch::Tensor> preconditioner_state;  // Kfac::state(); empty without one
  std::string metrics_csv;                     // metrics.csv content up to `step`
  std::vector<double> noise_scale;             // NoiseScaleEstimator::save_state(); empty: none
  // The trainer's progress values by name (the trainer says which); stored as names + values.
  // Checkpoints written before names were stored held only wall_s, comm_s, data_s and (later)
  // examples, in that order: they load under those names and lack the others.
  std::map<std::string, double> progress;
  // DiLoCo's outer state by name (optim::DilocoSync::save_state); empty: not a DiLoCo run (and
  // every checkpoint written before it was saved).
  std::map<std::string, std::vector<double>> outer;
};

// Atomic: temp file, fsync, rename (optim::replace_file_atomic). Throws std::runtime_error naming the path.
void save_checkpoint(const std::string& path, const CheckpointState& state);
// Tensors come back on the CPU. Throws std::runtime_error naming the path.
CheckpointState load_checkpoint(const std::string& path);

}  // namespace batchlab::realtrain
