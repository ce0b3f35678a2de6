#include "experiments/engine/sweep_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <boost/program_options.hpp>

#include "experiments/engine/settings.h"
#include "experiments/engine/study_report.h"
#include "optim/config.h"
#include "optim/registry.h"
#include "sim/landscape.h"

namespace po = boost::program_options;

namespace batchlab::experiments {
namespace {

using optim::ConfigError;

// Every setting of a sweep, in the order config.ini lists them.
constexpr ConfigKey kKeys[] = {
    {"landscape", "kind", "nqm", "nqm | linreg | logreg | mlp"},
    {"landscape", "dim", "10000", "NQM dimensions"},
    {"landscape", "curvature_power", "1", "NQM h_i = i^-curvature_power"},
    {"landscape", "noise_power", "1", "NQM c_i = i^-noise_power"},
    {"landscape", "init_variance", "1", "E[theta_0,i^2]"},
    {"landscape", "layers", "1", "sampled NQM / mlp: parameter groups"},
    {"landscape", "train_examples", "8192", "finite-sum landscapes: training examples"},
    {"landscape", "test_examples", "2048", "finite-sum landscapes: test examples"},
    {"landscape", "input_dim", "32", "finite-sum landscapes: input dimension"},
    {"landscape", "hidden", "64,64", "mlp hidden widths"},
    {"landscape", "label_noise", "0.1", "linreg noise std; logreg/mlp label flip probability"},
    {"landscape", "data_seed", "0", "seed of the synthetic data set"},
    {"optimizer", "name", "sgd", "one or several comma-separated optimizer names"},
    {"optimizer", "momentum", "0.9", "momentum of optimizers with momentum (default momentum_grid)"},
    {"optimizer", "dampening", "0", "PyTorch SGD dampening"},
    {"optimizer", "beta1", "0.9", "Adam/LAMB beta1"},
    {"optimizer", "beta2", "0.999", "Adam/LAMB beta2"},
    {"optimizer", "eps", "1e-08", "Adam/LAMB epsilon"},
    {"optimizer", "weight_decay", "0", "weight decay"},
    {"optimizer", "trust_coefficient", "0.001", "LARS eta"},
    {"optimizer", "trust_eps", "0", "LARS trust-ratio epsilon"},
    {"optimizer", "trust_clip", "false", "lars:apex: trust <- min(trust / lr, 1)"},
    {"optimizer", "lamb_phi_lower", "0", "LAMB phi clamp lower bound"},
    {"optimizer", "lamb_phi_upper", "inf", "LAMB phi clamp upper bound"},
    {"optimizer", "max_grad_norm", "0", "global gradient-norm clipping (0 = off)"},
    {"optimizer", "precond_power", "0.5", "precond: P = H^-p"},
    {"optimizer", "precond_every", "10", "shampoo: updates between inverse-root recomputations"},
    {"optimizer", "precond_eps", "1e-06", "shampoo: (S + eps I)^(-1/4) eigenvalue floor"},
    {"optimizer", "precond_warmup", "0", "shampoo: first updates with the diagonal graft step"},
    {"optimizer", "shampoo_max_dim", "1024", "shampoo: larger sides fall back to the diagonal"},
    {"optimizer", "shampoo_graft", "adam", "shampoo: step-length graft adam | sgd | none"},
    {"optimizer", "lr_in_momentum", "false", "Goyal form v <- m v + lr g"},
    {"optimizer", "momentum_correction", "false", "Goyal momentum correction"},
    {"schedule", "decay", "constant", "constant | step | cosine | poly | linear"},
    {"schedule", "total_steps", "auto", "decay horizon (auto = study.max_steps)"},
    {"schedule", "milestones", "none", "step decay milestones (comma list of steps)"},
    {"schedule", "factor", "0.1", "step decay factor"},
    {"schedule", "lr_min", "0", "end lr of cosine / poly / linear decay"},
    {"schedule", "power", "2", "poly decay power"},
    {"schedule", "warmup", "none", "none | linear | gradual"},
    {"schedule", "warmup_steps", "0", "warm-up length in steps"},
    {"schedule", "warmup_start_lr", "auto",
     "gradual warm-up start (auto = multiplier x lr_ref, or lr x batch_ref / B for absolute grids)"},
    {"schedule", "batch_milestones", "none",
     "grow the batch once this many examples are processed (comma list; Smith et al. 2018)"},
    {"schedule", "batch_factor", "1", "batch multiplier at each batch milestone"},
    {"schedule", "batch_max", "0", "cap on the grown batch (0 = none)"},
    {"schedule", "batch_lr_coupling", "none", "lr follows the grown batch: none | linear (x B_k/B_0) | sqrt (x sqrt(B_k/B_0))"},
    {"scaling", "rule", "none", "none | linear | sqrt | malladi"},
    {"scaling", "batch_ref", "256", "B_ref of the scaling rule"},
    {"scaling", "lr_ref", "0.1", "lr at B_ref"},
    {"scaling", "max_lr", "0", "cap on the scaled lr (0 = none)"},
    {"sync", "policy", "sync", "sync | local:H | post-local:H@t0 | hier:H1:H2 | diloco:H | streaming-diloco:H:F"},
    {"sync", "outer", "nesterov", "DiLoCo outer optimizer: nesterov | sgd"},
    {"sync", "outer_lr", "0.7", "DiLoCo outer lr"},
    {"sync", "outer_momentum", "0.9", "DiLoCo outer momentum"},
    {"sync", "outer_bits", "32", "DiLoCo pseudo-gradient bits: 32 | 16 | 8 | 4"},
    {"sync", "outer_rounding", "nearest", "DiLoCo quantisation rounding: nearest | stochastic"},
    {"sync", "outer_overlap", "false", "DiLoCo: outer results land outer_overlap_steps updates after they are sent"},
    {"sync", "outer_overlap_steps", "1", "DiLoCo: updates a fragment's communication overlaps (with outer_overlap = true)"},
    {"sync", "workers", "1", "simulated data-parallel workers (sampled mode)"},
    {"sync", "node_size", "0", "hierarchical: workers per node (0 = workers)"},
    {"sync", "average_momentum", "false", "average momentum buffers with the parameters"},
    {"study", "name", "auto", "study name (auto = config file name)"},
    {"study", "mode", "analytic", "analytic | sampled"},
    {"study", "batch_sizes", "pow2:2:20", "list, or pow2:LO:HI (exponents)"},
    {"study", "lr_grid", "log:0.001:10:41", "list, log:LO:HI:N, lin:LO:HI:N, scaled:LO:HI:N"},
    {"study", "momentum_grid", "auto", "momentum values for optimizers with momentum (auto = optimizer.momentum)"},
    {"study", "ema_grid", "0.99", "EMA decays for the optimizer 'ema'"},
    {"study", "seeds", "0", "comma list of seeds"},
    {"study", "target", "0.01", "metric target (reached when metric < target)"},
    {"study", "targets", "none", "several targets t1,t2,... from the same trials (none = study.target only)"},
    {"study", "max_steps", "100000", "steps before a trial counts as not reached"},
    {"study", "eval_every", "1", "sampled mode: evaluate every this many steps"},
    {"study", "threads", "0", "trial threads (0 = hardware concurrency)"},
    {"study", "record_curves", "false", "write curves.csv"},
    {"output", "dir", "auto", "output directory (auto = results/<study.name>)"},
    {"noise_scale", "small_batch", "auto", "batchlab noise-scale: small batch (auto = smallest of study.batch_sizes)"},
    {"noise_scale", "big_batch", "auto", "batchlab noise-scale: big batch (auto = largest of study.batch_sizes, or 64 x small_batch)"},
    {"noise_scale", "samples", "200", "batchlab noise-scale: independent (small, big) gradient pairs"},
};

// Keys a [optimizer.LABEL] section may override.
bool per_optimizer_key(const std::string& k) {
  if (k == "momentum_grid" || k == "ema_grid") return true;
  if (k == "name") return false;
  for (const auto& key : kKeys)
    if (std::string(key.section) == "optimizer" && k == key.name) return true;
  return false;
}

bool known_section(const std::string& s) {
  for (const auto& key : kKeys)
    if (s == key.section) return true;
  return false;
}

bool uses_momentum(const std::string& name) {
  return name == "momentum" || name == "nesterov" || name.starts_with("lars");
}

bool valid_label(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' || c == '.';
  });
}

