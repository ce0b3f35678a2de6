// batchlab branch CONFIG.ini --branch-at-step T[,T2,...] --branch-factors 2,4,8 --branch-examples N
//                 --branch-epsilon E [--branch-gap progress|relative|absolute]
//                 [--branch-lr-coupling auto|linear|sqrt] [--section.key=value ...] [--no-plot]
// batchlab branch CONFIG.ini --warmup-every E --warmup-examples TOTAL [--warmup-max-batch M]
//                 --branch-examples N --branch-epsilon E [...]
//
// The branched critical-batch test (experiments/engine/branching.h; Merrill et al. 2025) on a
// simulated run: the config's one trial (one optimizer, batch size, lr and seed) is the run; a
// branch point is its state after T updates (the simulator recomputes it: a simulated run is a
// pure function of its spec). With --warmup-*, the CBS-driven batch warm-up instead, with the
// fixed base batch and the fixed final batch over the same examples beside it.
// The same engine runs for real training under `batchlab train --branch-from` (train_branch.cpp).
//
// Output (output.dir): one branch point: branches.csv, branch.json, branches.png; several:
// step<T>/ for each and branch_over_training.csv (step, examples, loss_at_branch, b_branch,
// below_first, b_simple, analytic_b_crit); warm-up: warmup.csv, warmup.json, warmup.png.
// On the analytic NQM with sgd (or precond without momentum) branch.json also holds the answer
// the test should find: the S(B) bend at the branch point (branch_sim.h's nqm_bend_at), and the
// exact B_simple there (sim/noise_scale_exact.h).
// Exit status: 0 done, 1 failure while working, 2 bad input (one line, nothing written).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/cli/commands.h"
#include "experiments/engine/branch_sim.h"
#include "experiments/engine/branching.h"
#include "experiments/engine/plots.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/sweep_config.h"
#include "optim/config.h"
#include "optim/io.h"
#include "sim/noise_scale_exact.h"
#include "sim/nqm.h"

namespace batchlab::cli {

using namespace batchlab::experiments;

namespace {

const char* kWho = "batchlab branch";

// This command's own options (the rest are the sweep's settings).
struct BranchArgs {
  std::map<std::string, std::string> values;  // name (without --) -> value
  bool no_plot = false;
};

const std::vector<std::string> kOwnOptions = {"branch-at-step", "branch-factors", "branch-examples",
                                              "branch-epsilon", "branch-gap",     "branch-lr-coupling",
                                              "warmup-every",   "warmup-examples", "warmup-max-batch"};

// Takes --NAME=VALUE and --NAME VALUE of kOwnOptions (and --no-plot) out of argv.
std::vector<char*> take_own(int argc, char** argv, BranchArgs& out) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (i > 0 && a == "--no-plot") {
      out.no_plot = true;
      continue;
    }
    bool own = false;
    for (const std::string& name : kOwnOptions) {
      const std::string flag = "--" + name;
      if (a == flag) {
        if (i + 1 >= argc) throw optim::ConfigError(flag + ": needs a value");
        out.values[name] = argv[++i];
        own = true;
      } else if (a.rfind(flag + "=", 0) == 0) {
        out.values[name] = a.substr(flag.size() + 1);
        own = true;
      }
      if (own) break;
    }
    if (!own) rest.push_back(argv[i]);
  }
  // The sweep's own --no-plot is taken too (kept for its parser).
  return rest;
}

std::int64_t count_option(const BranchArgs& a, const std::string& name, std::int64_t fallback) {
  const auto it = a.values.find(name);
  if (it == a.values.end()) return fallback;
  const auto v = optim::to_int(it->second);
  if (!v) throw optim::ConfigError("--" + name + " = '" + it->second + "': not a whole number");
  return *v;
}

double number_option(const BranchArgs& a, const std::string& name, double fallback) {
  const auto it = a.values.find(name);
  if (it == a.values.end()) return fallback;
  const auto v = optim::to_double(it->second);
  if (!v) throw optim::ConfigError("--" + name + " = '" + it->second + "': not a number");
  return *v;
}

std::string text_option(const BranchArgs& a, const std::string& name, const std::string& fallback) {
  const auto it = a.values.find(name);
  return it == a.values.end() ? fallback : it->second;
}

