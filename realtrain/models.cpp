#include "realtrain/models.h"

#include "realtrain/data/source.h"
#include "realtrain/model_names.h"
#include "realtrain/train_config.h"
#include "realtrain/transformer.h"

#include <set>
#include <stdexcept>

namespace batchlab::realtrain {
namespace {

namespace nn = torch::nn;
using optim::ConfigError;

nn::Conv2d conv(int in, int out, int kernel, int stride, int padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

class Mlp final : public Model {
 public:
  Mlp(int inputs, const std::vector<int>& hidden, int classes) {
    int in = inputs;
    for (std::size_t i = 0; i <= hidden.size(); ++i) {
      const int out = i < hidden.size() ? hidden[i] : classes;
      layers_.push_back(register_module("fc" + std::to_string(i + 1), nn::Linear(in, out)));
      in = out;
    }
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (std::size_t i = 0; i + 1 < layers_.size(); ++i) x = torch::relu(run_layer(layers_[i], x));
    return run_layer(layers_.back(), x);
  }
  bool reports_layers() const override { return true; }

 private:
  std::vector<nn::Linear> layers_;
};

// Shallue et al. 2019's Simple CNN: conv5x5-32 same, ReLU, max-pool 2, conv5x5-64 same, ReLU,
// max-pool 2, fc-1024, ReLU, fc-classes (the flatten is in NCHW order, as in PyTorch).
// Two exact implementation choices, same function and same gradients as the textbook order:
//  - the activations and conv weights are channels-last (NHWC) on the CPU, where oneDNN
//    (MKL-DNN) convolutions run natively in that layout; NCHW makes every call reorder its
//    weights and max-pool take a slow path (measured: max-pool ~15x faster in NHWC);
//  - ReLU after the max-pool: relu(maxpool(x)) == maxpool(relu(x)) because ReLU is monotone, and
//    the gradient is the same too (both route it to the window's first maximum when that is
//    > 0 and give 0 otherwise), but the ReLU and its backward touch a quarter of the elements.
class SimpleCnn final : public Model {
 public:
  SimpleCnn(int channels, int height, int width, int classes)
      : conv1_(register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, 32, 5).padding(2)))),
        conv2_(register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 5).padding(2)))),
        fc1_(register_module("fc1", nn::Linear(64 * (height / 4) * (width / 4), 1024))),
        fc2_(register_module("fc2", nn::Linear(1024, classes))) {
    torch::NoGradGuard no_grad;
    // A copy with explicit channels-last strides: contiguous(ChannelsLast) would return a
    // 1-input-channel weight unchanged (its NCHW strides already qualify), and oneDNN would then
    // pick NCHW for conv1's output.
    for (nn::Conv2d* c : {&conv1_, &conv2_})
      (*c)->weight.set_data((*c)->weight.to((*c)->weight.options(), /*non_blocking=*/false,
                                            /*copy=*/true, at::MemoryFormat::ChannelsLast));
  }
  torch::Tensor forward(torch::Tensor x) override {
    if (x.device().is_cpu()) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    x = torch::relu(torch::max_pool2d(run_layer(conv1_, x), 2));
    x = torch::relu(torch::max_pool2d(run_layer(conv2_, x), 2));
    x = torch::relu(run_layer(fc1_, x.contiguous().flatten(1)));
    return run_layer(fc2_, x);
  }
  bool reports_layers() const override { return true; }

 private:
  nn::Conv2d conv1_, conv2_;
  nn::Linear fc1_, fc2_;
};

// A residual block whose last BN is the one zero_init_residual zeroes.
class ResidualBlock : public nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual nn::BatchNorm2d& last_bn() = 0;
};

// He et al. 2016 basic block, CIFAR option A shortcut.
class BasicBlockA final : public ResidualBlock {
 public:
  BasicBlockA(int in, int out, int stride)
      : conv1_(register_module("conv1", conv(in, out, 3, stride, 1))),
        bn1_(register_module("bn1", nn::BatchNorm2d(out))),
        conv2_(register_module("conv2", conv(out, out, 3, 1, 1))),
        bn2_(register_module("bn2", nn::BatchNorm2d(out))),
        stride_(stride),
        pad_channels_(out - in) {}
  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    torch::Tensor shortcut = x;
    if (stride_ != 1)
      shortcut = shortcut.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);
    if (pad_channels_ > 0) {
      const int before = pad_channels_ / 2;
      shortcut = torch::constant_pad_nd(shortcut, {0, 0, 0, 0, before, pad_channels_ - before}, 0.0);
    }
    return torch::relu(y + shortcut);
  }
  nn::BatchNorm2d& last_bn() override { return bn2_; }

 private:
  nn::Conv2d conv1_;
  nn::BatchNorm2d bn1_;
  nn::Conv2d conv2_;
  nn::BatchNorm2d bn2_;
  int stride_, pad_channels_;
};

