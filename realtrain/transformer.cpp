#include "realtrain/transformer.h"

#include <cmath>
#include <limits>
#include <string>

#include "optim/config.h"

namespace batchlab::realtrain {
namespace {

namespace nn = torch::nn;
using optim::ConfigError;

constexpr double kInitStd = 0.02;

// Pre-LN Transformer block (transformer.h).
class Block : public nn::Module {
 public:
  Block(int width, int heads, int layers)
      : heads_(heads),
        ln1_(register_module("ln1", nn::LayerNorm(nn::LayerNormOptions({width})))),
        qkv_(register_module("qkv", nn::Linear(width, 3 * width))),
        proj_(register_module("proj", nn::Linear(width, width))),
        ln2_(register_module("ln2", nn::LayerNorm(nn::LayerNormOptions({width})))),
        fc1_(register_module("fc1", nn::Linear(width, 4 * width))),
        fc2_(register_module("fc2", nn::Linear(4 * width, width))) {
    torch::NoGradGuard no_grad;
    const double residual_std = kInitStd / std::sqrt(2.0 * layers);
    for (nn::Linear* l : {&qkv_, &proj_, &fc1_, &fc2_}) {
      const bool residual = l == &proj_ || l == &fc2_;
      nn::init::normal_((*l)->weight, 0.0, residual ? residual_std : kInitStd);
      nn::init::zeros_((*l)->bias);
    }
  }

  // mask: additive T x T attention mask (causal_mask), or undefined for none.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {
    const std::int64_t n = x.size(0), t = x.size(1), w = x.size(2);
    // N x T x 3W split into q, k, v views, each N x H x T x D (heads as a batch dimension). A
    // split's backward is one concatenation; indexing a permuted N x T x 3 x H x D tensor would
    // cost a zero fill and an add of the whole 3W gradient per view.
    const std::vector<torch::Tensor> qkv = qkv_->forward(ln1_->forward(x)).split(w, -1);
    const auto heads = [&](const torch::Tensor& z) { return z.view({n, t, heads_, w / heads_}).transpose(1, 2); };
    torch::Tensor a = scaled_dot_product_attention(heads(qkv[0]), heads(qkv[1]), heads(qkv[2]), mask);
    x = x + proj_->forward(a.transpose(1, 2).reshape({n, t, w}));
    return x + fc2_->forward(torch::gelu(fc1_->forward(ln2_->forward(x))));
  }

 private:
  int heads_;
  nn::LayerNorm ln1_;
  nn::Linear qkv_, proj_;
  nn::LayerNorm ln2_;
  nn::Linear fc1_, fc2_;
};

nn::Embedding embedding(int rows, int width) {
  nn::Embedding e(rows, width);
  torch::NoGradGuard no_grad;
  nn::init::normal_(e->weight, 0.0, kInitStd);
  return e;
}

class Gpt final : public Model {
 public:
  Gpt(const GptShape& s, int vocabulary)
      : context_(s.context),
        tok_emb_(register_module("tok_emb", embedding(vocabulary, s.width))),
        pos_emb_(register_module("pos_emb", embedding(s.context, s.width))),
        ln_f_(register_module("ln_f", nn::LayerNorm(nn::LayerNormOptions({s.width})))) {
    for (int i = 0; i < s.layers; ++i)
      blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<Block>(s.width, s.heads, s.layers)));
  }

  torch::Tensor forward(torch::Tensor tokens) override {
    TORCH_CHECK(tokens.dim() == 2, "gpt: expected N x T token ids, got ", tokens.sizes());
    const std::int64_t t = tokens.size(1);
    TORCH_CHECK(t >= 1 && t <= context_, "gpt: ", t, " tokens, the context is ", context_);
    torch::Tensor x = tok_emb_->forward(tokens) + pos_emb_->weight.slice(0, 0, t);
    const torch::Tensor mask = causal_mask(t, x.options());
    for (auto& b : blocks_) x = b->forward(x, mask);
    // Tied output layer: the logit of token v is the hidden state's product with v's embedding.
    return torch::linear(ln_f_->forward(x), tok_emb_->weight);
  }
  bool is_language_model() const override { return true; }

 private:
  std::int64_t context_;
  nn::Embedding tok_emb_, pos_emb_;
  nn::LayerNorm ln_f_;
  std::vector<std::shared_ptr<Block>> blocks_;
};

