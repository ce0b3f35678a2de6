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

namespace {

// "a-b-c-d" after `prefix` as exactly `fields.size()` positive integers.
std::vector<int> dash_fields(const std::string& name, const std::string& prefix,
                             const std::vector<std::string>& fields) {
  const std::string form = prefix + [&] {
    std::string f;
    for (const auto& x : fields) f += (f.empty() ? "" : "-") + x;
    return f;
  }();
  std::vector<int> out;
  const std::string spec = name.substr(prefix.size());
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    const std::size_t dash = std::min(spec.find('-', pos), spec.size());
    const std::string item = spec.substr(pos, dash - pos);
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const std::string field = out.size() < fields.size() ? fields[out.size()] : "field " + std::to_string(out.size() + 1);
    if (item.empty() || used != item.size() || v <= 0)
      throw ConfigError("model '" + name + "': " + field + " '" + item + "' is not a positive integer (expected " +
                        form + ")");
    out.push_back(v);
    pos = dash + 1;
  }
  if (out.size() != fields.size())
    throw ConfigError("model '" + name + "': " + std::to_string(out.size()) + " numbers, expected " +
                      std::to_string(fields.size()) + " (" + form + ")");
  return out;
}

void check_heads(const std::string& name, int width, int heads) {
  if (width % heads != 0)
    throw ConfigError("model '" + name + "': WIDTH " + std::to_string(width) + " is not a multiple of HEADS " +
                      std::to_string(heads));
}

}  // namespace

GptShape gpt_shape(const std::string& name) {
  if (name.rfind("gpt:", 0) != 0) throw ConfigError("model '" + name + "' is not a gpt:LAYERS-WIDTH-HEADS-CONTEXT");
  const auto v = dash_fields(name, "gpt:", {"LAYERS", "WIDTH", "HEADS", "CONTEXT"});
  check_heads(name, v[1], v[2]);
  return {v[0], v[1], v[2], v[3]};
}

VitShape vit_shape(const std::string& name) {
  if (name.rfind("vit:", 0) != 0) throw ConfigError("model '" + name + "' is not a vit:PATCH-WIDTH-LAYERS-HEADS");
  const auto v = dash_fields(name, "vit:", {"PATCH", "WIDTH", "LAYERS", "HEADS"});
  check_heads(name, v[1], v[3]);
  return {v[0], v[1], v[2], v[3]};
}

bool is_language_model(const std::string& name) { return name.rfind("gpt:", 0) == 0; }

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
          "resnet50", "gpt:LAYERS-WIDTH-HEADS-CONTEXT", "vit:PATCH-WIDTH-LAYERS-HEADS"};
}

void validate_model_name(const std::string& name) {
  if (name == "mlp" || name.rfind("mlp:", 0) == 0) {
    mlp_hidden_sizes(name);
    return;
  }
  if (name == "simple-cnn" || name == "resnet50" || cifar_resnet_blocks_per_stage(name) > 0) return;
  if (name.rfind("gpt:", 0) == 0) {
    gpt_shape(name);
    return;
  }
  if (name.rfind("vit:", 0) == 0) {
    vit_shape(name);
    return;
  }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace batchlab::realtrain
