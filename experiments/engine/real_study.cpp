#include "experiments/engine/real_study.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <boost/any.hpp>
#include <boost/program_options.hpp>

#include "experiments/engine/settings.h"
#include "optim/config.h"
#include "realtrain/train_config.h"

namespace po = boost::program_options;

namespace batchlab::experiments {
namespace {

using optim::ConfigError;

// Every [study] / [launcher] / [output] setting, in config.ini order. [train] follows the
// options of `batchlab train` (realtrain/train_config.h).
constexpr ConfigKey kKeys[] = {
    {"study", "name", "auto", "study name (auto = config file name)"},
    {"study", "batch_sizes", "pow2:4:14", "global batch sizes: list, or pow2:LO:HI (exponents)"},
    {"study", "lr_grid", "log:0.01:1:5", "list, log:LO:HI:N, lin:LO:HI:N, scaled:LO:HI:N (x train.lr scaled by train.scaling)"},
    {"study", "seeds", "0", "comma list of seeds"},
    {"study", "optimizers", "auto", "comma list of optimizer names (auto = train.optimizer)"},
    {"study", "momentum_grid", "auto", "momentum values (auto = train.momentum)"},
    {"study", "max_steps", "0", "trial budget in steps (see study.max_epochs)"},
    {"study", "max_epochs", "0", "trial budget in epochs; a trial runs max(both budgets) unless it reaches the target"},
    {"study", "train_examples", "auto", "training set size for max_epochs (auto: from train.dataset)"},
    {"study", "eval_every_examples", "0", "evaluate every ceil(this / B) steps (0 = train.eval-every)"},
    {"study", "eval_every_max", "0", "cap on that interval in steps (0 = none)"},
    {"study", "threads", "1", "trials run at once"},
    {"study", "record_curves", "true", "write curves.csv (test accuracy per evaluation)"},
    {"study", "targets", "none", "several targets t1,t2,... in the metric of train.target (or train.target-loss), which must be the hardest of them"},
    {"study", "reuse", "", "earlier study output dirs (comma list): their completed trials with identical train options and ranks are copied instead of rerun"},
    {"launcher", "command", "", "launcher prefix, e.g. mpirun -np {ranks} --bind-to none (empty = direct, 1 rank)"},
    {"launcher", "ranks", "1", "ranks per trial"},
    {"launcher", "threads", "1", "torch threads per rank"},
    {"launcher", "parallel", "auto", "trials in flight (auto = study.threads, its older name)"},
    {"launcher", "scheduler", "local", "local (children of this process) | slurm (one sbatch job per trial)"},
    {"launcher", "time_limit", "", "slurm: time limit of a trial's job (sbatch --time), empty = the partition's"},
    {"launcher", "partition", "", "slurm: partition (empty = the default)"},
    {"launcher", "account", "", "slurm: account (empty = the default)"},
    {"launcher", "sbatch_options", "", "slurm: more sbatch options, space-separated"},
    {"launcher", "srun_mpi", "pmix", "slurm: srun --mpi plugin for the ranks"},
    {"launcher", "on_cancel", "requeue", "slurm: a trial job cancelled by scancel is submitted again (requeue) or the trial fails (fail)"},
    {"launcher", "max_resubmits", "20", "slurm: submissions of one trial after jobs that ended early (time limit, preemption)"},
    {"output", "dir", "auto", "output directory (auto = results/<study.name>)"},
};

// Train options the study sets for every trial itself.
const std::set<std::string> kPerTrial = {"batch-size", "seed", "output", "resume", "threads"};

bool valid_label(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string any_text(const boost::any& v) {
  if (v.empty()) return "";
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<double>(&v)) return format_number(*p);
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::int64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::uint64_t>(&v)) return std::to_string(*p);
  throw std::logic_error("batchlab study: unhandled train option type");
}

bool is_switch(const po::option_description& o) { return o.semantic()->max_tokens() == 0; }

const std::set<std::string>& switch_names() {
  static const std::set<std::string> names = [] {
    realtrain::TrainConfig c;
    std::set<std::string> out;
    const po::options_description d = realtrain::train_options(c);  // options() refers into d
    for (const auto& o : d.options())
      if (is_switch(*o)) out.insert(o->long_name());
    return out;
  }();
  return names;
}

std::int64_t known_train_examples(const std::string& dataset) {
  if (dataset == "fashion-mnist" || dataset == "mnist") return 60000;
  if (dataset == "cifar10" || dataset == "cifar100") return 50000;
  if (dataset == "imagenet") return 1281167;
  return 0;
}

std::string substitute(std::string s, const std::string& what, const std::string& with) {
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + with.size()))
    s.replace(p, what.size(), with);
  return s;
}

