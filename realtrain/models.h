// The trainer's models (LibTorch modules) and their parameter groups.
//
//   mlp[:H1-H2-...]   fully connected ReLU network, input = flattened image, hidden widths
//                     H1, H2, ... (default 256-256: 784-256-256-10 on Fashion-MNIST)
//   simple-cnn        Shallue et al. 2019's Simple CNN: conv5x5-32 (same padding), max-pool 2,
//                     conv5x5-64, max-pool 2, fc-1024, fc-classes; ReLU after every hidden layer
//   resnet8|20|32     He et al. 2016 CIFAR ResNets (6n+2 layers: conv3x3-16, three stages of n
//                     basic blocks with 16/32/64 channels, global average pool, fc). Shortcut
//                     option A, as the paper uses on CIFAR: identity, and where the shape changes
//                     a stride-2 subsampling zero-padded to the new channel count (no parameters)
//   resnet50          He et al. 2016 ImageNet ResNet-50: bottleneck blocks [3, 4, 6, 3], option B
//                     (1x1 projection where the shape changes), stride on the 3x3 convolution
//                     ("v1.5", as torchvision and Goyal et al.'s reference code)
//   gpt:L-W-H-C       GPT-style decoder language model, vit:P-W-L-H Vision Transformer
//                     (realtrain/transformer.h)
//
// Convolutions are Kaiming-normal (fan-out) initialised, BN gamma = 1 and beta = 0, except that
// zero_init_residual sets gamma = 0 on the last BN of every residual block (Goyal et al. 2017),
// so each block starts as the identity. Linear layers keep LibTorch's default initialisation.
//
// BatchNorm running statistics are buffers, not parameters: every rank keeps its own (as Goyal
// et al. and PyTorch DDP without SyncBatchNorm); they are never averaged.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/config.h"
#include "realtrain/model_names.h"

namespace batchlab::data {
class ExampleSource;
}

namespace batchlab::realtrain {

struct TrainConfig;

// For a language model num_classes is the vocabulary size and the image shape is unused.
struct ModelSpec {
  std::string name = "mlp";
  int in_channels = 1, height = 28, width = 28;
  int num_classes = 10;
  bool zero_init_residual = false;
};

// Sees every Linear / Conv2d forward of a model that reports its layers (K-FAC, kfac.h).
class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  // `layer` has just computed `output` from `input`.
  virtual void observe(torch::nn::Module& layer, const torch::Tensor& input, const torch::Tensor& output) = 0;
};

class Model : public torch::nn::Module {
 public:
  // Whether forward passes every Linear / Conv2d layer through run_layer (so an observer sees
  // them all): mlp and simple-cnn.
  virtual bool reports_layers() const { return false; }
  // At most one observer; nullptr removes it.
  void set_layer_observer(LayerObserver* observer) { observer_ = observer; }

  // Image models: x N x C x H x W float32 -> N x num_classes logits. Language models
  // (is_language_model()): x N x T token ids (int64, T <= the context) -> N x T x vocabulary
  // logits, position t predicting token t + 1 from tokens 0 .. t.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual bool is_language_model() const { return false; }

 protected:
  // layer->forward(x), reported to the observer.
  template <class Layer>
  torch::Tensor run_layer(Layer& layer, const torch::Tensor& x) {
    torch::Tensor y = layer->forward(x);
    if (observer_) observer_->observe(*layer, x, y);
    return y;
  }

 private:
  LayerObserver* observer_ = nullptr;
};

// Number of scalar parameters (tied weights counted once).
std::int64_t parameter_count(torch::nn::Module& model);

// Throws optim::ConfigError for an unknown name or a size that does not fit the input.
std::shared_ptr<Model> make_model(const ModelSpec& spec);
// The model `batchlab train` builds for config c on training set `train`: c.model with the set's
// image shape and classes (a language model: its vocabulary), c.zero_init_residual. The trainer,
// bench-step and calibrate use it so that they measure the same network.
ModelSpec model_spec(const TrainConfig& c, const data::ExampleSource& train);

// One optimizer parameter group per parameter tensor, in registration order. Biases, the
// parameters of normalisation layers and embedding tables (nn::Embedding: token and position
// embeddings, the ViT class token) are excluded from weight decay and layer adaptation.
struct ParamGroup {
  std::string name;
  torch::Tensor param;
  optim::GroupOptions options;
};
std::vector<ParamGroup> param_groups(torch::nn::Module& model);

}  // namespace batchlab::realtrain
