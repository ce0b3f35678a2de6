#include "experiments/engine/results_writer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace batchlab::experiments {
namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The trials.csv row of trial p at target k: a one-target study has one row per trial, a
// several-target study one per (trial, target) with the target in an extra last column.
std::string trial_row(const StudyGrid& g, const TrialPoint& p, const TrialOutcome& o, std::size_t k) {
  const TargetOutcome t = target_outcome(o, k);
  const bool reached = t.status == TrialStatus::kReached;
  std::vector<std::string> c = {
      g.study,
      g.landscape,
      p.optimizer,
      std::to_string(p.batch_size),
      format_number(p.lr),
      format_number(p.momentum),
      std::to_string(p.seed),
      to_string(t.status),
      std::to_string(reached ? t.steps_to_target : -1),
      std::to_string(reached ? std::llround(g.examples(p.batch_size, static_cast<double>(t.steps_to_target))) : -1),
      format_number(t.final_metric),
      format_number(o.wall_s),
      std::to_string(p.trial_id),
      format_number(p.ema_decay),
      format_number(p.lr_multiplier),
      std::to_string(o.comm_bytes),
  };
  if (!g.targets.empty()) c.push_back(format_number(g.targets[k]));
  return join(c) + "\n";
}

std::string trial_rows(const StudyGrid& g, const TrialPoint& p, const TrialOutcome& o) {
  std::string rows;
  for (std::size_t k = 0; k < g.target_count(); ++k) rows += trial_row(g, p, o, k);
  return rows;
}

// A several-target table's columns: the one-target ones and "target" last.
std::vector<std::string> with_target(std::vector<std::string> columns, const StudyGrid& g) {
  if (!g.targets.empty()) columns.emplace_back("target");
  return columns;
}

}  // namespace

const std::vector<std::string>& trials_columns() {
  static const std::vector<std::string> c = {
      "study", "landscape", "optimizer", "batch_size", "lr", "momentum", "seed", "status",
      "steps_to_target", "examples_to_target", "final_metric", "wall_s",
      // added later, so after the original columns (readers find columns by name)
      "trial_id", "ema_decay", "lr_multiplier", "comm_bytes"};
  return c;
}

const std::vector<std::string>& steps_vs_batch_columns() {
  static const std::vector<std::string> c = {
      "optimizer", "batch_size", "steps_to_target", "examples_to_target", "lr", "momentum",
      "status", "lr_on_edge",
      // extra columns
      "ema_decay", "final_metric", "seeds_reached", "trials", "trials_diverged"};
  return c;
}

std::vector<std::string> trials_columns(const StudyGrid& grid) { return with_target(trials_columns(), grid); }

std::vector<std::string> steps_vs_batch_columns(const StudyGrid& grid) {
  return with_target(steps_vs_batch_columns(), grid);
}

const std::vector<std::string>& curves_columns() {
  static const std::vector<std::string> c = {"trial_id", "step", "examples", "lr", "metric", "value"};
  return c;
}

std::string config_ini_text(const ResolvedConfig& config) {
  std::string out = "# Resolved by batchlab: every setting, defaults included.\n";
  std::string section;
  for (const auto& [key, value] : config) {
    const auto dot = key.find('.');
    const std::string sec = key.substr(0, dot), name = key.substr(dot + 1);
    // Per-optimizer sections ("optimizer.ema.momentum") keep their dotted section name.
    const auto last = key.rfind('.');
    const std::string full_sec = last == dot ? sec : key.substr(0, last);
    const std::string leaf = last == dot ? name : key.substr(last + 1);
    if (full_sec != section) {
      if (!section.empty()) out += '\n';
      out += '[';
      out += full_sec;
      out += "]\n";
      section = full_sec;
    }
    out += leaf + " = " + value + "\n";
  }
  return out;
}

ResolvedConfig parse_config_ini_text(const std::string& text) {
  ResolvedConfig out;
  std::istringstream in(text);
  std::string line, section;
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return std::string();
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos || section.empty()) throw ResumeError("config.ini: malformed line '" + line + "'");
    out.emplace_back(section + "." + trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
  return out;
}