void collect(const po::parsed_options& parsed, Settings& s, const std::string& origin) {
  std::set<std::string> seen;
  for (const auto& o : parsed.options) {
    if (o.string_key.empty() || o.string_key == "config" || o.string_key == "help" || o.string_key == "no-plot")
      continue;
    const std::string& k = o.string_key;
    if (o.unregistered) {
      const auto dot = k.find('.');
      if (dot == std::string::npos) throw ConfigError(origin + ": unknown key '" + k + "' (keys live in [section]s)");
      const std::string sec = k.substr(0, dot);
      const auto last = k.rfind('.');
      if (sec == "optimizer" && last != dot) {
        const std::string leaf = k.substr(last + 1);
        if (!per_optimizer_key(leaf))
          throw ConfigError(origin + ": unknown key '" + leaf + "' in section [" + k.substr(0, last) + "]");
      } else if (!known_section(sec)) {
        throw ConfigError(origin + ": unknown section [" + sec + "] (key " + k + ")");
      } else {
        throw ConfigError(origin + ": unknown key " + k);
      }
    }
    if (o.value.size() != 1) throw ConfigError(origin + ": " + k + " needs exactly one value");
    if (!seen.insert(k).second)
      throw ConfigError(origin + ": " + k + " is given twice (second value '" + o.value[0] + "')");
    if (o.unregistered && s.given(k) && origin != "command line") continue;
    s.set(k, o.value[0]);
  }
}