// The config's one trial: exactly one optimizer, batch size, lr and seed.
sim::TrialSpec the_run(const SweepConfig& cfg) {
  const StudyGrid grid = make_grid(cfg);
  auto one = [](std::size_t n, const char* key) {
    if (n != 1)
      throw optim::ConfigError(std::string(key) + ": a branched run needs exactly one value, the config has " +
                               std::to_string(n));
  };
  one(cfg.optimizers.size(), "optimizer.name");
  one(grid.batch_sizes.size(), "study.batch_sizes");
  one(grid.lr_grid.size(), "study.lr_grid");
  one(grid.seeds.size(), "study.seeds");
  one(static_cast<std::size_t>(grid.size()), "the study grid (momentum_grid / ema_grid)");
  validate_trials(cfg, grid);
  return make_trial_spec(cfg, grid.point(0));
}

BranchSettings branch_settings(const BranchArgs& a, const sim::TrialSpec& run, std::string& coupling_why) {
  BranchSettings s;
  s.factors = parse_branch_factors(text_option(a, "branch-factors", "2"));
  s.examples = count_option(a, "branch-examples", 0);
  s.epsilon = number_option(a, "branch-epsilon", 0.0);
  s.gap = parse_branch_gap(text_option(a, "branch-gap", "progress"));
  const std::string c = text_option(a, "branch-lr-coupling", "auto");
  if (c != "auto" && c != "linear" && c != "sqrt")
    throw optim::ConfigError("--branch-lr-coupling = " + c + ": unknown (auto, linear, sqrt)");
  // auto: the run's schedule.batch_lr_coupling, else its scaling rule, else its optimizer.
  const optim::LrCoupling configured =
      c == "auto" ? run.batch_schedule.lr_coupling : optim::parse_lr_coupling(c);
  s.coupling = branch_lr_coupling(configured, optim::ScalingKind::kNone, run.optimizer.name, &coupling_why);
  validate(s);
  return s;
}

bool nqm_exact(const sim::TrialSpec& s) {
  return s.mode == "analytic" && (s.optimizer.name == "sgd" || (s.optimizer.name == "precond" && s.optimizer.momentum == 0.0));
}

// The analytic answer at the branch point (NQM, sgd / precond): S(B) bend to the reference's
// loss and the exact B_simple there.
nlohmann::json analytic_at(const sim::TrialSpec& run, std::int64_t step, double reference_loss) {
  std::vector<std::int64_t> batches;
  for (int e = 0; e <= 20; ++e) batches.push_back(std::int64_t{1} << e);
  std::vector<double> lrs;  // Zhang et al.'s grid: 96 log-spaced lrs over 1e-4 .. 4
  for (int i = 0; i < 96; ++i) lrs.push_back(1e-4 * std::pow(4e4, i / 95.0));
  const NqmBend bend = nqm_bend_at(run, step, reference_loss, batches, lrs);
  const sim::NqmSpectrum seen = sim::nqm_spectrum_at(run, step);
  const sim::NoiseScale ns = sim::expected_noise_scale(run.landscape, seen.s0.matrix());
  nlohmann::json j = {{"b_simple", ns.b_simple}, {"b_noise", ns.b_noise}};
  if (bend.fit.ok)
    j["analytic_bend"] = {{"b_crit", bend.fit.b_crit},  {"s_min", bend.fit.s_min},
                          {"bounded", bend.fit.bounded}, {"target", reference_loss},
                          {"batch_sizes", bend.batch_sizes}, {"steps", bend.steps}, {"best_lr", bend.best_lr}};
  return j;
}

std::string fmt(double v) { return std::isfinite(v) ? optim::format_number(v) : ""; }

void print_report(const BranchReport& r) {
  std::printf("branch point: step %lld (%lld examples), batch %lld, lr %s, loss %s; reference after %lld steps: %s\n",
              static_cast<long long>(r.point.step), static_cast<long long>(r.point.examples),
              static_cast<long long>(r.batch), fmt(r.lr).c_str(), fmt(r.loss_at_branch).c_str(),
              static_cast<long long>(r.reference_steps), fmt(r.loss_reference).c_str());
  for (const BranchRow& row : r.rows)
    std::printf("  k %4lld  batch %8lld  lr %-12s loss %-14s gap %-12s %s\n", static_cast<long long>(row.factor),
                static_cast<long long>(row.batch), fmt(row.lr).c_str(), fmt(row.loss_branch).c_str(),
                fmt(row.gap).c_str(), row.accepted ? "accepted" : "rejected");
  std::printf("  branched critical batch: %s%lld\n", r.below_first ? "<= " : "", static_cast<long long>(r.b_branch));
}

