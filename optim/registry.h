// Name -> update rule. The CLI, the simulator and the trainer pick rules by name through
// this table; adding a rule means adding its file and one line here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "optim/adam.h"
#include "optim/adamw.h"
#include "optim/lamb.h"
#include "optim/lars.h"
#include "optim/momentum.h"
#include "optim/nesterov.h"
#include "optim/precond.h"
#include "optim/rule.h"
#include "optim/sgd.h"
#include "optim/shampoo.h"

namespace batchlab::optim {

template <class B>
using RuleFactory = std::function<std::unique_ptr<Rule<B>>(const OptimizerConfig&)>;

template <class B>
const std::map<std::string, RuleFactory<B>>& rule_registry() {
  static const std::map<std::string, RuleFactory<B>> table = {
      {"sgd", [](const OptimizerConfig& c) { return std::make_unique<Sgd<B>>(c); }},
      {"momentum", [](const OptimizerConfig& c) { return std::make_unique<Momentum<B>>(c); }},
      {"nesterov", [](const OptimizerConfig& c) { return std::make_unique<Nesterov<B>>(c); }},
      {"adam", [](const OptimizerConfig& c) { return std::make_unique<Adam<B>>(c); }},
      {"adamw", [](const OptimizerConfig& c) { return std::make_unique<AdamW<B>>(c); }},
      {"precond", [](const OptimizerConfig& c) { return std::make_unique<Precond<B>>(c); }},
      {"lars:paper",
       [](const OptimizerConfig& c) { return std::make_unique<Lars<B>>(c, LarsVariant::kPaper); }},
      {"lars:tf",
       [](const OptimizerConfig& c) { return std::make_unique<Lars<B>>(c, LarsVariant::kTf); }},
      {"lars:apex",
       [](const OptimizerConfig& c) { return std::make_unique<Lars<B>>(c, LarsVariant::kApex); }},
      {"lamb:paper",
       [](const OptimizerConfig& c) { return std::make_unique<Lamb<B>>(c, LambVariant::kPaper); }},
      {"lamb:apex",
       [](const OptimizerConfig& c) { return std::make_unique<Lamb<B>>(c, LambVariant::kApex); }},
      {"lamb:nobias",
       [](const OptimizerConfig& c) { return std::make_unique<Lamb<B>>(c, LambVariant::kNoBias); }},
      {"shampoo", [](const OptimizerConfig& c) { return std::make_unique<Shampoo<B>>(c); }},
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