std::vector<double> unit_interval_grid(const std::string& key, const std::string& text) {
  const Grid g = parse_grid(key, text);
  if (g.scaled) bad_setting(key, text, "scaled: grids are for study.lr_grid only");
  for (double v : g.values)
    if (!(v >= 0.0 && v < 1.0)) bad_setting(key, text, "value " + format_number(v) + " is not in [0, 1)");
  return g.values;
}

}  // namespace

bool is_known_optimizer(const std::string& name) {
  if (name == "ema") return true;
  const auto names = optim::rule_names();
  return std::find(names.begin(), names.end(), optim::canonical_rule_name(name)) != names.end();
}

std::string metric_name(const SweepConfig& cfg) {
  if (cfg.mode == "analytic") return "expected_loss";
  return sim::make_landscape(cfg.landscape)->metric_name();
}

namespace {

// The command line, then the INI file it names, into `s` (an explicit command-line value wins).
// Returns false when --help was printed.
bool read_settings(int argc, char** argv, const char* usage, Settings& s, SweepConfig& out) {
  po::options_description settings;
  add_key_options(settings, kKeys);
  po::options_description cli(usage);
  cli.add_options()("help,h", "this help")("no-plot", "do not call plots/ at the end")(
      "config", po::value<std::string>(), "INI file");
  cli.add(settings);
  po::positional_options_description pos;
  pos.add("config", 1);

  po::variables_map vm;
  try {
    const auto parsed = po::command_line_parser(argc, argv)
                            .options(cli)
                            .positional(pos)
                            .allow_unregistered()
                            .run();
    for (const auto& o : parsed.options)
      if (o.unregistered && (o.position_key >= 0 || !o.string_key.starts_with("optimizer.")))
        throw ConfigError("command line: unknown option '" +
                          (o.original_tokens.empty() ? o.string_key : o.original_tokens[0]) + "'");
    po::store(parsed, vm);
    collect(parsed, s, "command line");
  } catch (const po::error& e) {
    throw ConfigError(std::string("command line: ") + e.what());
  }
  if (vm.count("help")) {
    std::cout << cli << "\nEvery --section.key is also an INI key `key` in section [section].\n";
    return false;
  }
  if (!vm.count("config")) throw ConfigError(std::string("missing CONFIG.ini (usage: ") + usage + ")");
  out.config_path = vm["config"].as<std::string>();
  out.no_plot = vm.count("no-plot") != 0;
  std::ifstream in(out.config_path);
  if (!in) throw ConfigError("config = '" + out.config_path + "': cannot open");
  try {
    const auto parsed = po::parse_config_file(in, settings, true);
    // Command line values are already in `s` and win (Settings::set keeps the first value).
    Settings file(kKeys);
    collect(parsed, file, out.config_path);
    for (const auto& [k, v] : file.explicit_values())
      if (!s.given(k)) s.set(k, v);
  } catch (const po::error& e) {
    throw ConfigError(out.config_path + ": " + e.what());
  }
  return true;
}

// "none" (the INI spelling of no milestones) or a comma list of whole numbers > 0.
std::vector<std::int64_t> milestones(const Settings& s, const std::string& key, bool strictly_increasing) {
  const std::string v = s.get(key);
  return optim::parse_count_list(key, v == "none" ? "" : v, strictly_increasing);
}

// [landscape]
void parse_landscape(const Settings& s, sim::LandscapeConfig& L) {
  L.kind = s.get("landscape.kind");
  if (L.kind != "nqm" && L.kind != "linreg" && L.kind != "logreg" && L.kind != "mlp")
    bad_setting("landscape.kind", L.kind, "unknown (nqm, linreg, logreg, mlp)");
  L.dim = s.get_int("landscape.dim", 1, "> 0");
  L.curvature_power = s.get_double("landscape.curvature_power");
  L.noise_power = s.get_double("landscape.noise_power");
  L.init_variance = s.get_positive("landscape.init_variance");
  L.layers = static_cast<int>(s.get_int("landscape.layers", 1, ">= 1"));
  L.train_examples = s.get_int("landscape.train_examples", 1, "> 0");
  L.test_examples = s.get_int("landscape.test_examples", 1, "> 0");
  L.input_dim = s.get_int("landscape.input_dim", 1, "> 0");
  const std::string hidden = s.get("landscape.hidden");
  if (hidden.empty()) bad_setting("landscape.hidden", hidden, "empty list of widths");
  L.hidden = optim::parse_count_list("landscape.hidden", hidden, /*strictly_increasing=*/false);
  L.label_noise = s.get_double("landscape.label_noise");
  if (L.label_noise < 0.0) bad_setting("landscape.label_noise", s.get("landscape.label_noise"), "must be >= 0");
  L.data_seed = static_cast<std::uint64_t>(s.get_int("landscape.data_seed", 0, ">= 0"));
}

// [study] and [output] (before the optimizers: their axes need the grids).
void parse_study(const Settings& s, SweepConfig& out) {
  out.mode = s.get("study.mode");
  if (out.mode != "analytic" && out.mode != "sampled") bad_setting("study.mode", out.mode, "unknown (analytic, sampled)");
  if (out.mode == "analytic" && out.landscape.kind != "nqm")
    bad_setting("study.mode", out.mode, "only landscape.kind = nqm has an analytic mode (use sampled)");
  out.batch_sizes = parse_batch_sizes("study.batch_sizes", s.get("study.batch_sizes"));
  out.lr_grid = parse_grid("study.lr_grid", s.get("study.lr_grid"));
  for (double v : out.lr_grid.values)
    if (!(v > 0.0)) bad_setting("study.lr_grid", s.get("study.lr_grid"), "value " + format_number(v) + " must be > 0");
  out.seeds = parse_seeds("study.seeds", s.get("study.seeds"));
  out.target = s.get_positive("study.target");
  out.targets = parse_targets("study.targets", s.get("study.targets"));
  if (!out.targets.empty()) {
    if (s.given("study.target"))
      out.warnings.push_back("study.target = " + s.get("study.target") + " is ignored: study.targets gives the targets");
    // Trials run until the hardest (lowest) target; each one's first crossing is recorded.
    out.target = *std::min_element(out.targets.begin(), out.targets.end());
  }
  out.max_steps = s.get_int("study.max_steps", 1, "> 0");
  out.eval_every = s.get_int("study.eval_every", 1, ">= 1");
  if (out.eval_every > out.max_steps)
    bad_setting("study.eval_every", s.get("study.eval_every"), "larger than study.max_steps = " + std::to_string(out.max_steps));
  const std::int64_t threads = s.get_int("study.threads", 0, ">= 0 (0 = hardware concurrency)");
  out.threads = threads > 0 ? static_cast<int>(threads)
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  out.record_curves = parse_bool("study.record_curves", s.get("study.record_curves"));
  out.study_name = s.get("study.name");
  if (out.study_name == "auto") out.study_name = std::filesystem::path(out.config_path).stem().string();
  if (!valid_label(out.study_name))
    bad_setting("study.name", out.study_name, "use letters, digits and _ - . : only");
  out.output_dir = s.get("output.dir");
  if (out.output_dir == "auto") out.output_dir = "results/" + out.study_name;
  if (out.output_dir.empty()) bad_setting("output.dir", out.output_dir, "must not be empty");
}

// optimizer.name: known, well-formed, each once; every [optimizer.LABEL] section names one of them.
std::vector<std::string> optimizer_labels(const Settings& s) {
  const std::string names = s.get("optimizer.name");
  std::vector<std::string> labels = split_list(names);
  for (const auto& l : labels) {
    if (!valid_label(l)) bad_setting("optimizer.name", names, "bad optimizer name '" + l + "'");
    if (!is_known_optimizer(l)) {
      std::string known = "ema";
      for (const auto& n : optim::rule_names()) known += ", " + n;
      bad_setting("optimizer.name", names, "unknown optimizer '" + l + "' (known: " + known + ")");
    }
    if (std::count(labels.begin(), labels.end(), l) > 1) bad_setting("optimizer.name", names, "'" + l + "' listed twice");
  }
  for (const auto& [k, v] : s.explicit_values()) {
    const auto dot = k.find('.'), last = k.rfind('.');
    if (k.starts_with("optimizer.") && last != dot) {
      const std::string label = k.substr(dot + 1, last - dot - 1);
      if (std::find(labels.begin(), labels.end(), label) == labels.end())
        throw ConfigError("unknown section [optimizer." + label + "]: '" + label + "' is not in optimizer.name = '" +
                          names + "'");
    }
  }
  return labels;
}

// The [optimizer] hyperparameters of one listed optimizer, [optimizer.LABEL] keys first.
optim::OptimizerConfig optimizer_settings(const Settings& s, const std::string& l) {
  auto get = [&](const std::string& leaf) {
    const std::string own = "optimizer." + l + "." + leaf;
    return s.given(own) ? std::make_pair(own, s.get(own)) : std::make_pair("optimizer." + leaf, s.get("optimizer." + leaf));
  };
  auto num = [&](const std::string& leaf) {
    const auto [key, value] = get(leaf);
    return parse_double(key, value);
  };
  auto flag = [&](const std::string& leaf) {
    const auto [key, value] = get(leaf);
    return parse_bool(key, value);
  };
  optim::OptimizerConfig c;
  c.name = l;
  c.dampening = num("dampening");
  c.beta1 = num("beta1");
  c.beta2 = num("beta2");
  c.eps = num("eps");
  c.weight_decay = num("weight_decay");
  c.trust_coefficient = num("trust_coefficient");
  c.trust_eps = num("trust_eps");
  c.trust_clip = flag("trust_clip");
  c.lamb_phi_lower = num("lamb_phi_lower");
  {
    const auto [key, value] = get("lamb_phi_upper");
    c.lamb_phi_upper = value == "inf" ? std::numeric_limits<double>::infinity() : parse_double(key, value);
  }
  c.max_grad_norm = num("max_grad_norm");
  c.precond_power = num("precond_power");
  c.precond_every = static_cast<std::int64_t>(num("precond_every"));
  c.precond_eps = num("precond_eps");
  c.precond_warmup = static_cast<std::int64_t>(num("precond_warmup"));
  c.shampoo_max_dim = static_cast<std::int64_t>(num("shampoo_max_dim"));
  c.shampoo_graft = get("shampoo_graft").second;
  c.lr_in_momentum = flag("lr_in_momentum");
  c.momentum_correction = flag("momentum_correction");
  return c;
}

// One optimizer of optimizer.name: hyperparameters, its momentum and EMA axes (the shared grids
// for optimizers with momentum / "ema", or its own section's), checked by optim. Sets `*uses_*`
// when it takes the shared study.momentum_grid / study.ema_grid.
SweepOptimizer parse_optimizer(const Settings& s, const std::string& l, bool& uses_momentum_grid, bool& uses_ema_grid) {
  SweepOptimizer o;
  o.label = l;
  o.config = optimizer_settings(s, l);
  // Momentum axis: the grid for optimizers with momentum (or with their own momentum
  // settings), 0 for the rest.
  const std::string own_m = "optimizer." + l + ".momentum", own_mg = "optimizer." + l + ".momentum_grid";
  if (s.given(own_mg)) {
    o.momenta = unit_interval_grid(own_mg, s.get(own_mg));
  } else if (s.given(own_m)) {
    o.momenta = unit_interval_grid(own_m, s.get(own_m));
  } else if (uses_momentum(l)) {
    const std::string mg = s.get("study.momentum_grid");
    o.momenta = mg == "auto" ? unit_interval_grid("optimizer.momentum", s.get("optimizer.momentum"))
                             : unit_interval_grid("study.momentum_grid", mg);
    uses_momentum_grid = true;
  } else {
    o.momenta = {0.0};
  }
  const std::string own_eg = "optimizer." + l + ".ema_grid";
  if (l == "ema") {
    o.ema_decays = s.given(own_eg) ? unit_interval_grid(own_eg, s.get(own_eg))
                                   : unit_interval_grid("study.ema_grid", s.get("study.ema_grid"));
    uses_ema_grid = true;
  } else if (s.given(own_eg)) {
    bad_setting(own_eg, s.get(own_eg), "only the optimizer 'ema' averages iterates");
  } else {
    o.ema_decays = {0.0};
  }
  // Hyperparameter checks of optim, on a registered name ("ema" is SGD / heavy ball + EMA).
  optim::OptimizerConfig check = o.config;
  check.momentum = o.momenta.back();
  if (check.name == "ema") check.name = check.momentum > 0.0 ? "momentum" : "sgd";
  try {
    optim::validate_config(check);
  } catch (const ConfigError& e) {
    throw ConfigError(s.given(own_m) || s.given(own_mg) ? std::string("[optimizer.") + l + "] " + e.what()
                                                        : std::string(e.what()));
  }
  return o;
}

// [optimizer] and [optimizer.LABEL] sections, study.momentum_grid / ema_grid.
void parse_optimizers(const Settings& s, SweepConfig& out) {
  bool any_momentum = false, any_ema = false;
  for (const auto& l : optimizer_labels(s)) out.optimizers.push_back(parse_optimizer(s, l, any_momentum, any_ema));
  // A shared grid no optimizer uses is legal (e.g. --optimizer.name=sgd on a config written for
  // sgd,momentum,ema) but worth a warning; its values must still be valid.
  const std::string names = s.get("optimizer.name");
  if (s.get("study.momentum_grid") != "auto")
    unit_interval_grid("study.momentum_grid", s.get("study.momentum_grid"));
  unit_interval_grid("study.ema_grid", s.get("study.ema_grid"));
  if (s.given("study.momentum_grid") && !any_momentum)
    out.warnings.push_back("study.momentum_grid = '" + s.get("study.momentum_grid") + "' is unused: no optimizer in " +
                           "optimizer.name = '" + names + "' has momentum (momentum, nesterov, lars)");
  if (s.given("study.ema_grid") && !any_ema)
    out.warnings.push_back("study.ema_grid = '" + s.get("study.ema_grid") + "' is unused: optimizer.name = '" + names +
                           "' has no 'ema'");
}

// [schedule]: the lr schedule and the batch-size schedule.
void parse_schedule(const Settings& s, SweepConfig& out) {
  auto& S = out.schedule;
  S.decay = optim::parse_decay(s.get("schedule.decay"));
  S.warmup = optim::parse_warmup(s.get("schedule.warmup"));
  const std::string total = s.get("schedule.total_steps");
  S.total_steps = total == "auto" ? out.max_steps : s.get_int("schedule.total_steps", 1, "> 0 (or auto)");
  S.milestones = milestones(s, "schedule.milestones", /*strictly_increasing=*/false);
  if (S.decay == optim::DecayKind::kStep && S.milestones.empty())
    bad_setting("schedule.milestones", s.get("schedule.milestones"), "step decay needs milestones");
  S.factor = s.get_positive("schedule.factor");
  S.lr_min = s.get_double("schedule.lr_min");
  S.power = s.get_positive("schedule.power");
  S.warmup_steps = s.get_int("schedule.warmup_steps", 0, ">= 0");
  const std::string wsl = s.get("schedule.warmup_start_lr");
  out.warmup_start_auto = wsl == "auto";
  S.warmup_start_lr = out.warmup_start_auto ? 0.0 : parse_double("schedule.warmup_start_lr", wsl);
  if (S.warmup_start_lr < 0.0) bad_setting("schedule.warmup_start_lr", wsl, "must be >= 0");
  auto& BS = out.batch_schedule;
  BS.milestones = milestones(s, "schedule.batch_milestones", /*strictly_increasing=*/true);
  BS.factor = s.get_positive("schedule.batch_factor");
  BS.max_batch = s.get_int("schedule.batch_max", 0, ">= 0");
  try {
    BS.lr_coupling = optim::parse_lr_coupling(s.get("schedule.batch_lr_coupling"));
  } catch (const ConfigError&) {
    bad_setting("schedule.batch_lr_coupling", s.get("schedule.batch_lr_coupling"), "unknown (none, linear, sqrt)");
  }
  (void)optim::LrSchedule(1.0, S);  // the schedule's own checks (ConfigError naming schedule.*)
}

// [scaling]
void parse_scaling(const Settings& s, SweepConfig& out) {
  try {
    out.scaling.kind = optim::parse_scaling(s.get("scaling.rule"));
  } catch (const ConfigError&) {
    bad_setting("scaling.rule", s.get("scaling.rule"), "unknown (none, linear, sqrt, malladi)");
  }
  out.scaling.batch_ref = s.get_positive("scaling.batch_ref");
  out.lr_ref = s.get_positive("scaling.lr_ref");
  out.scaling.max_lr = s.get_double("scaling.max_lr");
  if (out.scaling.max_lr < 0.0) bad_setting("scaling.max_lr", s.get("scaling.max_lr"), "must be >= 0 (0 = no cap)");
  if (!out.lr_grid.scaled && out.scaling.kind != optim::ScalingKind::kNone)
    bad_setting("study.lr_grid", s.get("study.lr_grid"),
        "absolute lrs with scaling.rule = " + s.get("scaling.rule") +
            " (use scaled:LO:HI:N to search around the scaling rule's lr)");
}

// [sync]: simulated workers and their synchronisation, and the batch sizes they split.
void parse_sync(const Settings& s, SweepConfig& out) {
  out.workers = static_cast<int>(s.get_int("sync.workers", 1, ">= 1"));
  out.node_size = static_cast<int>(s.get_int("sync.node_size", 0, ">= 0"));
  const bool avg_m = parse_bool("sync.average_momentum", s.get("sync.average_momentum"));
  optim::OuterConfig outer;
  try {
    outer.rule = optim::OuterConfig::parse_rule(s.get("sync.outer"));
  } catch (const ConfigError& e) {
    bad_setting("sync.outer", s.get("sync.outer"), e.what());
  }
  try {
    outer.rounding = optim::OuterConfig::parse_rounding(s.get("sync.outer_rounding"));
  } catch (const ConfigError& e) {
    bad_setting("sync.outer_rounding", s.get("sync.outer_rounding"), e.what());
  }
  outer.lr = s.get_double("sync.outer_lr");
  outer.momentum = s.get_double("sync.outer_momentum");
  outer.bits = static_cast<int>(s.get_int("sync.outer_bits", 4, "one of 32, 16, 8, 4"));
  if (outer.bits != 32 && outer.bits != 16 && outer.bits != 8 && outer.bits != 4)
    bad_setting("sync.outer_bits", s.get("sync.outer_bits"), "must be one of 32, 16, 8, 4");
  outer.overlap = parse_bool("sync.outer_overlap", s.get("sync.outer_overlap"));
  outer.overlap_steps = s.get_int("sync.outer_overlap_steps", 1, ">= 1");
  try {
    out.sync = optim::SyncPolicy::parse(s.get("sync.policy"), avg_m, outer);
  } catch (const ConfigError& e) {
    bad_setting("sync.policy", s.get("sync.policy"), e.what());
  }
  if (out.workers > 1 && out.mode != "sampled")
    bad_setting("sync.workers", s.get("sync.workers"), "simulated workers need study.mode = sampled");
  if (out.sync.kind != optim::SyncKind::kSync && out.workers == 1)
    bad_setting("sync.policy", s.get("sync.policy"), "needs sync.workers > 1");
  if (out.node_size > 0 && out.workers % out.node_size != 0)
    bad_setting("sync.node_size", s.get("sync.node_size"), "must divide sync.workers = " + std::to_string(out.workers));
  if (out.sync.kind == optim::SyncKind::kHierarchical && (out.node_size == 0 || out.node_size == out.workers))
    bad_setting("sync.node_size", s.get("sync.node_size"), "hierarchical sync needs 0 < node_size < workers");
  for (auto b : out.batch_sizes)
    if (b % out.workers != 0)
      bad_setting("study.batch_sizes", s.get("study.batch_sizes"),
          "batch size " + std::to_string(b) + " is not a multiple of sync.workers = " + std::to_string(out.workers));
  for (std::int64_t b : out.batch_sizes) {
    try {
      (void)optim::BatchSchedule(b, out.batch_schedule, out.workers);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string(e.what()) + " (at study.batch_sizes value " + std::to_string(b) + ")");
    }
  }
}

