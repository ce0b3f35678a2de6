#include "realtrain/objective.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <random>

#include "optim/config.h"

namespace batchlab::realtrain {

namespace {

namespace F = torch::nn::functional;

// bf16 autocast on the device of the forward for the guard's lifetime (the C++ form of
// torch.autocast(device, dtype=torch.bfloat16)); the cast weights are cached within it and
// dropped at its end, as Python's context manager does.
class AutocastGuard {
 public:
  AutocastGuard(Precision p, torch::Device device) : on_(p == Precision::kBFloat16), cuda_(device.is_cuda()) {
    if (!on_) return;
    if (cuda_) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_, cuda_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// Logits in float32: language-model logits N x T x V flattened to (N T) x V, targets to N T.
torch::Tensor forward_logits(Model& model, const torch::Tensor& inputs, Precision precision) {
  torch::Tensor logits;
  {
    AutocastGuard autocast(precision, inputs.device());
    logits = model.forward(inputs);
  }
  if (logits.dim() == 3) logits = logits.reshape({-1, logits.size(2)});
  return logits.to(torch::kFloat);
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBFloat16;
  throw optim::ConfigError("train.precision = " + name + ": unknown (expected fp32 or bf16)");
}

BatchTensors BatchTensors::slice(std::int64_t k, std::int64_t parts) const {
  const std::int64_t size = count() / parts;
  return {inputs.narrow(0, k * size, size), targets.narrow(0, k * size, size)};
}

BatchTensors batch_tensors(data::Batch& batch, const data::ExampleSource& source, torch::Device device) {
  const std::int64_t n = batch.count;
  if (source.sequence_length() > 0) {
    const std::int64_t len = source.sequence_length();
    const torch::Tensor w = torch::from_blob(batch.tokens.data(), {n, len}, torch::kLong).to(device);
    return {w.narrow(1, 0, len - 1), w.narrow(1, 1, len - 1)};
  }
  const data::ImageShape s = source.shape();
  return {torch::from_blob(batch.images.data(), {n, s.channels, s.height, s.width}, torch::kFloat).to(device),
          torch::from_blob(batch.labels.data(), {n}, torch::kLong).to(device)};
}

torch::Tensor batch_loss(Model& model, const BatchTensors& batch, Precision precision) {
  return F::cross_entropy(forward_logits(model, batch.inputs, precision), batch.targets.reshape({-1}));
}

std::vector<std::int64_t> evaluation_indices(std::int64_t n, std::int64_t max_examples) {
  const std::int64_t k = (max_examples <= 0 || max_examples >= n) ? n : max_examples;
  std::vector<std::int64_t> out(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < k; ++i) out[static_cast<std::size_t>(i)] = k == n ? i : i * n / k;
  return out;
}

EvalSums evaluate_examples(Model& model, const data::ExampleSource& source, const std::vector<std::int64_t>& indices,
                           torch::Device device, Precision precision) {
  const std::int64_t len = source.sequence_length();
  const std::int64_t numel = len > 0 ? len : source.shape().numel();
  // ~64k tokens or 1000 images per forward: bounded memory for the logits and attention scores.
  const std::int64_t chunk = len > 0 ? std::max<std::int64_t>(1, 65536 / len) : 1000;
  data::Batch b;
  EvalSums sums;
  model.eval();
  c10::InferenceMode inference;  // no autograd bookkeeping at all (stronger than NoGradGuard)
  for (std::size_t s = 0; s < indices.size(); s += static_cast<std::size_t>(chunk)) {
    b.count = std::min<std::int64_t>(chunk, static_cast<std::int64_t>(indices.size() - s));
    if (len > 0) {
      b.tokens.resize(static_cast<std::size_t>(b.count * len));
    } else {
      b.images.resize(static_cast<std::size_t>(b.count * numel));
      b.labels.resize(static_cast<std::size_t>(b.count));
    }
    at::parallel_for(0, b.count, 16, [&](std::int64_t lo, std::int64_t hi) {
      std::mt19937_64 rng(0);  // unused: evaluation examples are fixed
      for (std::int64_t i = lo; i < hi; ++i) {
        const std::int64_t index = indices[s + static_cast<std::size_t>(i)];
        if (len > 0)
          source.write_tokens(index, false, rng, b.tokens.data() + i * len);
        else
          b.labels[static_cast<std::size_t>(i)] = source.write_example(index, false, rng, b.images.data() + i * numel);
      }
    });
    const BatchTensors t = batch_tensors(b, source, device);
    const torch::Tensor logits = forward_logits(model, t.inputs, precision);
    const torch::Tensor y = t.targets.reshape({-1});
    sums.loss += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    sums.correct += logits.argmax(1).eq(y).sum().item<double>();
    sums.items += static_cast<double>(y.numel());
  }
  model.train();
  return sums;
}

}  // namespace batchlab::realtrain