ResultsWriter::ResultsWriter(fs::path dir, const StudyGrid& grid, Options options)
    : dir_(std::move(dir)), grid_(grid), options_(std::move(options)) {}

void ResultsWriter::check_resumable(const ResolvedConfig& config) const {
  if (!fs::exists(dir_)) return;
  if (!fs::is_directory(dir_)) throw ResumeError("output.dir = '" + dir_.string() + "': exists and is not a directory");
  const fs::path ini = dir_ / "config.ini";
  if (!fs::exists(ini)) {
    if (fs::exists(dir_ / "trials.csv"))
      throw ResumeError("output.dir = '" + dir_.string() + "': has trials.csv but no config.ini; refusing to resume");
    return;
  }
  const ResolvedConfig old = parse_config_ini_text(read_file(ini));
  auto ignored = [&](const std::string& k) {
    for (const auto& i : options_.ignored_keys)
      if (i == k) return true;
    return false;
  };
  std::map<std::string, std::string> a, b;
  for (const auto& [k, v] : old)
    if (!ignored(k)) a[k] = v;
  for (const auto& [k, v] : config)
    if (!ignored(k)) b[k] = v;
  auto at_default = [&](const std::string& k, const std::string& v) {
    for (const auto& [dk, dv] : options_.defaults)
      if (dk == k) return dv == v;
    return false;
  };
  for (const auto& [k, v] : b) {
    const auto it = a.find(k);
    if (it == a.end() && at_default(k, v)) continue;
    const std::string there = it == a.end() ? "(absent)" : "'" + it->second + "'";
    if (it == a.end() || it->second != v)
      throw ResumeError("output.dir = '" + dir_.string() + "' holds a different study: " + k + " = " +
                        there + " there, '" + v + "' here (choose another output.dir or remove it)");
  }
  for (const auto& [k, v] : a)
    if (!b.count(k))
      throw ResumeError("output.dir = '" + dir_.string() + "' holds a different study: " + k + " = '" + v +
                        "' there, absent here (choose another output.dir or remove it)");
}

std::int64_t ResultsWriter::open(const ResolvedConfig& config, BestTracker& tracker) {
  check_resumable(config);
  fs::create_directories(dir_);
  const fs::path ini = dir_ / "config.ini", trials = dir_ / "trials.csv", curves = dir_ / "curves.csv";
  if (!fs::exists(ini)) write_file_atomic(ini, config_ini_text(config));
  if (!fs::exists(trials)) write_file_atomic(trials, join(trials_columns(grid_)) + "\n");
  const std::int64_t done = replay_trials(trials, tracker);

  if (options_.curves) {
    if (!fs::exists(curves)) {
      write_file_atomic(curves, join(curves_columns()) + "\n");
    } else {
      // Drop rows of trials that were not committed to trials.csv (they will run again).
      std::ifstream in(curves);
      std::string line, kept;
      bool dropped = false;
      std::getline(in, line);
      if (line != join(curves_columns()))
        throw ResumeError(curves.string() + ": header is not '" + join(curves_columns()) + "'");
      kept = line + "\n";
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::int64_t id = -1;
        std::from_chars(line.data(), line.data() + line.size(), id);
        if (id >= 0 && id < done) kept += line + "\n";
        else dropped = true;
      }
      if (dropped) write_file_atomic(curves, kept);
    }
  }
  last_flush_ = now_s();
  return done;
}

