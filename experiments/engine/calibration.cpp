#include "experiments/engine/calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "experiments/engine/grid.h"
#include "optim/config.h"
#include "sim/nqm.h"
#include "sim/trial.h"

namespace batchlab::experiments {
namespace fs = std::filesystem;

namespace {

sim::TrialSpec nqm_trial(const sim::CalibratedNqm& nqm, const StudyGrid& grid, const TrialPoint& p,
                         std::int64_t max_steps) {
  sim::TrialSpec t;
  t.study = grid.study;
  t.optimizer_label = p.optimizer;
  t.landscape.kind = "nqm";
  t.landscape.spectrum = nqm.spectrum;
  t.landscape.dim = nqm.spectrum->h.size();
  t.optimizer.name = p.optimizer;
  t.optimizer.momentum = p.momentum;
  t.mode = "analytic";
  t.batch_size = p.batch_size;
  t.lr = p.lr;
  t.seed = p.seed;
  t.target = nqm.target;
  t.max_steps = max_steps;
  return t;
}

// config.ini of the prediction: what it ran, so the directory is self-describing.
ResolvedConfig prediction_config(const sim::CalibratedNqm& nqm, const RealStudyConfig& real, const StudyGrid& g,
                                 std::int64_t max_steps) {
  auto join = [](std::string& list, const std::string& item) {
    if (!list.empty()) list += ',';
    list += item;
  };
  std::string batches, lrs, momenta, opts;
  for (auto b : g.batch_sizes) join(batches, std::to_string(b));
  for (double l : g.lr_grid) join(lrs, format_number(l));
  for (double m : g.optimizers.front().momenta) join(momenta, format_number(m));
  for (const auto& o : g.optimizers) join(opts, o.label);
  return {{"study.name", g.study},
          {"study.predicts", real.config_path},
          {"study.mode", "analytic"},
          {"study.batch_sizes", batches},
          {"study.lr_grid", (g.lr_scaled ? "scaled multipliers " : "") + lrs},
          {"study.scaling", real.train_config.scaling + " (lr " + format_number(real.train_config.lr) + " at batch " +
                                std::to_string(real.train_config.batch_ref) + ")"},
          {"study.momentum_grid", momenta},
          {"study.target", format_number(nqm.target)},
          {"study.max_steps", std::to_string(max_steps)},
          {"optimizer.name", opts},
          {"landscape.kind", "nqm (calibrated: ../nqm_spectrum.csv)"},
          {"landscape.dim", std::to_string(nqm.spectrum->h.size())},
          {"landscape.initial_error", format_number(nqm.s0_sigma) + " h^-" + format_number(nqm.s0_gamma)}};
}

std::vector<std::string> split_csv_line(const std::string& line) { return split_list(line, ','); }

}  // namespace

StudyGrid prediction_grid(const RealStudyConfig& real) {
  StudyGrid g = make_real_grid(real);
  for (const auto& o : g.optimizers)
    if (o.label != "sgd" && o.label != "momentum")
      throw optim::ConfigError("train.optimizer = " + o.label +
                               ": the calibrated NQM is analytic and predicts sgd and momentum studies only");
  g.study += "_nqm";
  g.seeds = {g.seeds.front()};
  g.batch_multiple = 1;
  g.check();
  return g;
}

NqmPrediction predict_study(const sim::CalibratedNqm& nqm, const RealStudyConfig& real, std::int64_t max_steps,
                            int threads, const fs::path& dir) {
  const auto t0 = std::chrono::steady_clock::now();
  NqmPrediction out;
  out.grid = prediction_grid(real);
  const StudyGrid& g = out.grid;
  for (std::int64_t id = 0; id < g.size(); ++id) sim::validate(nqm_trial(nqm, g, g.point(id), max_steps));
  std::error_code ec;
  fs::remove_all(dir, ec);
  ResultsWriter writer(dir, g, {.curves = false, .flush_interval_s = 0.0});
  BestTracker tracker(g);
  writer.open(prediction_config(nqm, real, g, max_steps), tracker);
  const TrialRunner runner = [&](const TrialPoint& p) {
    const sim::TrialResult r = sim::run_validated_trial(nqm_trial(nqm, g, p, max_steps));  // validated above
    TrialOutcome o;
    o.status = r.status;
    o.steps_to_target = r.steps_to_target;
    o.final_metric = r.final_metric;
    o.metric = "expected_loss";
    return o;
  };
  const TrialSink sink = [&](const TrialPoint& p, TrialOutcome&& o) {
    writer.append(p, o);
    tracker.add(p, o);
  };
  run_trials(g, 0, runner, sink, {.threads = std::max(1, threads)});
  writer.flush();
  const nlohmann::json extra = {{"study", g.study},          {"landscape", "nqm (calibrated)"},
                                {"mode", "analytic"},        {"target", nqm.target},
                                {"metric", "expected_loss"}, {"max_steps", max_steps}};
  out.fits = write_summaries(dir, g, tracker, extra);
  for (std::size_t oi = 0; oi < g.optimizers.size(); ++oi) out.best.push_back(tracker.best(oi));
  out.trials = g.size();
  out.reached = tracker.count(TrialStatus::kReached);
  out.diverged = tracker.count(TrialStatus::kDiverged);
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

MeasuredStudy read_measured_study(const fs::path& dir, const std::string& optimizer) {
  auto bad = [&](const fs::path& f, const std::string& why) {
    throw optim::ConfigError("--compare " + dir.string() + ": " + f.filename().string() + ": " + why);
  };
  const fs::path sj = dir / "summary.json", sv = dir / "steps_vs_batch.csv";
  MeasuredStudy m;
  m.dir = dir.string();
  m.optimizer = optimizer;
  std::ifstream js(sj);
  if (!js) bad(sj, "missing (not a study output directory)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(js);
    const auto& o = j.at("optimizers").at(optimizer);
    if (o.at("b_crit").is_null() || o.at("s_min").is_null()) bad(sj, "the " + optimizer + " fit has no b_crit / s_min");
    m.b_crit = o.at("b_crit").get<double>();
    m.s_min = o.at("s_min").get<double>();
  } catch (const nlohmann::json::exception& e) {
    bad(sj, std::string("no optimizers.") + optimizer + ".b_crit / s_min (" + e.what() + ")");
  }
  std::ifstream cs(sv);
  if (!cs) bad(sv, "missing");
  std::string line;
  std::getline(cs, line);
  const auto header = split_csv_line(line);
  auto col = [&](const std::string& name) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    bad(sv, "no column " + name);
    return std::size_t{0};
  };
  const std::size_t co = col("optimizer"), cb = col("batch_size"), cst = col("steps_to_target"), cs2 = col("status");
  // A several-target study: the first target's rows (written first), whose fits are "optimizers".
  const bool targets = std::find(header.begin(), header.end(), "target") != header.end();
  const std::size_t ct = targets ? col("target") : 0;
  std::string first_target;
  while (std::getline(cs, line)) {
    if (line.empty()) continue;
    const auto f = split_csv_line(line);
    if (f.size() != header.size()) bad(sv, "a row has " + std::to_string(f.size()) + " fields");
    if (targets && first_target.empty()) first_target = f[ct];
    if (targets && f[ct] != first_target) continue;
    if (f[co] != optimizer || f[cs2] != "reached") continue;
    m.points.push_back({parse_int("batch_size", f[cb]), parse_double("steps_to_target", f[cst])});
  }
  return m;
}

nlohmann::json nqm_json(const sim::CalibratedNqm& n) {
  const auto& sp = *n.spectrum;
  return {{"dimensions", sp.h.size()},
          {"top_dimensions", n.top_dimensions},
          {"directions", std::accumulate(n.multiplicity.begin(), n.multiplicity.end(), 0.0)},
          {"initial_error", {{"law", "E[delta^2](h) = sigma h^-gamma per direction"}, {"sigma", n.s0_sigma},
                             {"gamma", n.s0_gamma}, {"gamma_clamped", n.s0_gamma_clamped}}},
          {"target", n.target},
          {"initial_loss", 0.5 * (sp.h * sp.s0).sum()},
          {"trace_h_positive", n.trace_h_positive},
          {"tail_noise", {{"law", "c(theta) = a theta^beta per direction"}, {"a", n.noise_a}, {"beta", n.noise_beta},
                          {"beta_clamped", n.noise_beta_clamped}}},
          {"dropped", {{"directions", n.dropped_directions}, {"trace", n.dropped_trace},
                       {"of", "non-positive SLQ nodes: no quadratic model"}}},
          {"initial_b_simple", n.initial_b_simple},
          {"initial_b_noise", n.initial_b_noise}};
}


nlohmann::json predicted_json(const NqmPrediction& p, std::size_t oi, const RealStudyConfig& real) {
  nlohmann::json rows = nlohmann::json::array();
  for (const BatchBest& b : p.best[oi]) {
    const bool reached = b.status == TrialStatus::kReached;
    const std::int64_t every = trial_eval_every(real, b.batch_size);
    nlohmann::json at_eval = nullptr;
    if (reached) at_eval = every > 1 ? std::ceil(b.steps / static_cast<double>(every)) * static_cast<double>(every) : b.steps;
    rows.push_back({{"batch_size", b.batch_size},
                    {"status", to_string(b.status)},
                    {"steps", reached ? nlohmann::json(b.steps) : nlohmann::json(nullptr)},
                    {"steps_at_evaluation", at_eval},
                    {"lr", std::isfinite(b.lr) ? nlohmann::json(b.lr) : nlohmann::json(nullptr)},
                    {"momentum", std::isfinite(b.momentum) ? nlohmann::json(b.momentum) : nlohmann::json(nullptr)},
                    {"lr_on_edge", b.lr_on_edge}});
  }
  const CriticalBatchFit& f = p.fits[oi].fit;
  auto fit_num = [&](double v) { return f.ok ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"optimizer", p.grid.optimizers[oi].label},
          {"steps_vs_batch", rows},
          {"b_crit", fit_num(f.b_crit)},
          {"s_min", fit_num(f.s_min)},
          {"e_min", fit_num(f.e_min)},
          {"fit_rms_log_error", fit_num(f.rms_log_error)},
          {"fit_points", f.points},
          {"fit_bounded", f.bounded},
          {"trials", p.trials},
          {"trials_reached", p.reached},
          {"trials_diverged", p.diverged},
          {"wall_s", p.wall_s}};
}