// [noise_scale] (batchlab noise-scale): the two-batch estimator's batches and sample count.
void parse_noise_scale(const Settings& s, SweepConfig& out) {
  const std::string nsb = s.get("noise_scale.small_batch"), nbb = s.get("noise_scale.big_batch");
  out.ns_small_batch = nsb == "auto" ? out.batch_sizes.front() : s.get_int("noise_scale.small_batch", 1, "> 0");
  out.ns_big_batch = nbb != "auto"                                 ? s.get_int("noise_scale.big_batch", 1, "> 0")
                     : out.batch_sizes.back() > out.ns_small_batch ? out.batch_sizes.back()
                                                                   : 64 * out.ns_small_batch;
  if (out.ns_big_batch <= out.ns_small_batch)
    bad_setting("noise_scale.big_batch", std::to_string(out.ns_big_batch),
        "must be larger than noise_scale.small_batch = " + std::to_string(out.ns_small_batch));
  out.ns_samples = s.get_int("noise_scale.samples", 1, ">= 1");
}

// config.ini: every key in table order with "auto" resolved, then the [optimizer.LABEL] keys.
ResolvedConfig resolved_config(const Settings& s, const SweepConfig& out) {
  ResolvedConfig r;
  for (const auto& k : kKeys) {
    const std::string key = full_name(k);
    std::string v = s.get(key);
    if (key == "study.name") v = out.study_name;
    else if (key == "output.dir") v = out.output_dir;
    else if (key == "schedule.total_steps") v = std::to_string(out.schedule.total_steps);
    else if (key == "study.threads") v = std::to_string(out.threads);
    else if (key == "study.momentum_grid" && v == "auto") v = s.get("optimizer.momentum");
    else if (key == "noise_scale.small_batch") v = std::to_string(out.ns_small_batch);
    else if (key == "noise_scale.big_batch") v = std::to_string(out.ns_big_batch);
    r.emplace_back(key, v);
  }
  for (const auto& [k, v] : s.explicit_values())
    if (k.starts_with("optimizer.") && k.find('.') != k.rfind('.')) r.emplace_back(k, v);
  return r;
}

}  // namespace

