#include "optim/config.h"

#include <cmath>

#include "optim/backend_eigen.h"
#include "optim/io.h"
#include "optim/registry.h"

namespace batchlab::optim {
namespace {

void require(bool ok, const std::string& what, double value, const std::string& rule) {
  if (!ok) throw ConfigError("optimizer." + what + " = " + format_number(value) + ": must be " + rule);
}

}  // namespace

std::string canonical_rule_name(const std::string& name) {
  if (name == "lars") return "lars:paper";
  if (name == "lamb") return "lamb:paper";
  return name;
}

std::vector<std::string> rule_names() {
  std::vector<std::string> names;
  for (const auto& [k, v] : rule_registry<EigenD>()) names.push_back(k);
  return names;
}

void validate_config(const OptimizerConfig& c) {
  const auto& table = rule_registry<EigenD>();
  if (table.find(canonical_rule_name(c.name)) == table.end()) {
    std::string known;
    for (const auto& n : rule_names()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("optimizer.name = '" + c.name + "': unknown optimizer (known: " + known + ")");
  }
  require(std::isfinite(c.momentum) && c.momentum >= 0.0 && c.momentum < 1.0, "momentum",
          c.momentum, "in [0, 1)");
  require(c.dampening >= 0.0 && c.dampening < 1.0, "dampening", c.dampening, "in [0, 1)");
  require(c.beta1 >= 0.0 && c.beta1 < 1.0, "beta1", c.beta1, "in [0, 1)");
  require(c.beta2 >= 0.0 && c.beta2 < 1.0, "beta2", c.beta2, "in [0, 1)");
  require(std::isfinite(c.eps) && c.eps >= 0.0, "eps", c.eps, ">= 0");
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0, "weight_decay", c.weight_decay,
          ">= 0");
  require(std::isfinite(c.trust_coefficient) && c.trust_coefficient > 0.0, "trust_coefficient",
          c.trust_coefficient, "> 0");
  require(c.trust_eps >= 0.0, "trust_eps", c.trust_eps, ">= 0");
  require(c.lamb_phi_lower >= 0.0, "lamb_phi_lower", c.lamb_phi_lower, ">= 0");
  require(c.lamb_phi_upper > c.lamb_phi_lower, "lamb_phi_upper", c.lamb_phi_upper,
          "> lamb_phi_lower");
  require(std::isfinite(c.max_grad_norm) && c.max_grad_norm >= 0.0, "max_grad_norm",
          c.max_grad_norm, ">= 0 (0 = off)");
  require(std::isfinite(c.precond_power) && c.precond_power >= 0.0, "precond_power",
          c.precond_power, ">= 0");
  require(c.precond_every >= 1, "precond_every", static_cast<double>(c.precond_every), ">= 1");
  require(std::isfinite(c.precond_eps) && c.precond_eps > 0.0, "precond_eps", c.precond_eps, "> 0");
  require(c.precond_warmup >= 0, "precond_warmup", static_cast<double>(c.precond_warmup), ">= 0");
  require(c.shampoo_max_dim >= 1, "shampoo_max_dim", static_cast<double>(c.shampoo_max_dim),
          ">= 1");
  if (c.shampoo_graft != "adam" && c.shampoo_graft != "sgd" && c.shampoo_graft != "none")
    throw ConfigError("optimizer.shampoo_graft = '" + c.shampoo_graft +
                      "': must be adam, sgd or none");
  // Settings a rule does not support (e.g. trust_eps with lars:paper) are rejected by the
  // rule's constructor; building one here (no state is allocated) reports them up front.
  (void)make_rule<EigenD>(c);
}

void validate_groups(const std::vector<GroupOptions>& groups) {
  if (groups.empty()) throw ConfigError("optimizer: at least one parameter group is required");
  for (const auto& g : groups) {
    if (!(std::isfinite(g.lr_mult) && g.lr_mult >= 0.0))
      throw ConfigError("group '" + g.name + "': lr_mult = " + format_number(g.lr_mult) + ": must be >= 0");
    if (!(std::isfinite(g.weight_decay_mult) && g.weight_decay_mult >= 0.0))
      throw ConfigError("group '" + g.name + "': weight_decay_mult = " + format_number(g.weight_decay_mult) +
                        ": must be >= 0");
    for (std::int64_t d : g.shape)
      if (d < 1)
        throw ConfigError("group '" + g.name + "': shape has a dimension " + std::to_string(d) +
                          ": must be >= 1");
  }
}

}  // namespace batchlab::optim