int run_branches(const SweepConfig& cfg, const sim::TrialSpec& run, const BranchSettings& s,
                 const std::vector<std::int64_t>& steps, const nlohmann::json& extra, bool no_plot) {
  const std::filesystem::path out = cfg.output_dir;
  std::ostringstream table;
  table << "step,examples,batch,loss_at_branch,b_branch,below_first,b_simple,analytic_b_crit\n";
  for (std::int64_t step : steps) {
    SimBranchRunner runner(run);
    runner.advance(run.batch_schedule, step);
    BranchPoint p;
    p.step = step;
    p.base_batch = run.batch_size;
    p.base_lr = run.lr;
    p.batch_schedule = run.batch_schedule;
    p.multiple_of = run.workers;
    p.examples = optim::BatchSchedule(run.batch_size, run.batch_schedule, run.workers).examples_before(step);
    const BranchReport r = run_branch_test(p, s, runner);
    print_report(r);
    nlohmann::json j = extra;
    if (nqm_exact(run)) j.update(analytic_at(run, step, r.loss_reference));
    const std::filesystem::path dir = steps.size() == 1 ? out : out / std::string("step").append(std::to_string(step));
    write_branch_report(dir, r, j);
    const double bs = j.contains("b_simple") ? j["b_simple"].get<double>() : NAN;
    const double bc = j.contains("analytic_bend") ? j["analytic_bend"]["b_crit"].get<double>() : NAN;
    if (std::isfinite(bc)) std::printf("  analytic S(B) bend there: B_crit %s (B_simple %s)\n", fmt(bc).c_str(), fmt(bs).c_str());
    table << step << ',' << r.point.examples << ',' << r.batch << ',' << fmt(r.loss_at_branch) << ',' << r.b_branch
          << ',' << (r.below_first ? "true" : "false") << ',' << fmt(bs) << ',' << fmt(bc) << '\n';
    if (!no_plot) (void)run_plot_script("branches.py", {dir.string()}, kWho);
  }
  if (steps.size() > 1) {
    optim::write_file_atomic(out / "branch_over_training.csv", table.str());
    if (!no_plot) (void)run_plot_script("branches.py", {out.string()}, kWho);
  }
  std::printf("results: %s\n", out.c_str());
  return 0;
}

// The warm-up, and beside it the fixed base batch and the fixed final batch over the same examples.
int run_warmup(const SweepConfig& cfg, const sim::TrialSpec& run, const WarmupSettings& w,
               const nlohmann::json& extra, bool no_plot) {
  SimBranchRunner runner(run);
  BranchPoint start;
  start.base_batch = run.batch_size;
  start.base_lr = run.lr;
  start.batch_schedule = run.batch_schedule;
  start.multiple_of = run.workers;
  const WarmupResult r = run_cbs_warmup(start, w, runner);
  const std::int64_t final_batch = r.final_batch;
  nlohmann::json j = extra;
  // A fixed batch k B from the start, its lr coupled like the warm-up's (k x or sqrt(k) x).
  auto fixed = [&](std::int64_t k) {
    sim::TrialSpec s = run;
    s.batch_size = run.batch_size * k;
    s.batch_schedule = {};
    const double kk = static_cast<double>(k);
    s.lr = run.lr * (r.schedule.lr_coupling == optim::LrCoupling::kSqrt ? std::sqrt(kk) : kk);
    const std::int64_t steps = (w.total_examples + s.batch_size - 1) / s.batch_size;
    SimBranchRunner fixed_run(s);
    return nlohmann::json{{"batch", s.batch_size}, {"lr", s.lr}, {"steps", steps}, {"examples", steps * s.batch_size},
                          {"final_loss", fixed_run.loss_after({}, steps, "fixed")}};
  };
  j["fixed_small"] = fixed(1);
  j["fixed_large"] = fixed(final_batch / run.batch_size);
  write_warmup_report(cfg.output_dir, r, w, j);
  std::printf("warm-up: %zu tests, %zu doublings, batch %lld -> %lld, %lld steps, loss %s\n", r.decisions.size(),
              r.schedule.milestones.size(), static_cast<long long>(run.batch_size), static_cast<long long>(final_batch),
              static_cast<long long>(r.steps), fmt(r.final_loss).c_str());
  std::printf("fixed batch %lld: %lld steps, loss %s; fixed batch %lld: %lld steps, loss %s\n",
              static_cast<long long>(j["fixed_small"]["batch"].get<std::int64_t>()),
              static_cast<long long>(j["fixed_small"]["steps"].get<std::int64_t>()),
              fmt(j["fixed_small"]["final_loss"].get<double>()).c_str(),
              static_cast<long long>(j["fixed_large"]["batch"].get<std::int64_t>()),
              static_cast<long long>(j["fixed_large"]["steps"].get<std::int64_t>()),
              fmt(j["fixed_large"]["final_loss"].get<double>()).c_str());
  if (!no_plot) (void)run_plot_script("branches.py", {cfg.output_dir}, kWho);
  std::printf("results: %s\n", cfg.output_dir.c_str());
  return 0;
}

}  // namespace