std::string strip(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Is `dir` the output dir of a `batchlab study` (config.ini with a [launcher] section,
// trials.csv, trials/)? Returns "" if so, else why not.
std::string not_a_study_dir(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "does not exist";
  if (!fs::is_directory(dir, ec)) return "is not a directory";
  std::ifstream in(dir / "config.ini");
  bool launcher = false;
  for (std::string line; in && std::getline(in, line);) launcher = launcher || strip(line) == "[launcher]";
  if (!launcher || !fs::is_regular_file(dir / "trials.csv", ec) || !fs::is_directory(dir / "trials", ec))
    return "is not the output dir of a batchlab study (config.ini with [launcher], trials.csv, trials/)";
  return "";
}


// The command line, then the INI file it names, into `s` (an explicit command-line value wins).
// Returns false when --help was printed.
bool read_settings(int argc, char** argv, const std::map<std::string, bool>& train_keys, Settings& s,
                   RealStudyConfig& out) {
  const char* usage = "batchlab study CONFIG.ini [--section.key=value ...] [--no-plot] [--check]";
  po::options_description settings;
  add_key_options(settings, kKeys);
  for (const auto& [name, sw] : train_keys)
    settings.add_options()(("train." + name).c_str(), po::value<std::string>(),
                           sw ? "batchlab train switch (true | false)" : "batchlab train option");
  po::options_description cli(usage);
  cli.add_options()("help,h", "this help")("no-plot", "do not call plots/ at the end")(
      "check", "validate the config as a run does, print the resolved grid and the first trial's "
               "command line, write and launch nothing (exit 0; bad config: exit 2)")(
      "config", po::value<std::string>(), "INI file");
  cli.add(settings);
  po::positional_options_description pos;
  pos.add("config", 1);

  po::variables_map vm;
  try {
    const auto parsed = po::command_line_parser(argc, argv).options(cli).positional(pos).run();
    po::store(parsed, vm);
    for (const auto& o : parsed.options)
      if (o.string_key.find('.') != std::string::npos) {
        if (s.given(o.string_key)) throw ConfigError("command line: " + o.string_key + " given twice");
        s.set(o.string_key, o.value.empty() ? "" : o.value[0]);
      }
  } catch (const po::error& e) {
    throw ConfigError(std::string("command line: ") + e.what());
  }
  if (vm.count("help")) {
    std::cout << cli << "\nEvery --section.key is also an INI key `key` in section [section]; [train] keys are\n"
                        "the options of `batchlab train --help`.\n";
    return false;
  }
  if (!vm.count("config")) throw ConfigError(std::string("missing CONFIG.ini (usage: ") + usage + ")");
  out.config_path = vm["config"].as<std::string>();
  out.no_plot = vm.count("no-plot") != 0;
  out.check = vm.count("check") != 0;
  std::ifstream in(out.config_path);
  if (!in) throw ConfigError("config = '" + out.config_path + "': cannot open");
  try {
    const auto parsed = po::parse_config_file(in, settings, false);
    std::set<std::string> in_file;
    for (const auto& o : parsed.options) {
      if (!in_file.insert(o.string_key).second)
        throw ConfigError(out.config_path + ": " + o.string_key + " given twice");
      s.set(o.string_key, o.value.empty() ? "" : o.value[0]);  // the command line's value stays
    }
  } catch (const po::error& e) {
    throw ConfigError(out.config_path + ": " + e.what());
  }
  return true;
}

// Does the config set this [train] key to something? A resolved config.ini (output dir) writes
// every train option with its default, which must read back as "not set" where the study owns
// the setting (the lr grid, the optimizers, the momenta, the evaluation interval).
bool sets_train(const Settings& s, const std::string& key, bool differs_from_default) {
  return s.given(key) && differs_from_default;
}

// [train]: the explicit keys (none of those the study sets per trial), parsed as `batchlab train`
// parses its options; `tvm` gets every option's value, defaults included.
void parse_train_section(const Settings& s, const std::map<std::string, bool>& train_keys, RealStudyConfig& out,
                         po::variables_map& tvm) {
  for (const auto& [key, value] : s.explicit_values()) {
    if (!key.starts_with("train.")) continue;
    const std::string name = key.substr(6);
    // `key =` with nothing after it is the option's default (a resolved config.ini writes
    // empty defaults that way; boost refuses `--key=` with no value).
    if (value.empty()) continue;
    if (kPerTrial.count(name))
      bad_setting(key, value, name == "threads" ? "set launcher.threads instead"
                                        : "set by the study for every trial (use the [study] grid / output.dir)");
    if (train_keys.at(name)) parse_bool(key, value);
    out.train.emplace_back(name, value);
  }
  realtrain::TrainConfig& tc = out.train_config;
  std::vector<std::string> args;
  for (const auto& [name, value] : out.train) {
    if (!train_keys.at(name)) args.push_back("--" + name + "=" + value);
    else if (parse_bool("train." + name, value)) args.push_back("--" + name);
  }
  po::options_description d = realtrain::train_options(tc);
  try {
    po::store(po::command_line_parser(args).options(d).run(), tvm);
    po::notify(tvm);
  } catch (const po::error& e) {
    throw ConfigError(std::string("[train]: ") + e.what());
  }
  out.train_batch_schedule = {realtrain::parse_batch_milestones(tc.batch_milestones), tc.batch_factor, tc.batch_max};
  if (!(tc.target > 0.0) && !(tc.target_loss > 0.0))
    bad_setting("train.target", s.given("train.target") ? s.get("train.target") : format_number(tc.target),
        "a study measures steps to a target: set a test accuracy in (0, 1], or train.target-loss");
}

// study.targets: the trials stop at the hardest target (the child's own --target or
// --target-loss, so a trial is the one-target study's trial) and the others are read from its
// evaluations (read_trial_result).
void parse_study_targets(const Settings& s, RealStudyConfig& out) {
  const realtrain::TrainConfig& tc = out.train_config;
  out.targets = parse_targets("study.targets", s.get("study.targets"));
  if (out.targets.empty()) return;
  out.loss_targets = tc.target_loss > 0.0;
  const auto [lo, hi] = std::minmax_element(out.targets.begin(), out.targets.end());
  if (!out.loss_targets && *hi > 1.0)
    bad_setting("study.targets", s.get("study.targets"), "test accuracy targets must be in (0, 1] (loss targets: set train.target-loss)");
  const double hardest = out.loss_targets ? *lo : *hi;
  const double given = out.loss_targets ? tc.target_loss : tc.target;
  if (given != hardest)
    bad_setting(out.loss_targets ? "train.target-loss" : "train.target", format_number(given),
                "with study.targets the trials stop at the hardest target: set it to " + format_number(hardest));
}

// [study] name and grids: batch sizes, lrs, seeds, optimizers, momenta.
void parse_study_grid(const Settings& s, RealStudyConfig& out) {
  const realtrain::TrainConfig& tc = out.train_config;
  out.study_name = s.get("study.name");
  if (out.study_name == "auto") out.study_name = std::filesystem::path(out.config_path).stem().string();
  if (!valid_label(out.study_name)) bad_setting("study.name", out.study_name, "use letters, digits and _ - . only");
  out.batch_sizes = parse_batch_sizes("study.batch_sizes", s.get("study.batch_sizes"));
  out.lr_grid = parse_grid("study.lr_grid", s.get("study.lr_grid"));
  for (double v : out.lr_grid.values)
    if (!(v > 0.0)) bad_setting("study.lr_grid", s.get("study.lr_grid"), "value " + format_number(v) + " must be > 0");
  if (!out.lr_grid.scaled) {
    if (sets_train(s, "train.lr", tc.lr != realtrain::TrainConfig{}.lr))
      bad_setting("train.lr", s.get("train.lr"), "only a scaled study.lr_grid uses it (the absolute grid gives every lr)");
    if (tc.scaling != "none")
      bad_setting("train.scaling", tc.scaling, "needs a scaled study.lr_grid (scaled:LO:HI:N); an absolute grid is not rescaled");
  }
  out.seeds = parse_seeds("study.seeds", s.get("study.seeds"));
  {
    const std::string v = s.get("study.optimizers");
    out.optimizers = v == "auto" ? std::vector<std::string>{tc.optimizer} : split_list(v, ',');
    std::set<std::string> seen;
    for (const auto& o : out.optimizers) {
      if (o.empty() || o.find_first_of(" \t=") != std::string::npos) bad_setting("study.optimizers", v, "bad optimizer name '" + o + "'");
      if (!seen.insert(o).second) bad_setting("study.optimizers", v, "'" + o + "' listed twice");
    }
    if (v != "auto" && sets_train(s, "train.optimizer", tc.optimizer != realtrain::TrainConfig{}.optimizer))
      bad_setting("train.optimizer", s.get("train.optimizer"), "give the optimizers in study.optimizers only");
  }
  const std::string v = s.get("study.momentum_grid");
  if (v == "auto") {
    out.momenta = {tc.momentum};
  } else {
    if (sets_train(s, "train.momentum", tc.momentum != realtrain::TrainConfig{}.momentum))
      bad_setting("train.momentum", s.get("train.momentum"), "give the momenta in study.momentum_grid only");
    const Grid g = parse_grid("study.momentum_grid", v);
    if (g.scaled) bad_setting("study.momentum_grid", v, "scaled: grids are for study.lr_grid only");
    for (double m : g.values)
      if (!(m >= 0.0 && m < 1.0)) bad_setting("study.momentum_grid", v, "value " + format_number(m) + " is not in [0, 1)");
    out.momenta = g.values;
  }
  parse_study_targets(s, out);
}

// [study] trial budget and evaluation interval, trials at once, curves.
void parse_study_budget(const Settings& s, RealStudyConfig& out) {
  const realtrain::TrainConfig& tc = out.train_config;
  out.max_steps = s.get_int("study.max_steps", 0, ">= 0");
  out.max_epochs = parse_double("study.max_epochs", s.get("study.max_epochs"));
  if (out.max_epochs < 0.0) bad_setting("study.max_epochs", s.get("study.max_epochs"), "must be >= 0");
  const bool budget = out.max_steps > 0 || out.max_epochs > 0.0;
  // A resolved config.ini (output dir) writes every train option, `steps = 0` / `epochs = 0`
  // (unset) and the default eval-every included: only a value that sets something conflicts.
  if (budget && (tc.steps > 0 || tc.epochs > 0.0)) {
    const std::string key = tc.steps > 0 ? "train.steps" : "train.epochs";
    bad_setting(key, s.get(key), "the trial length comes from study.max_steps / study.max_epochs; give one or the other");
  }
  if (!budget && (tc.steps > 0) == (tc.epochs > 0.0))
    bad_setting("study.max_steps", s.get("study.max_steps"),
        "give a trial budget: study.max_steps / study.max_epochs, or exactly one of train.steps / train.epochs");
  const std::string v = s.get("study.train_examples");
  out.train_examples = v == "auto" ? known_train_examples(tc.dataset) : parse_int("study.train_examples", v);
  if (out.train_examples < 0 || (v != "auto" && out.train_examples == 0))
    bad_setting("study.train_examples", v, "must be > 0");
  if (out.max_epochs > 0.0 && out.train_examples == 0)
    bad_setting("study.train_examples", v, "unknown for train.dataset = " + tc.dataset + ": set it (needed by study.max_epochs)");
  out.eval_every_examples = s.get_int("study.eval_every_examples", 0, ">= 0");
  out.eval_every_max = s.get_int("study.eval_every_max", 0, ">= 0");
  if (out.eval_every_examples > 0 && sets_train(s, "train.eval-every", tc.eval_every != realtrain::TrainConfig{}.eval_every))
    bad_setting("train.eval-every", s.get("train.eval-every"), "study.eval_every_examples sets the interval; give one or the other");
  out.threads = static_cast<int>(s.get_int("study.threads", 1, ">= 1"));
  out.record_curves = parse_bool("study.record_curves", s.get("study.record_curves"));
}

// launcher.parallel (trials in flight) and launcher.scheduler with its Slurm job options.
void parse_scheduler(const Settings& s, RealStudyConfig& out) {
  const std::string par = s.get("launcher.parallel");
  if (par != "auto") {
    if (s.given("study.threads"))
      bad_setting("launcher.parallel", par, "study.threads is its older name: give one or the other");
    out.threads = static_cast<int>(s.get_int("launcher.parallel", 1, ">= 1"));
  }
  out.scheduler = s.get("launcher.scheduler");
  if (out.scheduler != "local" && out.scheduler != "slurm")
    bad_setting("launcher.scheduler", out.scheduler, "must be local or slurm");
  auto& j = out.slurm;
  j.ntasks = out.ranks;
  j.cpus_per_task = out.threads_per_rank;
  j.time_limit = s.get("launcher.time_limit");
  if (!j.time_limit.empty()) {
    try {
      (void)slurm::parse_duration(j.time_limit);
    } catch (const std::invalid_argument& e) {
      bad_setting("launcher.time_limit", j.time_limit, e.what());
    }
  }
  j.partition = s.get("launcher.partition");
  j.account = s.get("launcher.account");
  for (const auto& t : split_list(s.get("launcher.sbatch_options"), ' '))
    if (!t.empty()) j.extra.push_back(t);
  j.mpi = s.get("launcher.srun_mpi");
  if (j.mpi.empty() || j.mpi.find_first_of(" \t'\"") != std::string::npos)
    bad_setting("launcher.srun_mpi", j.mpi, "must name an srun --mpi plugin (pmix, pmi2, none)");
  const std::string oc = s.get("launcher.on_cancel");
  if (oc != "requeue" && oc != "fail") bad_setting("launcher.on_cancel", oc, "must be requeue or fail");
  j.fail_on_cancel = oc == "fail";
  j.max_resubmits = static_cast<int>(s.get_int("launcher.max_resubmits", 0, ">= 0"));
  if (out.scheduler == "slurm" && !out.launcher_command.empty())
    bad_setting("launcher.command", out.launcher_command,
                "launcher.scheduler = slurm starts the ranks with srun: leave launcher.command empty");
}

// [launcher], and the batch sizes (and batch schedule phases) it must split over the ranks.
void parse_launcher(const Settings& s, RealStudyConfig& out) {
  out.launcher_command = s.get("launcher.command");
  out.ranks = static_cast<int>(s.get_int("launcher.ranks", 1, ">= 1"));
  out.threads_per_rank = static_cast<int>(s.get_int("launcher.threads", 1, ">= 1"));
  const auto toks = split_list(out.launcher_command, ' ');
  bool empty = true;
  for (const auto& t : toks) empty = empty && t.empty();
  if (empty) out.launcher_command.clear();
  if (out.launcher_command.empty() && out.ranks > 1 && s.get("launcher.scheduler") != "slurm")
    bad_setting("launcher.ranks", s.get("launcher.ranks"), "more than one rank needs launcher.command (e.g. mpirun -np {ranks})");
  for (auto b : out.batch_sizes)
    if (b % out.ranks != 0)
      bad_setting("study.batch_sizes", s.get("study.batch_sizes"),
          "batch " + std::to_string(b) + " is not divisible by launcher.ranks = " + std::to_string(out.ranks));
  parse_scheduler(s, out);
  if (!out.train_batch_schedule.constant())
    for (auto b : out.batch_sizes)
      try {
        (void)optim::BatchSchedule(b, out.train_batch_schedule, out.ranks);
      } catch (const ConfigError& e) {
        throw ConfigError("[train] batch schedule at study batch size " + std::to_string(b) + ": " + e.what());
      }
}

// [output] dir and study.reuse (earlier study output dirs, never this one).
void parse_output(const Settings& s, RealStudyConfig& out) {
  out.output_dir = s.get("output.dir");
  if (out.output_dir == "auto") out.output_dir = "results/" + out.study_name;
  if (out.output_dir.empty()) bad_setting("output.dir", out.output_dir, "must not be empty");
  const std::string v = s.get("study.reuse");
  if (strip(v).empty()) return;
  std::set<std::string> seen;
  for (const auto& d : split_list(v, ',')) {
    if (d.empty()) bad_setting("study.reuse", v, "empty directory name in the list");
    if (!seen.insert(d).second) bad_setting("study.reuse", v, "'" + d + "' listed twice");
    const std::string why = not_a_study_dir(d);
    if (!why.empty()) bad_setting("study.reuse", v, "'" + d + "' " + why);
    std::error_code e1, e2;
    const auto here = std::filesystem::weakly_canonical(out.output_dir, e1);
    if (!e1 && here == std::filesystem::weakly_canonical(d, e2) && !e2)
      bad_setting("study.reuse", v, "'" + d + "' is this study's output.dir (rerunning a study resumes it)");
    out.reuse_dirs.push_back(d);
  }
}

// config.ini: every [study]/[launcher]/[output] key in table order ("auto" resolved), then every
// train option but the per-trial ones, at its value (defaults included).
ResolvedConfig resolved_config(const Settings& s, const RealStudyConfig& out, const po::variables_map& tvm) {
  ResolvedConfig r;
  for (const auto& k : kKeys) {
    const std::string key = full_name(k);
    if (key == "study.name") r.emplace_back(key, out.study_name);
    else if (key == "output.dir") r.emplace_back(key, out.output_dir);
    else if (key == "study.train_examples") r.emplace_back(key, std::to_string(out.train_examples));
    else r.emplace_back(key, s.get(key));
  }
  realtrain::TrainConfig tc;
  const po::options_description d = realtrain::train_options(tc);
  for (const auto& o : d.options()) {
    const std::string name = o->long_name();
    if (kPerTrial.count(name)) continue;
    r.emplace_back("train." + name, tvm.count(name) ? any_text(tvm[name].value()) : "");
  }
  return r;
}

// Defaults, for resuming a study whose config.ini predates a key: the table's, and each train
// option's value when no [train] key sets it.
ResolvedConfig default_config() {
  ResolvedConfig r = table_defaults(kKeys);
  realtrain::TrainConfig dc;
  const po::options_description d = realtrain::train_options(dc);
  po::variables_map dvm;
  po::store(po::command_line_parser(std::vector<std::string>{}).options(d).run(), dvm);
  for (const auto& o : d.options()) {
    const std::string name = o->long_name();
    if (!kPerTrial.count(name)) r.emplace_back("train." + name, dvm.count(name) ? any_text(dvm[name].value()) : "");
  }
  return r;
}

}  // namespace

bool parse_real_study_args(int argc, char** argv, RealStudyConfig& out) {
  std::map<std::string, bool> train_keys;  // train option name -> is a switch
  {
    realtrain::TrainConfig defaults;
    const po::options_description d = realtrain::train_options(defaults);
    for (const auto& o : d.options()) train_keys[o->long_name()] = is_switch(*o);
  }
  Settings s(kKeys);
  if (!read_settings(argc, argv, train_keys, s, out)) return false;
  // Section by section, in this order (a config with several mistakes reports the first).
  po::variables_map tvm;
  parse_train_section(s, train_keys, out, tvm);
  parse_study_grid(s, out);
  parse_study_budget(s, out);
  parse_launcher(s, out);
  parse_output(s, out);
  out.resolved = resolved_config(s, out, tvm);
  out.defaults = default_config();
  return true;
}

StudyGrid make_real_grid(const RealStudyConfig& cfg) {
  StudyGrid g;
  g.study = cfg.study_name;
  // "landscape" column: what the trials train on, e.g. fashion-mnist/mlp.
  std::string dataset = "fashion-mnist", model = "mlp";
  for (const auto& [k, v] : cfg.train) {
    if (k == "dataset") dataset = v;
    if (k == "model") model = v;
  }
  g.landscape = dataset + "/" + model;
  for (const auto& o : cfg.optimizers) g.optimizers.push_back({o, cfg.momenta, {0.0}});
  g.batch_sizes = cfg.batch_sizes;
  g.lr_grid = cfg.lr_grid.values;
  g.lr_scaled = cfg.lr_grid.scaled;
  g.targets = cfg.targets;
  if (g.lr_scaled) {
    // The rule's lr at each batch size, by the rule the trainer applies (train_config.h): the
    // child is given multiplier x train.lr and scales it the same way.
    realtrain::TrainConfig at_b = cfg.train_config;
    for (auto b : g.batch_sizes) {
      at_b.batch_size = b;
      g.scaled_lr.push_back(realtrain::lr_scaling_rule(at_b).lr(static_cast<double>(b), at_b.lr));
    }
  }
  g.batch_schedule = cfg.train_batch_schedule;
  g.batch_multiple = cfg.ranks;
  g.seeds = cfg.seeds;
  g.check();
  return g;
}

std::int64_t trial_steps(const RealStudyConfig& cfg, std::int64_t batch_size) {
  std::int64_t steps = cfg.max_steps;
  if (cfg.max_epochs > 0.0) {
    // The first update after which max_epochs x train_examples examples are done, through the
    // trainer's batch schedule (ceil(examples / B) with a constant batch): under a growing batch
    // an epoch budget stays that many examples, not that many updates at the first phase's B.
    const double examples = cfg.max_epochs * static_cast<double>(cfg.train_examples);
    const optim::BatchSchedule schedule(batch_size, cfg.train_batch_schedule, cfg.ranks);
    steps = std::max(steps, schedule.first_step_with_examples(static_cast<std::int64_t>(std::ceil(examples))));
  }
  return steps;
}

std::int64_t trial_eval_every(const RealStudyConfig& cfg, std::int64_t batch_size) {
  if (cfg.eval_every_examples == 0) return 0;
  std::int64_t e = (cfg.eval_every_examples + batch_size - 1) / batch_size;
  if (cfg.eval_every_max > 0) e = std::min(e, cfg.eval_every_max);
  return std::max<std::int64_t>(e, 1);
}

std::vector<std::string> trial_train_args(const RealStudyConfig& cfg, const TrialPoint& p,
                                          const std::filesystem::path& dir) {
  const std::int64_t steps = trial_steps(cfg, p.batch_size);
  const std::int64_t eval_every = trial_eval_every(cfg, p.batch_size);
  std::vector<std::string> a;
  for (const auto& [name, value] : cfg.train) {
    if (name == "optimizer" || name == "momentum" || name == "lr") continue;
    if (steps > 0 && (name == "steps" || name == "epochs")) continue;
    if (eval_every > 0 && name == "eval-every") continue;  // the study's interval, appended below
    if (switch_names().count(name)) {  // switches: only when set (the parser checked the value)
      if (parse_bool("train." + name, value)) a.push_back("--" + name);
      continue;
    }
    a.push_back("--" + name + "=" + value);
  }
  a.push_back("--optimizer=" + p.optimizer);
  a.push_back("--momentum=" + format_number(p.momentum));
  // Scaled grid: the child applies train.scaling to multiplier x train.lr, giving p.lr.
  a.push_back("--lr=" + format_number(cfg.lr_grid.scaled ? p.lr_multiplier * cfg.train_config.lr : p.lr));
  a.push_back("--batch-size=" + std::to_string(p.batch_size));
  a.push_back("--seed=" + std::to_string(p.seed));
  if (steps > 0) a.push_back("--steps=" + std::to_string(steps));
  if (eval_every > 0) a.push_back("--eval-every=" + std::to_string(eval_every));
  a.push_back("--threads=" + std::to_string(cfg.threads_per_rank));
  a.push_back("--output=" + dir.string());
  return a;
}

std::vector<std::string> child_command(const RealStudyConfig& cfg, const std::string& exe,
                                       const std::vector<std::string>& train_args) {
  std::vector<std::string> argv;
  for (const auto& t : split_list(cfg.launcher_command, ' ')) {
    if (t.empty()) continue;
    argv.push_back(substitute(substitute(t, "{ranks}", std::to_string(cfg.ranks)), "{threads}",
                              std::to_string(cfg.threads_per_rank)));
  }
  argv.push_back(exe);
  argv.push_back("train");
  argv.insert(argv.end(), train_args.begin(), train_args.end());
  return argv;
}

std::filesystem::path trial_dir(const std::filesystem::path& output_dir, std::int64_t trial_id) {
  char name[32];
  std::snprintf(name, sizeof name, "trial_%05lld", static_cast<long long>(trial_id));
  return output_dir / "trials" / name;
}

int run_child(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log.string() + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The trial must not outlive a killed study: it would keep writing into a directory that
    // the restarted study deletes and reruns.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvp(argv[0], argv.data());
    const std::string msg = std::string("exec ") + args[0] + ": " + std::strerror(errno) + "\n";
    if (::write(2, msg.data(), msg.size()) < 0) {
    }
    ::_exit(127);
  }
  ::close(fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void write_trial_failure(const std::filesystem::path& dir, const std::string& reason,
                         const std::filesystem::path& log, std::size_t lines) {
  std::ifstream in(log);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) all.push_back(line);
  std::string text = reason + "\n";
  const std::size_t first = all.size() > lines ? all.size() - lines : 0;
  text += "--- last " + std::to_string(all.size() - first) + " lines of " + log.filename().string() + " ---\n";
  for (std::size_t i = first; i < all.size(); ++i) text += all[i] + "\n";
  write_file_atomic(dir / "failure.txt", text);
}

std::string trial_failure(const std::filesystem::path& dir) {
  std::ifstream in(dir / "failure.txt");
  std::string line;
  std::getline(in, line);
  return line;
}

namespace {

// Each target's first crossing, read from the trial's evaluations in metrics.csv (the trainer's
// comparisons: accuracy >= target, loss <= target). The trial's own stop (summary.json) is exact
// and settles the hardest target; metrics.csv prints 8 significant digits, so an easier target
// within that of an evaluation could read differently from a one-target run, and a reached
// trial's easier targets are never put after its stop.
std::vector<TargetOutcome> target_crossings(const std::filesystem::path& dir, const TrialOutcome& trial,
                                            const std::vector<double>& targets) {
  const bool loss = trial.metric == "test_loss";
  const auto path = dir / "metrics.csv";
  std::ifstream m(path);
  std::string line;
  if (!m || !std::getline(m, line)) throw std::runtime_error(path.string() + ": missing (needed for study.targets)");
  const auto cols = split_list(line, ',');
  const auto cs = std::find(cols.begin(), cols.end(), "step") - cols.begin();
  const auto cm = std::find(cols.begin(), cols.end(), loss ? "eval_loss" : "eval_accuracy") - cols.begin();
  if (cs == std::ssize(cols) || cm == std::ssize(cols))
    throw std::runtime_error(path.string() + ": no step, " + (loss ? "eval_loss" : "eval_accuracy") + " columns");
  std::vector<TargetOutcome> out(targets.size(), {trial.status, -1, trial.final_metric});
  const std::int64_t stop = trial.status == TrialStatus::kReached ? trial.steps_to_target : -1;
  while (std::getline(m, line)) {
    const auto f = split_list(line, ',');
    if (f.size() != cols.size() || f[cm].empty()) continue;
    const std::int64_t step = std::stoll(f[cs]);
    const double v = std::stod(f[cm]);
    if (stop >= 0 && step > stop) break;
    for (std::size_t k = 0; k < targets.size(); ++k)
      if (out[k].steps_to_target < 0 && (loss ? v <= targets[k] : v >= targets[k])) out[k] = {TrialStatus::kReached, step, v};
  }
  const auto hardest = loss ? std::min_element(targets.begin(), targets.end()) : std::max_element(targets.begin(), targets.end());
  for (std::size_t k = 0; k < targets.size(); ++k) {
    TargetOutcome& t = out[k];
    if (targets.begin() + static_cast<std::ptrdiff_t>(k) == hardest) t = {trial.status, trial.steps_to_target, trial.final_metric};
    else if (stop >= 0 && t.steps_to_target < 0) t = {TrialStatus::kReached, stop, trial.final_metric};
  }
  return out;
}

}  // namespace

RealTrialResult read_trial_result(const std::filesystem::path& dir, bool with_curve, const std::vector<double>& targets) {
  const auto path = dir / "summary.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": missing (the trial wrote no summary)");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
  auto num = [&](const char* k) {
    const auto it = j.find(k);
    return it == j.end() || it->is_null() ? std::nan("") : it->get<double>();
  };
  RealTrialResult r;
  try {
    r.outcome.status = parse_trial_status(j.at("status").get<std::string>());
    if (r.outcome.status == TrialStatus::kReached) r.outcome.steps_to_target = j.at("steps_to_target").get<std::int64_t>();
    // A loss target (train.target-loss, e.g. a language model's validation loss) is reached from
    // above: the study's metric is then the test loss.
    const bool loss_target = j.contains("target_loss") && !j.at("target_loss").is_null();
    r.outcome.final_metric = num(loss_target ? "final_eval_loss" : "final_accuracy");
    r.outcome.metric = loss_target ? "test_loss" : "test_accuracy";
    r.b_simple = num("b_simple");
    r.img_per_s = num("img_per_s");
    r.steps = j.at("steps").get<std::int64_t>();
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
  if (with_curve) {
    std::ifstream m(dir / "metrics.csv");
    std::string line;
    if (m && std::getline(m, line)) {
      const auto cols = split_list(line, ',');
      const auto col = [&](const char* name) {
        return static_cast<std::size_t>(std::find(cols.begin(), cols.end(), name) - cols.begin());
      };
      const char* metric_col = r.outcome.metric == "test_loss" ? "eval_loss" : "eval_accuracy";
      const std::size_t cs = col("step"), cl = col("lr"), ca = col(metric_col);
      if (cs == cols.size() || cl == cols.size() || ca == cols.size())
        throw std::runtime_error((dir / "metrics.csv").string() + ": no step, lr, " + metric_col + " columns");
      while (std::getline(m, line)) {
        const auto f = split_list(line, ',');
        if (f.size() != cols.size()) continue;
        r.outcome.curve.push_back({std::stoll(f[cs]), std::stod(f[cl]), std::stod(f[ca])});
      }
    }
  }
  if (!targets.empty()) r.outcome.per_target = target_crossings(dir, r.outcome, targets);
  return r;
}

std::string trial_identity(const std::vector<std::string>& train_args, int ranks) {
  std::vector<std::string> args;
  for (const auto& a : train_args)
    if (!a.starts_with("--output=")) args.push_back(a);
  realtrain::TrainConfig tc;
  const po::options_description d = realtrain::train_options(tc);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(d).run(), vm);
  } catch (const po::error&) {
    return "";
  }
  std::string id = "ranks=" + std::to_string(ranks) + "\n";
  for (const auto& o : d.options()) {
    const std::string name = o->long_name();
    if (name == "output") continue;
    id += name + "=" + (vm.count(name) ? any_text(vm[name].value()) : "") + "\n";
  }
  return id;
}

