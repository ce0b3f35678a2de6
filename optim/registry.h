// Name -> update rule. The CLI, the simulator and the trainer pick rules by name through
// this table; adding a rule means adding its file and one line here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "optim/momentum.h"
#include "optim/rule.h"
#include "optim/sgd.h"

namespace batchlab::optim {

template <class B>
using RuleFactory = std::function<std::unique_ptr<Rule<B>>(const OptimizerConfig&)>;

template <class B>
const std::map<std::string, RuleFactory<B>>& rule_registry() {
  static const std::map<std::string, RuleFactory<B>> table = {
      {"sgd", [](const OptimizerConfig& c) { return std::make_unique<Sgd<B>>(c); }},
      {"momentum", [](const OptimizerConfig& c) { return std::make_unique<Momentum<B>>(c); }},
  };
  return table;
}

// "lars" -> "lars:paper", "lamb" -> "lamb:paper"; other names unchanged.
std::string canonical_rule_name(const std::string& name);
// Every registered name, sorted (for error messages and --help).
std::vector<std::string> rule_names();

template <class B>
std::unique_ptr<Rule<B>> make_rule(const OptimizerConfig& cfg) {
  const auto& table = rule_registry<B>();
  auto it = table.find(canonical_rule_name(cfg.name));
  if (it == table.end()) {
    std::string known;
    for (const auto& [k, v] : table) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError("unknown optimizer '" + cfg.name + "' (known: " + known + ")");
  }
  return it->second(cfg);
}

}  // namespace batchlab::optim