nlohmann::json measured_json(const MeasuredStudy& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& pt : m.points) rows.push_back({{"batch_size", pt.batch_size}, {"steps", pt.steps}});
  return {{"study_dir", m.dir}, {"optimizer", m.optimizer}, {"b_crit", m.b_crit}, {"s_min", m.s_min},
          {"steps_vs_batch", rows}};
}

nlohmann::json ratios_json(const NqmPrediction& p, std::size_t oi, const MeasuredStudy& m) {
  const CriticalBatchFit& f = p.fits[oi].fit;
  auto ratio = [&](double pred, double meas) {
    return f.ok && meas > 0.0 ? nlohmann::json(pred / meas) : nlohmann::json(nullptr);
  };
  return {{"b_crit", ratio(f.b_crit, m.b_crit)},
          {"s_min", ratio(f.s_min, m.s_min)},
          {"definition", "predicted / measured"}};
}

std::string nqm_spectrum_csv(const sim::CalibratedNqm& n) {
  std::ostringstream os;
  os << "dimension,source,h,c_direction,multiplicity,s0_direction\n";
  const auto& sp = *n.spectrum;
  for (Eigen::Index i = 0; i < sp.h.size(); ++i) {
    const double m = n.multiplicity[static_cast<std::size_t>(i)];
    os << i << ',' << (i < n.top_dimensions ? "top" : "tail") << ',' << format_number(sp.h[i]) << ','
       << format_number(sp.c[i] / m) << ',' << format_number(m) << ',' << format_number(sp.s0[i] / m) << '\n';
  }
  return os.str();
}

}  // namespace batchlab::experiments
