#include "realtrain/model_names.h"

#include <algorithm>
#include <stdexcept>

#include "optim/config.h"

namespace batchlab::realtrain {

using optim::ConfigError;

// "mlp" -> {256, 256}; "mlp:512-128" -> {512, 128}. Throws ConfigError naming the bad width.
std::vector<int> mlp_hidden_sizes(const std::string& name) {
  if (name == "mlp") return {256, 256};
  const std::string spec = name.substr(4);
  std::vector<int> sizes;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    const std::size_t dash = std::min(spec.find('-', pos), spec.size());
    const std::string item = spec.substr(pos, dash - pos);
    std::size_t used = 0;
    int width = 0;
    try {
      width = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || width <= 0)
      throw ConfigError("model '" + name + "': hidden width '" + item +
                        "' is not a positive integer (expected mlp:H1-H2-...)");
    sizes.push_back(width);
    pos = dash + 1;
  }
  return sizes;
}

int cifar_resnet_blocks_per_stage(const std::string& name) {
  if (name.rfind("resnet", 0) != 0 || name == "resnet50") return 0;
  const std::string digits = name.substr(6);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  const int depth = std::stoi(digits);
  if (depth < 8 || (depth - 2) % 6 != 0) return 0;
  return (depth - 2) / 6;
}

std::vector<std::string> model_names() {
  return {"mlp[:H1-H2-...]", "simple-cnn", "resnet8", "resnet20", "resnet32", "resnet<6n+2>",
          "resnet50"};
}

void validate_model_name(const std::string& name) {
  if (name == "mlp" || name.rfind("mlp:", 0) == 0) {
    mlp_hidden_sizes(name);
    return;
  }
  if (name == "simple-cnn" || name == "resnet50" || cifar_resnet_blocks_per_stage(name) > 0) return;
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace batchlab::realtrain