bool parse_sweep_args(int argc, char** argv, SweepConfig& out, const char* usage) {
  Settings s(kKeys);
  if (!read_settings(argc, argv, usage, s, out)) return false;
  // Section by section, in this order (a config with several mistakes reports the first).
  parse_landscape(s, out.landscape);
  parse_study(s, out);
  parse_optimizers(s, out);
  parse_schedule(s, out);
  parse_scaling(s, out);
  parse_sync(s, out);
  parse_noise_scale(s, out);
  out.defaults = table_defaults(kKeys);
  out.resolved = resolved_config(s, out);
  return true;
}

StudyGrid make_grid(const SweepConfig& cfg) {
  StudyGrid g;
  g.study = cfg.study_name;
  g.landscape = cfg.landscape.kind;
  for (const auto& o : cfg.optimizers) g.optimizers.push_back({o.label, o.momenta, o.ema_decays});
  g.batch_sizes = cfg.batch_sizes;
  g.lr_grid = cfg.lr_grid.values;
  g.lr_scaled = cfg.lr_grid.scaled;
  if (g.lr_scaled)
    for (auto b : g.batch_sizes) g.scaled_lr.push_back(cfg.scaling.lr(static_cast<double>(b), cfg.lr_ref));
  g.seeds = cfg.seeds;
  g.batch_schedule = cfg.batch_schedule;
  g.batch_multiple = cfg.workers;
  g.targets = cfg.targets;
  g.check();
  return g;
}