TrialReuse::TrialReuse(const RealStudyConfig& cfg) {
  const std::string setting = "study.reuse";
  std::string value;
  for (const auto& d : cfg.reuse_dirs) value += (value.empty() ? "" : ",") + d;
  for (const auto& study_dir : cfg.reuse_dirs) {
    const auto csv = std::filesystem::path(study_dir) / "trials.csv";
    std::ifstream in(csv);
    std::string line;
    if (!in || !std::getline(in, line)) bad_setting(setting, value, csv.string() + ": unreadable or empty");
    const auto cols = split_list(line, ',');
    const auto col = [&](const char* name) {
      return static_cast<std::size_t>(std::find(cols.begin(), cols.end(), name) - cols.begin());
    };
    const std::size_t c_id = col("trial_id"), c_wall = col("wall_s");
    if (c_id == cols.size() || c_wall == cols.size())
      bad_setting(setting, value, csv.string() + ": no trial_id and wall_s columns");
    while (std::getline(in, line)) {
      const auto f = split_list(line, ',');
      if (f.size() != cols.size()) continue;
      ReuseSource src;
      src.study_dir = study_dir;
      try {
        src.trial_id = std::stoll(f[c_id]);
        src.wall_s = std::stod(f[c_wall]);
        std::ifstream sj(src.dir() / "summary.json");
        if (!sj) continue;
        nlohmann::json j;
        sj >> j;
        // A finished trial: reached, not_reached, diverged (a failed one has no result to reuse).
        if (parse_trial_status(j.at("status").get<std::string>()) == TrialStatus::kFailed) continue;
        const auto& prov = j.at("provenance");
        const auto argv = prov.at("argv").get<std::vector<std::string>>();
        const auto train = std::find(argv.begin(), argv.end(), "train");
        if (train == argv.end()) continue;
        const std::string id =
            trial_identity(std::vector<std::string>(train + 1, argv.end()), prov.at("ranks").get<int>());
        if (!id.empty()) by_identity_.try_emplace(id, src);
      } catch (const std::exception&) {
        continue;  // not a finished trial with provenance: not reusable, it reruns
      }
    }
  }
}