// He et al. 2016 bottleneck (1x1, 3x3, 1x1 x4), stride on the 3x3, option B projection.
class Bottleneck final : public ResidualBlock {
 public:
  static constexpr int kExpansion = 4;
  Bottleneck(int in, int width, int stride)
      : conv1_(register_module("conv1", conv(in, width, 1, 1, 0))),
        bn1_(register_module("bn1", nn::BatchNorm2d(width))),
        conv2_(register_module("conv2", conv(width, width, 3, stride, 1))),
        bn2_(register_module("bn2", nn::BatchNorm2d(width))),
        conv3_(register_module("conv3", conv(width, width * kExpansion, 1, 1, 0))),
        bn3_(register_module("bn3", nn::BatchNorm2d(width * kExpansion))) {
    if (stride != 1 || in != width * kExpansion) {
      proj_ = register_module("proj", conv(in, width * kExpansion, 1, stride, 0));
      proj_bn_ = register_module("proj_bn", nn::BatchNorm2d(width * kExpansion));
    }
  }
  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = torch::relu(bn2_->forward(conv2_->forward(y)));
    y = bn3_->forward(conv3_->forward(y));
    torch::Tensor shortcut = proj_ ? proj_bn_->forward(proj_->forward(x)) : x;
    return torch::relu(y + shortcut);
  }
  nn::BatchNorm2d& last_bn() override { return bn3_; }

 private:
  nn::Conv2d conv1_;
  nn::BatchNorm2d bn1_;
  nn::Conv2d conv2_;
  nn::BatchNorm2d bn2_;
  nn::Conv2d conv3_;
  nn::BatchNorm2d bn3_;
  nn::Conv2d proj_{nullptr};
  nn::BatchNorm2d proj_bn_{nullptr};
};

class ResNet : public Model {
 public:
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(stem_bn_->forward(stem_->forward(x)));
    if (stem_pool_) x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& b : blocks_) x = b->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_->forward(x);
  }

 protected:
  void add_block(const std::string& name, std::shared_ptr<ResidualBlock> b) {
    blocks_.push_back(register_module(name, std::move(b)));
  }
  void initialise(bool zero_init_residual) {
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<nn::Conv2d>())
        nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      else if (auto* bn = m->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
    if (zero_init_residual)
      for (auto& b : blocks_) nn::init::zeros_(b->last_bn()->weight);
  }
  nn::Conv2d stem_{nullptr};
  nn::BatchNorm2d stem_bn_{nullptr};
  bool stem_pool_ = false;
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
  nn::Linear fc_{nullptr};
};

class CifarResNet final : public ResNet {
 public:
  CifarResNet(int blocks_per_stage, int channels, int classes, bool zero_init_residual) {
    stem_ = register_module("conv1", conv(channels, 16, 3, 1, 1));
    stem_bn_ = register_module("bn1", nn::BatchNorm2d(16));
    int in = 16;
    const int widths[3] = {16, 32, 64};
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < blocks_per_stage; ++b) {
        const int stride = (s > 0 && b == 0) ? 2 : 1;
        add_block("stage" + std::to_string(s + 1) + "_block" + std::to_string(b),
                  std::make_shared<BasicBlockA>(in, widths[s], stride));
        in = widths[s];
      }
    fc_ = register_module("fc", nn::Linear(64, classes));
    initialise(zero_init_residual);
  }
};

class ResNet50 final : public ResNet {
 public:
  ResNet50(int channels, int classes, bool zero_init_residual) {
    stem_ = register_module("conv1", conv(channels, 64, 7, 2, 3));
    stem_bn_ = register_module("bn1", nn::BatchNorm2d(64));
    stem_pool_ = true;
    const int blocks[4] = {3, 4, 6, 3};
    const int widths[4] = {64, 128, 256, 512};
    int in = 64;
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < blocks[s]; ++b) {
        const int stride = (s > 0 && b == 0) ? 2 : 1;
        add_block("stage" + std::to_string(s + 1) + "_block" + std::to_string(b),
                  std::make_shared<Bottleneck>(in, widths[s], stride));
        in = widths[s] * Bottleneck::kExpansion;
      }
    fc_ = register_module("fc", nn::Linear(in, classes));
    initialise(zero_init_residual);
  }
};

}  // namespace