class Vit final : public Model {
 public:
  Vit(const VitShape& s, int channels, int height, int width, int classes)
      : patch_(s.patch),
        patch_embed_(register_module("patch_embed", nn::Linear(channels * s.patch * s.patch, s.width))),
        cls_token_(register_module("cls_token", embedding(1, s.width))),
        pos_emb_(register_module("pos_emb", embedding(1 + (height / s.patch) * (width / s.patch), s.width))),
        ln_f_(register_module("ln_f", nn::LayerNorm(nn::LayerNormOptions({s.width})))),
        head_(register_module("head", nn::Linear(s.width, classes))) {
    for (int i = 0; i < s.layers; ++i)
      blocks_.push_back(register_module("block" + std::to_string(i), std::make_shared<Block>(s.width, s.heads, s.layers)));
    torch::NoGradGuard no_grad;
    for (nn::Linear* l : {&patch_embed_, &head_}) {
      nn::init::normal_((*l)->weight, 0.0, kInitStd);
      nn::init::zeros_((*l)->bias);
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    TORCH_CHECK(x.dim() == 4, "vit: expected N x C x H x W images, got ", x.sizes());
    const std::int64_t n = x.size(0), c = x.size(1), gh = x.size(2) / patch_, gw = x.size(3) / patch_;
    // N x C x gh x P x gw x P -> N x (gh gw) x (C P P): patch (i, j) in row-major order.
    torch::Tensor patches = x.reshape({n, c, gh, patch_, gw, patch_}).permute({0, 2, 4, 1, 3, 5}).reshape({n, gh * gw, c * patch_ * patch_});
    torch::Tensor h = torch::cat({cls_token_->weight.expand({n, 1, -1}), patch_embed_->forward(patches)}, 1) + pos_emb_->weight;
    for (auto& b : blocks_) h = b->forward(h, torch::Tensor());
    return head_->forward(ln_f_->forward(h.select(1, 0)));
  }

 private:
  std::int64_t patch_;
  nn::Linear patch_embed_;
  nn::Embedding cls_token_, pos_emb_;
  nn::LayerNorm ln_f_;
  nn::Linear head_;
  std::vector<std::shared_ptr<Block>> blocks_;
};

}  // namespace

torch::Tensor causal_mask(std::int64_t t, const torch::TensorOptions& options) {
  return torch::zeros({t, t}, options).masked_fill(torch::ones({t, t}, options.dtype(torch::kBool)).triu(1),
                                                   -std::numeric_limits<double>::infinity());
}

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           const torch::Tensor& mask) {
  const std::int64_t n = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3), s = k.size(2);
  const torch::Tensor k3t = k.reshape({n * h, s, d}).transpose(1, 2), v3 = v.reshape({n * h, s, d});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  torch::Tensor scores;
  if (mask.defined()) {
    // One batched GEMM computes scale q k^T + mask (baddbmm: beta input + alpha A B), where
    // scaling and masking as separate ops cost two more passes over the T x S scores, forward
    // and backward.
    scores = torch::baddbmm(mask, q.reshape({n * h, t, d}), k3t, /*beta=*/1.0, /*alpha=*/scale);
  } else {
    // q scaled in the copy its reshape makes anyway. (baddbmm with beta = 0 on an uninitialised
    // input propagates that input's NaNs on this LibTorch.)
    scores = torch::bmm((q * scale).reshape({n * h, t, d}), k3t);
  }
  return torch::bmm(torch::softmax(scores, -1), v3).view({n, h, t, d});
}

std::shared_ptr<Model> make_gpt(const GptShape& shape, int vocabulary) {
  return std::make_shared<Gpt>(shape, vocabulary);
}

std::shared_ptr<Model> make_vit(const VitShape& shape, int channels, int height, int width, int classes) {
  if (height % shape.patch != 0 || width % shape.patch != 0)
    throw ConfigError("model vit with patch " + std::to_string(shape.patch) + ": " + std::to_string(height) + "x" +
                      std::to_string(width) + " images are not a whole number of " + std::to_string(shape.patch) +
                      "x" + std::to_string(shape.patch) + " patches");
  return std::make_shared<Vit>(shape, channels, height, width, classes);
}

}  // namespace batchlab::realtrain
