#include "experiments/engine/results_writer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
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

std::string trial_row(const StudyGrid& g, const TrialPoint& p, const TrialOutcome& o) {
  const bool reached = o.status == TrialStatus::kReached;
  std::vector<std::string> c = {
      g.study,
      g.landscape,
      p.optimizer,
      std::to_string(p.batch_size),
      format_number(p.lr),
      format_number(p.momentum),
      std::to_string(p.seed),
      to_string(o.status),
      std::to_string(reached ? o.steps_to_target : -1),
      std::to_string(reached ? std::llround(g.examples(p.batch_size, static_cast<double>(o.steps_to_target))) : -1),
      format_number(o.final_metric),
      format_number(o.wall_s),
      std::to_string(p.trial_id),
      format_number(p.ema_decay),
      format_number(p.lr_multiplier),
      std::to_string(o.comm_bytes),
  };
  return join(c) + "\n";
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
  if (!fs::exists(trials)) write_file_atomic(trials, join(trials_columns()) + "\n");

  std::int64_t done = 0;
  {
    std::ifstream in(trials);
    std::string line;
    if (!std::getline(in, line) || line != join(trials_columns()))
      throw ResumeError(trials.string() + ": header is not '" + join(trials_columns()) + "'");
    const std::int64_t total = grid_.size();
    const auto& cols = trials_columns();
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto f = optim::split_list(line);
      const std::string where = trials.string() + " row " + std::to_string(done + 2);
      if (f.size() != cols.size()) throw ResumeError(where + ": expected " + std::to_string(cols.size()) + " columns");
      if (done >= total) throw ResumeError(where + ": more rows than the study has trials (" + std::to_string(total) + ")");
      const TrialPoint p = grid_.point(done);
      TrialOutcome o;
      try {
        o.status = parse_trial_status(f[7]);
        o.steps_to_target = std::stoll(f[8]);
        o.final_metric = std::stod(f[10]);
        o.wall_s = std::stod(f[11]);
        o.comm_bytes = std::stoll(f[15]);
      } catch (const std::exception&) {
        throw ResumeError(where + ": unreadable status/steps/metric");
      }
      // Identity of the row = identity of the grid point at this position.
      const TrialOutcome blank;
      const std::string expect = trial_row(grid_, p, blank);
      const auto e = optim::split_list(expect.substr(0, expect.size() - 1));
      for (std::size_t c : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 12u, 13u, 14u})
        if (e[c] != f[c])
          throw ResumeError(where + ": " + cols[c] + " = '" + f[c] + "', but trial " + std::to_string(done) +
                            " of this study has " + cols[c] + " = '" + e[c] + "'");
      tracker.add(p, o);
      ++done;
    }
  }

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

void ResultsWriter::append(const TrialPoint& p, const TrialOutcome& o) {
  pending_trials_ += trial_row(grid_, p, o);
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

std::vector<OptimizerSummary> write_summaries(const fs::path& dir, const StudyGrid& grid,
                                              const BestTracker& tracker, const nlohmann::json& extra) {
  std::vector<OptimizerSummary> out;
  std::string csv = join(steps_vs_batch_columns()) + "\n";
  nlohmann::json per_opt = nlohmann::json::object();
  for (std::size_t oi = 0; oi < grid.optimizers.size(); ++oi) {
    OptimizerSummary s;
    s.optimizer = grid.optimizers[oi].label;
    std::vector<double> bs, steps;
    nlohmann::json rows = nlohmann::json::array();
    for (const BatchBest& b : tracker.best(oi)) {
      const bool reached = b.status == TrialStatus::kReached;
      // A target met before the first update (steps 0) says nothing about scaling: not fitted.
      if (reached && b.steps > 0.0) {
        bs.push_back(static_cast<double>(b.batch_size));
        steps.push_back(b.steps);
      }
      if (reached && b.lr_on_edge) s.edge_batches.push_back(b.batch_size);
      std::vector<std::string> c = {
          s.optimizer,
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
      csv += join(c) + "\n";
    }
    s.fit = fit_critical_batch(bs, steps);
    auto num_or_null = [&](double v) { return s.fit.ok ? nlohmann::json(v) : nlohmann::json(nullptr); };
    per_opt[s.optimizer] = {
        {"b_crit", num_or_null(s.fit.b_crit)},
        {"s_min", num_or_null(s.fit.s_min)},
        {"e_min", num_or_null(s.fit.e_min)},
        {"fit_error", num_or_null(s.fit.rms_log_error)},
        {"fit_points", s.fit.points},
        {"fit_bounded", s.fit.ok && s.fit.bounded},
        {"knee_batch", num_or_null(s.fit.knee_batch)},
        {"knee_batch_measured", s.fit.knee_batch_measured},
        {"lr_on_edge_batch_sizes", s.edge_batches},
    };
    out.push_back(std::move(s));
  }
  nlohmann::json summary = extra;
  summary["optimizers"] = per_opt;
  summary["trials"] = {{"total", grid.size()},
                       {"reached", tracker.count(TrialStatus::kReached)},
                       {"not_reached", tracker.count(TrialStatus::kNotReached)},
                       {"diverged", tracker.count(TrialStatus::kDiverged)}};
  summary["definitions"] = {
      {"steps_to_target", "first evaluated step whose metric is below the target"},
      {"seed_reduction", "median over seeds; a seed that does not reach counts as +inf"},
      {"best_per_batch", "fewest steps over lr (and momentum, ema) grid; ties -> smaller lr"},
      {"fit", "S(B) = s_min (1 + b_crit / B), least squares on ln S over reached batch sizes; "
              "fit_error = rms of ln S - ln S_fit; e_min = b_crit s_min"},
      {"knee_batch", "0.2 b_crit: where the fitted S(B) exceeds perfect scaling s_min b_crit / B by 20%"},
      {"knee_batch_measured", "smallest measured B with B S(B) > 1.2 B0 S(B0), B0 the smallest reached batch; 0 if none"},
  };
  write_file_atomic(dir / "steps_vs_batch.csv", csv);
  write_file_atomic(dir / "summary.json", summary.dump(2) + "\n");
  return out;
}

}  // namespace batchlab::experiments