std::int64_t ResultsWriter::replay_trials(const fs::path& trials, BestTracker& tracker) const {
  std::ifstream in(trials);
  std::string line;
  const auto cols = trials_columns(grid_);
  if (!std::getline(in, line) || line != join(cols))
    throw ResumeError(trials.string() + ": header is not '" + join(cols) + "'");
  const std::int64_t total = grid_.size();
  const std::size_t targets = grid_.target_count();
  std::int64_t done = 0, row = 1;
  TrialOutcome o;  // the trial being read: one row per target
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++row;
    const auto f = optim::split_list(line);
    const std::string where = trials.string() + " row " + std::to_string(row);
    if (f.size() != cols.size()) throw ResumeError(where + ": expected " + std::to_string(cols.size()) + " columns");
    if (done >= total) throw ResumeError(where + ": more rows than the study has trials (" + std::to_string(total) + ")");
    const TrialPoint p = grid_.point(done);
    const std::size_t k = o.per_target.size();
    TargetOutcome t;
    try {
      t.status = parse_trial_status(f[7]);
      t.steps_to_target = std::stoll(f[8]);
      t.final_metric = std::stod(f[10]);
      o.wall_s = std::stod(f[11]);
      o.comm_bytes = std::stoll(f[15]);
    } catch (const std::exception&) {
      throw ResumeError(where + ": unreadable status/steps/metric/comm_bytes");
    }
    // Identity of the row = identity of the grid point (and target, the last column of a
    // several-target table) at this position.
    const std::string expect = trial_row(grid_, p, TrialOutcome{}, k);
    const auto e = optim::split_list(expect.substr(0, expect.size() - 1));
    std::vector<std::size_t> identity = {0u, 1u, 2u, 3u, 4u, 5u, 6u, 12u, 13u, 14u};
    if (!grid_.targets.empty()) identity.push_back(cols.size() - 1);
    for (std::size_t c : identity)
      if (e[c] != f[c])
        throw ResumeError(where + ": " + cols[c] + " = '" + f[c] + "', but trial " + std::to_string(done) +
                          " of this study has " + cols[c] + " = '" + e[c] + "'");
    if (grid_.targets.empty()) {
      o.status = t.status;
      o.steps_to_target = t.steps_to_target;
      o.final_metric = t.final_metric;
    } else {
      o.per_target.push_back(t);
      if (o.per_target.size() < targets) continue;
      o.status = overall_status(o.per_target);
    }
    tracker.add(p, o);
    o = TrialOutcome{};
    ++done;
  }
  if (!o.per_target.empty())
    throw ResumeError(trials.string() + ": trial " + std::to_string(done) + " has rows for only " +
                      std::to_string(o.per_target.size()) + " of its " + std::to_string(targets) + " targets");
  return done;
}

void ResultsWriter::append(const TrialPoint& p, const TrialOutcome& o) {
  pending_trials_ += trial_rows(grid_, p, o);
  if (options_.curves) {
    for (const auto& c : o.curve)
      pending_curves_ += std::to_string(p.trial_id) + "," + std::to_string(c.step) + "," +
                         std::to_string(std::llround(grid_.examples(p.batch_size, static_cast<double>(c.step)))) +
                         "," + format_number(c.lr) + "," +
                         o.metric + "," + format_number(c.value) + "\n";
  }
  // Copy-and-rename costs O(file size): commit at most every flush_interval_s, and never spend
  // more than ~5% of the time copying (interval >= 20 x the last commit's duration).
  // flush_interval_s = 0 commits every trial (tests).
  if (options_.flush_interval_s <= 0.0 ||
      now_s() - last_flush_ >= std::max(options_.flush_interval_s, 20.0 * last_flush_cost_))
    flush();
}

void ResultsWriter::flush() {
  if (pending_trials_.empty() && pending_curves_.empty()) return;
  const double t0 = now_s();
  // Curves first: a kill between the two renames leaves curve rows without a trials row, which
  // open() drops; the other order could leave trials without their curves.
  if (!pending_curves_.empty()) optim::append_file_atomic(dir_ / "curves.csv", pending_curves_);
  if (!pending_trials_.empty()) optim::append_file_atomic(dir_ / "trials.csv", pending_trials_);
  pending_trials_.clear();
  pending_curves_.clear();
  last_flush_ = now_s();
  last_flush_cost_ = last_flush_ - t0;
}

