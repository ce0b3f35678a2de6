// What the trainer minimises and measures, by kind of model, so that the training loop and the
// evaluation are the same code for image classifiers and language models:
//
//   image models     inputs N x C x H x W float, targets N class labels;
//                    loss = mean cross-entropy over the N examples, accuracy = top-1.
//   language models  a batch of N windows of C + 1 tokens (data::TextSource) gives inputs
//                    = tokens 0 .. C-1 and targets = tokens 1 .. C of every window;
//                    loss = mean next-token cross-entropy over the N x C targets (nats per
//                    token), accuracy = next-token top-1. With byte tokens (vocabulary 256)
//                    bits per byte = nats / ln 2.
//
// Either mean is over equally sized items, so the mean of the losses of K equal slices of a
// batch is the batch's loss: gradient accumulation over micro-batches (slice) adds up to the
// big-batch gradient.
//
// Precision: fp32, or bf16 autocast (the forward's matrix products in bfloat16 on CPU or GPU,
// parameters, gradients and optimizer state stay float32, the loss is taken in float32).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "realtrain/data/source.h"
#include "realtrain/models.h"

namespace batchlab::realtrain {

enum class Precision { kFloat32, kBFloat16 };
// "fp32" | "bf16"; anything else throws optim::ConfigError naming train.precision.
Precision parse_precision(const std::string& name);

// One batch on the device: inputs and targets as the model and the loss take them.
struct BatchTensors {
  torch::Tensor inputs, targets;
  std::int64_t count() const { return inputs.size(0); }
  // Micro-batch k of `parts` equal slices along the examples (count() % parts == 0).
  BatchTensors slice(std::int64_t k, std::int64_t parts) const;
};

// Wraps the loader's batch (images + labels, or token windows) without copying on the CPU.
// The batch must outlive the result when device is the CPU.
BatchTensors batch_tensors(data::Batch& batch, const data::ExampleSource& source, torch::Device device);

// Mean loss of the batch (a float32 scalar with its graph), the forward run in `precision`.
torch::Tensor batch_loss(Model& model, const BatchTensors& batch, Precision precision);

// Sums over some examples of an evaluation split; loss and accuracy are per predicted item
// (example or target token).
struct EvalSums {
  double loss = 0.0, correct = 0.0, items = 0.0;
};

// The examples `indices` of `source` (eval mode, no augmentation, InferenceMode), in chunks.
EvalSums evaluate_examples(Model& model, const data::ExampleSource& source, const std::vector<std::int64_t>& indices,
                           torch::Device device, Precision precision);

// The examples an evaluation reads: all of [0, n) when max_examples is 0 or >= n, else
// max_examples of them evenly spaced, floor(i n / max_examples) for i < max_examples.
std::vector<std::int64_t> evaluation_indices(std::int64_t n, std::int64_t max_examples);

}  // namespace batchlab::realtrain
