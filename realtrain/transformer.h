// Transformers of the trainer: a GPT-style decoder language model and a Vision Transformer,
// both pre-LayerNorm stacks of the same block, written with LibTorch tensor ops (no
// nn::MultiheadAttention) so that every operation, the causal mask included, is visible here.
//
//   gpt:L-W-H-C  (Radford et al. 2019, GPT-2's pre-LN layout) tokens (N x T, T <= C) ->
//                token embedding (V x W) + learned position embedding (C x W) -> L blocks ->
//                LayerNorm -> logits = h E^T with the token embedding E (tied weights).
//   vit:P-W-L-H  (Dosovitskiy et al. 2021) images (N x C x H x W, H and W multiples of P) ->
//                non-overlapping P x P patches flattened in (channel, row, column) order ->
//                linear (C P^2 -> W) -> class token prepended -> + learned position embedding
//                (1 + HW/P^2 positions) -> L blocks -> LayerNorm -> linear head on the class
//                token.
//   block(x):    x = x + proj(attention(LN1(x)));  x = x + fc2(GELU(fc1(LN2(x))))
//                attention: qkv = Linear(W, 3W), H heads of width D = W / H,
//                softmax(q k^T / sqrt(D) [+ causal mask]) v, heads concatenated; MLP 4W wide,
//                exact (erf) GELU. No dropout: the studies compare optimisers, not regularisers.
//
// Parameters (hand count, checked by tests/realtrain/test_transformer.cpp):
//   block = 12 W^2 + 13 W   (LN 2W, qkv 3W^2 + 3W, proj W^2 + W, LN 2W, fc1 4W^2 + 4W, fc2 4W^2 + W)
//   gpt   = V W + C W + L block + 2W
//   vit   = (C P^2 W + W) + W + (1 + HW/P^2) W + L block + 2W + (W classes + classes)
// Initialisation as GPT-2: Linear weights and embeddings N(0, 0.02^2), the two residual
// projections (proj, fc2) N(0, (0.02 / sqrt(2L))^2) so the residual stream's variance does not
// grow with depth, biases 0, LayerNorm gamma 1 and beta 0.
// Embedding tables (token, position, class token) are nn::Embedding modules, which is how
// param_groups (models.h) finds and excludes them from weight decay and layer adaptation.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "realtrain/model_names.h"
#include "realtrain/models.h"

namespace batchlab::realtrain {

// The additive causal mask of T positions: 0 where key s <= query t, -inf where s > t (a
// softmax then gives later keys weight exactly 0). Float T x T with `options`' dtype and device.
torch::Tensor causal_mask(std::int64_t t, const torch::TensorOptions& options);

// Multi-head scaled dot-product attention on q, k, v of shape N x H x T x D (keys and values
// N x H x S x D): softmax over the keys of q k^T / sqrt(D) + mask, times v. `mask` is an
// additive T x S mask (causal_mask) or undefined for none. Returns N x H x T x D.
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           const torch::Tensor& mask);

std::shared_ptr<Model> make_gpt(const GptShape& shape, int vocabulary);
// Throws optim::ConfigError when the image is not a whole number of patches.
std::shared_ptr<Model> make_vit(const VitShape& shape, int channels, int height, int width, int classes);

}  // namespace batchlab::realtrain
