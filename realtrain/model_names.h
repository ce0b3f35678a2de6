// Model names of the real trainer (`--model`), parsed without LibTorch, so that `batchlab study`
// and `batchlab train` reject a bad name before any work (and before LibTorch is loaded).
#pragma once

#include <string>
#include <vector>

namespace batchlab::realtrain {

// "mlp" -> {256, 256}; "mlp:512-128" -> {512, 128}. Throws optim::ConfigError naming the bad width.
std::vector<int> mlp_hidden_sizes(const std::string& name);
// (depth - 2) / 6 for resnetD with D = 6n + 2 >= 8 (the CIFAR family), else 0.
int cifar_resnet_blocks_per_stage(const std::string& name);
// Transformer shapes (realtrain/transformer.h builds them):
//   gpt:LAYERS-WIDTH-HEADS-CONTEXT   decoder-only language model over CONTEXT tokens
//   vit:PATCH-WIDTH-LAYERS-HEADS     Vision Transformer on PATCH x PATCH patches
// Each number is a positive integer and WIDTH a multiple of HEADS. Throw optim::ConfigError
// naming the model and the bad field.
struct GptShape {
  int layers = 0, width = 0, heads = 0, context = 0;
};
struct VitShape {
  int patch = 0, width = 0, layers = 0, heads = 0;
};
GptShape gpt_shape(const std::string& name);
VitShape vit_shape(const std::string& name);
// A language model (gpt:...): it reads token sequences (the text dataset), not images.
bool is_language_model(const std::string& name);

// Checks the name (and mlp sizes) without building anything: bad input is reported before work.
void validate_model_name(const std::string& name);
std::vector<std::string> model_names();

}  // namespace batchlab::realtrain