sim::TrialSpec make_trial_spec(const SweepConfig& cfg, const TrialPoint& p) {
  sim::TrialSpec t;
  const SweepOptimizer& o = cfg.optimizers.at(p.optimizer_index);
  t.study = cfg.study_name;
  t.optimizer_label = o.label;
  t.landscape = cfg.landscape;
  t.optimizer = o.config;
  t.optimizer.momentum = p.momentum;
  if (cfg.scaling.kind == optim::ScalingKind::kMalladi) {
    const auto h = cfg.scaling.apply(static_cast<double>(p.batch_size), cfg.lr_ref, o.config.beta1,
                                     o.config.beta2, o.config.eps);
    t.optimizer.beta1 = h.beta1;
    t.optimizer.beta2 = h.beta2;
    t.optimizer.eps = h.eps;
  }
  t.mode = cfg.mode;
  t.batch_size = p.batch_size;
  t.lr = p.lr;
  t.ema_decay = p.ema_decay;
  t.schedule = cfg.schedule;
  t.batch_schedule = cfg.batch_schedule;
  if (cfg.schedule.warmup == optim::WarmupKind::kLinearFromUnscaled && cfg.warmup_start_auto) {
    // Goyal et al.: ramp from the small-batch lr. Scaled grids: the same multiplier at B_ref;
    // absolute grids: this lr scaled back linearly to B_ref (never above the lr itself).
    t.schedule.warmup_start_lr =
        cfg.lr_grid.scaled ? p.lr_multiplier * cfg.lr_ref
                           : p.lr * std::min(1.0, cfg.scaling.batch_ref / static_cast<double>(p.batch_size));
  }
  t.sync = cfg.sync;
  t.workers = cfg.workers;
  t.node_size = cfg.node_size;
  t.seed = p.seed;
  t.target = cfg.target;
  t.targets = cfg.targets;
  t.max_steps = cfg.max_steps;
  t.eval_every = cfg.eval_every;
  t.record_curve = cfg.record_curves;
  return t;
}

void validate_trials(const SweepConfig& cfg, const StudyGrid& grid) {
  TrialPoint p;
  try {
    for (std::int64_t id = 0; id < grid.size(); ++id) {
      p = grid.point(id);
      sim::validate(make_trial_spec(cfg, p));
    }
  } catch (const std::invalid_argument& e) {  // optim::ConfigError and friends
    throw ConfigError(describe_trial(p) + ": " + e.what());
  }
}

}  // namespace batchlab::experiments