std::shared_ptr<Model> make_model(const ModelSpec& spec) {
  validate_model_name(spec.name);
  if (is_language_model(spec.name)) {
    if (spec.num_classes < 2)
      throw ConfigError("model '" + spec.name + "': vocabulary of " + std::to_string(spec.num_classes) + " tokens");
    return make_gpt(gpt_shape(spec.name), spec.num_classes);
  }
  if (spec.in_channels <= 0 || spec.height <= 0 || spec.width <= 0 || spec.num_classes <= 1)
    throw ConfigError("model '" + spec.name + "': bad input shape " + std::to_string(spec.in_channels) +
                      "x" + std::to_string(spec.height) + "x" + std::to_string(spec.width) + " or " +
                      std::to_string(spec.num_classes) + " classes");
  if (spec.name == "mlp" || spec.name.rfind("mlp:", 0) == 0)
    return std::make_shared<Mlp>(spec.in_channels * spec.height * spec.width,
                                 mlp_hidden_sizes(spec.name), spec.num_classes);
  if (spec.name == "simple-cnn") {
    if (spec.height < 4 || spec.width < 4)
      throw ConfigError("model 'simple-cnn' needs images of at least 4x4, got " +
                        std::to_string(spec.height) + "x" + std::to_string(spec.width));
    return std::make_shared<SimpleCnn>(spec.in_channels, spec.height, spec.width, spec.num_classes);
  }
  if (spec.name.rfind("vit:", 0) == 0)
    return make_vit(vit_shape(spec.name), spec.in_channels, spec.height, spec.width, spec.num_classes);
  if (spec.name == "resnet50")
    return std::make_shared<ResNet50>(spec.in_channels, spec.num_classes, spec.zero_init_residual);
  return std::make_shared<CifarResNet>(cifar_resnet_blocks_per_stage(spec.name), spec.in_channels,
                                       spec.num_classes, spec.zero_init_residual);
}

std::int64_t parameter_count(torch::nn::Module& model) {
  std::set<const void*> seen;
  std::int64_t n = 0;
  for (const auto& p : model.parameters())
    if (seen.insert(p.unsafeGetTensorImpl()).second) n += p.numel();
  return n;
}

std::vector<ParamGroup> param_groups(torch::nn::Module& model) {
  // Normalisation layers' parameters (gamma, beta) and embedding tables are found by module
  // type, not by name.
  std::set<const void*> excluded_params;
  for (const auto& m : model.modules(/*include_self=*/true)) {
    if (m->as<torch::nn::BatchNorm2d>() || m->as<torch::nn::BatchNorm1d>() ||
        m->as<torch::nn::LayerNorm>() || m->as<torch::nn::GroupNorm>() || m->as<torch::nn::Embedding>())
      for (const auto& p : m->parameters(/*recurse=*/false))
        excluded_params.insert(p.unsafeGetTensorImpl());
  }
  std::vector<ParamGroup> groups;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    ParamGroup g;
    g.name = item.key();
    g.param = item.value();
    g.options.name = g.name;
    const bool is_bias = g.name == "bias" ||
                         (g.name.size() > 5 && g.name.compare(g.name.size() - 5, 5, ".bias") == 0);
    const bool excluded = is_bias || excluded_params.count(g.param.unsafeGetTensorImpl()) > 0;
    g.options.exclude_from_weight_decay = excluded;
    g.options.exclude_from_adaptation = excluded;
    g.options.shape = g.param.sizes().vec();  // Shampoo's matrix view of the tensor
    groups.push_back(std::move(g));
  }
  return groups;
}

ModelSpec model_spec(const TrainConfig& c, const data::ExampleSource& train) {
  const data::ImageShape shape = train.shape();
  ModelSpec spec;
  spec.name = c.model;
  spec.in_channels = shape.channels;
  spec.height = shape.height;
  spec.width = shape.width;
  spec.num_classes = train.num_classes();  // the vocabulary of a language model
  spec.zero_init_residual = c.zero_init_residual;
  return spec;
}

}  // namespace batchlab::realtrain