int cmd_branch(int argc, char** argv) {
  BranchArgs own;
  SweepConfig cfg;
  sim::TrialSpec run;
  BranchSettings settings;
  WarmupSettings warmup;
  std::vector<std::int64_t> steps;
  std::string why;
  bool warm = false;
  // ---- everything that can be wrong with the input, before any work ----
  try {
    std::vector<char*> rest = take_own(argc, argv, own);
    if (!parse_sweep_args(static_cast<int>(rest.size()), rest.data(), cfg,
                          "batchlab branch CONFIG.ini --branch-at-step T[,T...] --branch-factors 2,4,8 "
                          "--branch-examples N --branch-epsilon E [--branch-gap progress|relative|absolute] "
                          "[--branch-lr-coupling auto|linear|sqrt] | --warmup-every E --warmup-examples TOTAL "
                          "[--warmup-max-batch M] [--section.key=value ...] [--no-plot]"))
      return 0;
    run = the_run(cfg);
    warm = own.values.count("warmup-every") || own.values.count("warmup-examples");
    if (warm && own.values.count("branch-at-step"))
      throw optim::ConfigError("--branch-at-step: a warm-up (--warmup-every) chooses its own branch points");
    if (!warm) {
      steps = optim::parse_count_list("--branch-at-step", text_option(own, "branch-at-step", ""), true);
      if (steps.empty()) throw optim::ConfigError("--branch-at-step: give the step(s) to branch from, e.g. 1000");
    } else if (own.values.count("branch-factors")) {
      throw optim::ConfigError("--branch-factors: a warm-up tests factor 2 only");
    }
    settings = branch_settings(own, run, why);
    warmup.every_examples = count_option(own, "warmup-every", 0);
    warmup.total_examples = count_option(own, "warmup-examples", 0);
    warmup.max_batch = count_option(own, "warmup-max-batch", 0);
    warmup.test = settings;
    if (warm) validate(warmup);
    if (!warm) {
      const std::int64_t biggest = settings.factors.back() * run.batch_size;
      if (settings.examples % biggest != 0)
        throw optim::ConfigError("--branch-examples = " + std::to_string(settings.examples) +
                                 ": must be a multiple of the largest branch batch " + std::to_string(biggest));
      if (steps.back() + settings.examples / run.batch_size > run.max_steps)
        throw optim::ConfigError("--branch-at-step = " + std::to_string(steps.back()) +
                                 ": the reference would run past study.max_steps = " + std::to_string(run.max_steps));
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  std::printf("%s: lr coupling %s (%s)\n", kWho, optim::to_string(settings.coupling).c_str(), why.c_str());
  try {
    const nlohmann::json extra = {{"lr_coupling_from", why},
                                  {"optimizer", run.optimizer.name},
                                  {"landscape", run.landscape.kind},
                                  {"mode", run.mode},
                                  {"seed", run.seed},
                                  {"provenance", provenance(argc + 1, argv - 1)}};
    std::filesystem::create_directories(cfg.output_dir);
    write_file_atomic(std::filesystem::path(cfg.output_dir) / "config.ini", config_ini_text(cfg.resolved));
    return warm ? run_warmup(cfg, run, warmup, extra, own.no_plot) : run_branches(cfg, run, settings, steps, extra, own.no_plot);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
}

}  // namespace batchlab::cli