namespace {

// The steps_vs_batch.csv row of one (optimizer, batch size) best point (at target k).
std::string best_row(const StudyGrid& grid, const std::string& optimizer, const BatchBest& b, std::size_t k) {
  const bool reached = b.status == TrialStatus::kReached;
  std::vector<std::string> c = {
      optimizer,
      std::to_string(b.batch_size),
      reached ? format_number(b.steps) : "-1",
      reached ? format_number(grid.examples(b.batch_size, b.steps)) : "-1",
      reached ? format_number(b.lr) : "nan",
      reached ? format_number(b.momentum) : "nan",
      to_string(b.status),
      reached && b.lr_on_edge ? "true" : "false",
      reached ? format_number(b.ema_decay) : "nan",
      reached ? format_number(b.final_metric) : "nan",
      std::to_string(b.seeds_reached),
      std::to_string(b.trials),
      std::to_string(b.trials_diverged)};
  if (!grid.targets.empty()) c.push_back(format_number(grid.targets[k]));
  return join(c) + "\n";
}

// The fit of one optimizer at one target over its best points.
OptimizerSummary summarize(const StudyGrid& grid, const BestTracker& tracker, std::size_t oi, std::size_t k) {
  OptimizerSummary s;
  s.optimizer = grid.optimizers[oi].label;
  s.target = grid.targets.empty() ? std::nan("") : grid.targets[k];
  std::vector<double> bs, steps;
  std::vector<std::vector<double>> seed_steps;  // of the fitted batch sizes' best points
  for (const BatchBest& b : tracker.best(oi, k)) {
    const bool reached = b.status == TrialStatus::kReached;
    // A target met before the first update (steps 0) says nothing about scaling: not fitted.
    if (reached && b.steps > 0.0) {
      bs.push_back(static_cast<double>(b.batch_size));
      steps.push_back(b.steps);
      seed_steps.push_back(b.seed_steps);
      // A seed met before the first update stays out of the replicates too.
      for (double& v : seed_steps.back())
        if (v == 0.0) v = std::numeric_limits<double>::infinity();
    }
    if (reached && b.lr_on_edge) s.edge_batches.push_back(b.batch_size);
  }
  s.fit = fit_critical_batch(bs, steps);
  if (s.fit.ok) s.ci = bootstrap_critical_batch(bs, seed_steps);
  return s;
}

nlohmann::json fit_json(const OptimizerSummary& s) {
  auto num_or_null = [&](double v) { return s.fit.ok ? nlohmann::json(v) : nlohmann::json(nullptr); };
  auto ci_or_null = [&](double v) { return s.fit.ok && s.ci.ok ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {
      {"b_crit", num_or_null(s.fit.b_crit)},
      {"s_min", num_or_null(s.fit.s_min)},
      {"e_min", num_or_null(s.fit.e_min)},
      {"fit_error", num_or_null(s.fit.rms_log_error)},
      {"fit_points", s.fit.points},
      {"fit_bounded", s.fit.ok && s.fit.bounded},
      {"knee_batch", num_or_null(s.fit.knee_batch)},
      {"knee_batch_measured", s.fit.knee_batch_measured},
      {"lr_on_edge_batch_sizes", s.edge_batches},
      {"b_crit_lo", ci_or_null(s.ci.b_crit_lo)},
      {"b_crit_hi", ci_or_null(s.ci.b_crit_hi)},
      {"s_min_lo", ci_or_null(s.ci.s_min_lo)},
      {"s_min_hi", ci_or_null(s.ci.s_min_hi)},
      {"knee_batch_lo", ci_or_null(s.ci.knee_lo)},
      {"knee_batch_hi", ci_or_null(s.ci.knee_hi)},
      {"ci", {{"level", s.ci.level}, {"over", s.ci.ok ? nlohmann::json(s.ci.over) : nlohmann::json(nullptr)},
              {"replicates", s.ci.replicates}, {"fitted", s.ci.fitted}}},
  };
}

// Several targets: one fit per (optimizer, target) and, per optimizer, the power law
// B_crit(L) = B* / L^(1/alpha_B) through its bounded fits (fit.h).
void add_target_fits(nlohmann::json& summary, const StudyGrid& grid, const std::vector<OptimizerSummary>& all) {
  nlohmann::json fits = nlohmann::json::array(), laws = nlohmann::json::object();
  for (const auto& s : all) {
    nlohmann::json f = fit_json(s);
    f["optimizer"] = s.optimizer;
    f["target"] = s.target;
    fits.push_back(f);
  }
  for (const auto& o : grid.optimizers) {
    std::vector<double> targets, b_crits;
    for (const auto& s : all)
      if (s.optimizer == o.label && s.fit.ok && s.fit.bounded) {
        targets.push_back(s.target);
        b_crits.push_back(s.fit.b_crit);
      }
    const PowerLawFit law = fit_b_crit_vs_target(targets, b_crits);
    laws[o.label] = {{"b_star", law.ok ? nlohmann::json(law.b_star) : nlohmann::json(nullptr)},
                     {"alpha_b", law.ok ? nlohmann::json(law.alpha_b) : nlohmann::json(nullptr)},
                     {"fit_error", law.ok ? nlohmann::json(law.rms_log_error) : nlohmann::json(nullptr)},
                     {"points", law.points}};
  }
  summary["targets"] = grid.targets;
  summary["fits"] = fits;
  summary["b_crit_vs_target"] = laws;
}

}  // namespace

std::vector<OptimizerSummary> write_summaries(const fs::path& dir, const StudyGrid& grid,
                                              const BestTracker& tracker, const nlohmann::json& extra) {
  std::vector<OptimizerSummary> out;
  std::string csv = join(steps_vs_batch_columns(grid)) + "\n";
  nlohmann::json per_opt = nlohmann::json::object();
  for (std::size_t k = 0; k < grid.target_count(); ++k)
    for (std::size_t oi = 0; oi < grid.optimizers.size(); ++oi) {
      for (const BatchBest& b : tracker.best(oi, k)) csv += best_row(grid, grid.optimizers[oi].label, b, k);
      out.push_back(summarize(grid, tracker, oi, k));
      // "optimizers" holds the first target's fits, so readers of one-target studies keep working.
      if (k == 0) per_opt[out.back().optimizer] = fit_json(out.back());
    }
  nlohmann::json summary = extra;
  summary["optimizers"] = per_opt;
  if (!grid.targets.empty()) add_target_fits(summary, grid, out);
  summary["trials"] = {{"total", grid.size()},
                       {"reached", tracker.count(TrialStatus::kReached)},
                       {"not_reached", tracker.count(TrialStatus::kNotReached)},
                       {"diverged", tracker.count(TrialStatus::kDiverged)},
                       {"failed", tracker.count(TrialStatus::kFailed)}};
  summary["definitions"] = {
      {"steps_to_target", "first evaluated step whose metric is below the target"},
      {"seed_reduction", "median over seeds; a seed that does not reach counts as +inf"},
      {"best_per_batch", "fewest steps over lr (and momentum, ema) grid; ties -> smaller lr"},
      {"fit", "S(B) = s_min (1 + b_crit / B), least squares on ln S over reached batch sizes; "
              "fit_error = rms of ln S - ln S_fit; e_min = b_crit s_min"},
      {"knee_batch", "0.2 b_crit: where the fitted S(B) exceeds perfect scaling s_min b_crit / B by 20%"},
      {"knee_batch_measured", "smallest measured B with B S(B) > 1.2 B0 S(B0), B0 the smallest reached batch; 0 if none"},
      {"ci", "b_crit_lo/hi, s_min_lo/hi, knee_batch_lo/hi: 95% percentile bootstrap (1000 replicates, fixed seed) over "
             "the best point's seeds at each batch size, or over the (B, S) points when there is one seed "
             "(null with fewer than 3); the best lr per batch size is held fixed"},
  };
  if (!grid.targets.empty()) {
    summary["definitions"]["targets"] = "several targets: trials.csv has one row per (trial, target), steps_vs_batch.csv "
                                        "one per (optimizer, target, batch size); 'optimizers' holds the first target's fits, "
                                        "'fits' every (optimizer, target)";
    summary["definitions"]["b_crit_vs_target"] = "B_crit(L) = b_star / L^(1/alpha_b), least squares on ln B_crit vs ln L "
                                                 "over the targets with a bounded fit";
  }
  write_file_atomic(dir / "steps_vs_batch.csv", csv);
  write_file_atomic(dir / "summary.json", summary.dump(2) + "\n");
  return out;
}

}  // namespace batchlab::experiments