const ReuseSource* TrialReuse::find(const RealStudyConfig& cfg, const TrialPoint& p) const {
  if (by_identity_.empty()) return nullptr;
  const std::string id = trial_identity(trial_train_args(cfg, p, "reuse-lookup"), cfg.ranks);
  const auto it = by_identity_.find(id);
  return id.empty() || it == by_identity_.end() ? nullptr : &it->second;
}

nlohmann::json noise_scale_summary(const RealStudyConfig& cfg, const StudyGrid& grid,
                                   const BestTracker& tracker) {
  const std::filesystem::path out_dir(cfg.output_dir);
  nlohmann::json per_opt = nlohmann::json::object();
  for (std::size_t oi = 0; oi < grid.optimizers.size(); ++oi) {
    nlohmann::json rows = nlohmann::json::array();
    std::vector<double> medians;
    for (const BatchBest& b : tracker.best(oi)) {
      if (b.lr_index < 0) continue;
      std::vector<double> vals;
      for (std::int64_t id = 0; id < grid.size(); ++id) {
        const TrialPoint p = grid.point(id);
        if (p.optimizer_index != oi || p.batch_size != b.batch_size ||
            p.lr_index != static_cast<std::size_t>(b.lr_index) || p.momentum != b.momentum)
          continue;
        try {
          const double v = read_trial_result(trial_dir(out_dir, id), false).b_simple;
          // The unbiased two-batch estimates of |G|^2 and tr(Sigma) can go negative on a short,
          // noisy run; a non-positive ratio is no noise scale and is left out.
          if (std::isfinite(v) && v > 0.0) vals.push_back(v);
        } catch (const std::exception&) {
        }
      }
      nlohmann::json row = {{"batch_size", b.batch_size}, {"lr", b.lr}};
      if (vals.empty()) {
        row["b_simple"] = nullptr;
      } else {
        const double m = median(vals);
        row["b_simple"] = m;
        medians.push_back(m);
      }
      rows.push_back(row);
    }
    per_opt[grid.optimizers[oi].label] = {
        {"b_simple_median", medians.empty() ? nlohmann::json() : nlohmann::json(median(medians))},
        {"per_batch", rows}};
  }
  return {{"definition",
           "B_simple = tr(Sigma)/|G|^2 (McCandlish et al. 2018), two-batch estimator (rank vs all-reduced "
           "gradient, or with train.accumulate >= 2 micro-batch vs whole update; EMA), at the end of the best "
           "trial per batch size (non-positive estimates left out); needs launcher.ranks >= 2 or "
           "train.accumulate >= 2"},
          {"optimizers", per_opt}};
}

}  // namespace batchlab::experiments
