#include "experiments/engine/plan.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "experiments/engine/grid.h"
#include "experiments/engine/results_writer.h"
#include "optim/config.h"
#include "optim/registry.h"
#include "optim/sync_policy.h"

namespace batchlab::experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& p, const std::string& what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw PlanError(p.string() + ": cannot be read (" + what + ")");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CSV of batchlab's own kind (no quoting): the header's names -> column index, and the rows.
struct Table {
  std::map<std::string, std::size_t> column;
  std::vector<std::vector<std::string>> rows;

  const std::string& at(const std::vector<std::string>& row, const std::string& name) const {
    return row.at(column.at(name));
  }
};

Table read_csv(const fs::path& path, const std::vector<std::string>& required) {
  std::istringstream in(read_text(path, "a CSV table"));
  Table t;
  std::string line;
  if (!std::getline(in, line)) throw PlanError(path.string() + ": empty (no header)");
  const auto names = split_list(line, ',');
  for (std::size_t i = 0; i < names.size(); ++i) t.column[names[i]] = i;
  for (const auto& r : required)
    if (!t.column.count(r)) throw PlanError(path.string() + ": no column '" + r + "' (header: " + line + ")");
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto f = split_list(line, ',');
    if (f.size() != names.size())
      throw PlanError(path.string() + ": line " + std::to_string(n) + " has " + std::to_string(f.size()) +
                      " fields, the header " + std::to_string(names.size()));
    t.rows.push_back(std::move(f));
  }
  return t;
}

double number_in(const fs::path& path, const std::string& column, const std::string& text) {
  try {
    return parse_double(column, text);
  } catch (const optim::ConfigError&) {
    throw PlanError(path.string() + ": " + column + " = '" + text + "' is not a number");
  }
}

// Reached points per optimizer, ascending batch size.
std::map<std::string, StudyCurve> points_by_optimizer(const fs::path& csv, const Table& t, bool has_status) {
  std::map<std::string, StudyCurve> out;
  for (const auto& row : t.rows) {
    if (has_status && t.at(row, "status") != "reached") continue;
    const double b = number_in(csv, "batch_size", t.at(row, "batch_size"));
    const double s = number_in(csv, "steps_to_target", t.at(row, "steps_to_target"));
    if (!(s > 0.0) || !(b > 0.0)) continue;
    const std::string opt = t.column.count("optimizer") ? t.at(row, "optimizer") : "table";
    StudyCurve& c = out[opt];
    c.optimizer = opt;
    c.batch_sizes.push_back(b);
    c.steps.push_back(s);
  }
  for (auto& [name, c] : out) {
    std::vector<std::size_t> idx(c.batch_sizes.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return c.batch_sizes[a] < c.batch_sizes[b]; });
    StudyCurve sorted{c.optimizer, {}, {}, {}};
    for (std::size_t i : idx) {
      if (!sorted.batch_sizes.empty() && sorted.batch_sizes.back() == c.batch_sizes[i])
        throw PlanError(csv.string() + ": batch size " + format_number(c.batch_sizes[i]) + " appears twice for '" +
                        name + "' (one steps-to-target per batch size)");
      sorted.batch_sizes.push_back(c.batch_sizes[i]);
      sorted.steps.push_back(c.steps[i]);
    }
    c = std::move(sorted);
  }
  return out;
}

// The study's settings that matter here, from its resolved config.ini.
void read_study_config(const fs::path& dir, StudyInput& in) {
  ResolvedConfig cfg;
  try {
    cfg = parse_config_ini_text(read_text(dir / "config.ini", "the study's resolved settings"));
  } catch (const ResumeError& e) {
    throw PlanError((dir / "config.ini").string() + ": " + e.what());
  }
  std::map<std::string, std::string> kv(cfg.begin(), cfg.end());
  auto get = [&](const std::string& k, const std::string& def) { return kv.count(k) ? kv[k] : def; };
  const bool real = kv.count("train.model") != 0;
  in.model = real ? kv["train.model"] : "";
  in.dataset = real ? get("train.dataset", "") : "";
  in.optimizer = real ? get("train.optimizer", "") : "";
  in.precondition = real ? get("train.precondition", "none") : "";
  in.sync = real ? get("train.sync", "sync") : get("sync.policy", "sync");
  in.average_momentum = (real ? get("train.average-momentum", "false") : get("sync.average_momentum", "false")) == "true";
  const std::string workers = real ? get("launcher.ranks", "1") : get("sync.workers", "1");
  in.study_workers = static_cast<int>(std::max(1.0, number_in(dir / "config.ini", "workers", workers)));
  if (in.landscape.empty()) in.landscape = real ? in.dataset + "/" + in.model : get("landscape.kind", "");
  try {
    optim::SyncPolicy::parse(in.sync, in.average_momentum);
  } catch (const optim::ConfigError& e) {
    throw PlanError((dir / "config.ini").string() + ": sync policy '" + in.sync + "': " + e.what());
  }
}

bool divides(std::int64_t k, std::int64_t b) { return k > 0 && b % k == 0; }

json row_json(const PlanRow& r) {
  std::string ex;
  for (const auto& e : r.extrapolated) ex += (ex.empty() ? "" : "+") + e;
  return {{"workers", r.workers},
          {"batch_size", r.batch_size},
          {"steps_to_target", r.steps_to_target},
          {"steps_source", r.steps_source},
          {"step_time_s", r.run.step_s()},
          {"time_to_target_s", r.time_to_target_s},
          {"device_hours", r.device_hours},
          {"cost", std::isfinite(r.cost) ? json(r.cost) : json(nullptr)},
          {"extrapolated", ex.empty() ? "none" : ex}};
}

void mark_pareto_and_recommend(Plan& plan, const PlanOptions& o) {
  std::map<std::string, std::vector<std::size_t>> by_opt;
  for (std::size_t i = 0; i < plan.rows.size(); ++i) by_opt[plan.rows[i].optimizer].push_back(i);
  for (const auto& [opt, idx] : by_opt) {
    for (std::size_t i : idx) {
      const PlanRow& a = plan.rows[i];
      bool dominated = false;
      for (std::size_t j : idx) {
        const PlanRow& b = plan.rows[j];
        if (b.time_to_target_s <= a.time_to_target_s && b.device_hours <= a.device_hours &&
            (b.time_to_target_s < a.time_to_target_s || b.device_hours < a.device_hours))
          dominated = true;
      }
      plan.rows[i].pareto = !dominated;
    }
    // Candidates: S(B) measured or interpolated, unless there are none.
    std::vector<std::size_t> cand;
    for (std::size_t i : idx)
      if (plan.rows[i].steps_source != "extrapolated") cand.push_back(i);
    if (cand.empty()) cand = idx;
    Recommendation rec{opt, cand.front(), cand.front()};
    auto faster = [&](std::size_t a, std::size_t b) {
      const PlanRow &x = plan.rows[a], &y = plan.rows[b];
      return std::tie(x.time_to_target_s, x.device_hours) < std::tie(y.time_to_target_s, y.device_hours);
    };
    for (std::size_t i : cand)
      if (faster(i, rec.fastest)) rec.fastest = i;
    const double limit = o.max_slowdown * plan.rows[rec.fastest].time_to_target_s;
    rec.cheapest = rec.fastest;
    for (std::size_t i : cand) {
      const PlanRow &x = plan.rows[i], &y = plan.rows[rec.cheapest];
      if (x.time_to_target_s <= limit &&
          std::tie(x.device_hours, x.time_to_target_s) < std::tie(y.device_hours, y.time_to_target_s))
        rec.cheapest = i;
    }
    plan.recommendations.push_back(rec);
  }
}

std::vector<std::int64_t> planned_batch_sizes(const StudyInput& study, const PlanOptions& o) {
  if (!o.batch_sizes.empty()) {
    for (std::int64_t b : o.batch_sizes)
      for (std::int64_t k : o.workers)
        if (!divides(k, b))
          throw PlanError("--workers " + std::to_string(k) + " does not divide --batch-sizes " +
                          std::to_string(b) + " (each worker takes B / K examples per update)");
    return o.batch_sizes;
  }
  std::set<std::int64_t> measured;
  for (const auto& c : study.curves)
    for (double b : c.batch_sizes) measured.insert(std::llround(b));
  std::vector<std::int64_t> out;
  for (std::int64_t b : measured)
    if (std::all_of(o.workers.begin(), o.workers.end(), [&](std::int64_t k) { return divides(k, b); }))
      out.push_back(b);
  if (out.empty())
    throw PlanError("no measured batch size of " + study.source +
                    " is divisible by every --workers value; pass --batch-sizes (multiples of every K)");
  return out;
}

}  // namespace

StudyInput read_study_dir(const fs::path& dir) {
  StudyInput in;
  in.source = dir.string();
  if (!fs::exists(dir / "summary.json"))
    throw PlanError(dir.string() + ": no summary.json (not a study output directory, or the study has not finished)");
  json summary;
  try {
    summary = json::parse(read_text(dir / "summary.json", "the study's fits"));
  } catch (const json::parse_error& e) {
    throw PlanError((dir / "summary.json").string() + ": not JSON (" + e.what() + ")");
  }
  if (summary.contains("landscape") && summary["landscape"].is_string()) in.landscape = summary["landscape"];
  Table t = read_csv(dir / "steps_vs_batch.csv", {"optimizer", "batch_size", "steps_to_target", "status"});
  // A several-target study: the first target's rows (written first), whose fits are "optimizers".
  if (t.column.count("target") && !t.rows.empty()) {
    const std::string first = t.at(t.rows.front(), "target");
    std::erase_if(t.rows, [&](const auto& row) { return t.at(row, "target") != first; });
  }
  std::map<std::string, StudyCurve> points = points_by_optimizer(dir / "steps_vs_batch.csv", t, true);
  if (!summary.contains("optimizers") || !summary["optimizers"].is_object())
    throw PlanError((dir / "summary.json").string() + ": no 'optimizers' fits");
  for (const auto& [opt, f] : summary["optimizers"].items()) {
    if (!f.is_object() || !f.contains("b_crit") || !f["b_crit"].is_number() || !f["s_min"].is_number()) continue;
    StudyCurve c = points.count(opt) ? points[opt] : StudyCurve{opt, {}, {}, {}};
    c.optimizer = opt;
    c.fit.ok = true;
    c.fit.b_crit = f["b_crit"].get<double>();
    c.fit.s_min = f["s_min"].get<double>();
    c.fit.e_min = c.fit.b_crit * c.fit.s_min;
    c.fit.rms_log_error = f.value("fit_error", 0.0);
    c.fit.points = f.value("fit_points", static_cast<int>(c.batch_sizes.size()));
    c.fit.bounded = f.value("fit_bounded", true);
    in.curves.push_back(std::move(c));
  }
  if (in.curves.empty())
    throw PlanError(dir.string() + ": no fit of S(B) in summary.json (fewer than 2 batch sizes reached the target)");
  read_study_config(dir, in);
  return in;
}

StudyInput read_steps_table(const fs::path& csv) {
  StudyInput in;
  in.source = csv.string();
  in.landscape = csv.filename().string();
  const Table t = read_csv(csv, {"batch_size", "steps_to_target"});
  for (auto& [opt, c] : points_by_optimizer(csv, t, false)) {
    c.fit = fit_critical_batch(c.batch_sizes, c.steps);
    if (c.fit.ok) in.curves.push_back(std::move(c));
  }
  if (in.curves.empty())
    throw PlanError(csv.string() + ": no fit of S(B): fewer than 2 batch sizes with steps_to_target > 0");
  return in;
}

StudyInput read_study_input(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_study_dir(path);
  if (fs::is_regular_file(path, ec) && path.extension() == ".csv") return read_steps_table(path);
  throw PlanError("'" + path.string() + "' is neither a study output directory nor a .csv table");
}

StepsEstimate steps_to_target(const StudyCurve& c, double b) {
  for (std::size_t i = 0; i < c.batch_sizes.size(); ++i)
    if (c.batch_sizes[i] == b) return {c.steps[i], "measured"};
  const double fit = std::ceil(c.fit.s_min * (1.0 + c.fit.b_crit / b) - 1e-9);
  const bool inside = !c.batch_sizes.empty() && b > c.batch_sizes.front() && b < c.batch_sizes.back();
  return {fit, inside ? "fit" : "extrapolated"};
}

void check_profile_matches(const StudyInput& study, const StepTimeProfile& p) {
  if (study.model.empty()) return;
  if (p.model != study.model || (!study.dataset.empty() && p.dataset != study.dataset))
    throw PlanError("the profile is of model '" + p.model + "' on " + p.dataset + " (" +
                    std::to_string(p.parameters) + " parameters), the study " + study.source +
                    " trained '" + study.model + "' on " + study.dataset +
                    ": measure that model with batchlab bench-step --model " + study.model);
  // The update is part of the step time (Shampoo's inverse roots, K-FAC's factors): a profile
  // that says which rule it timed must have timed the study's. A profile without the
  // preconditioner key timed none (bench-step could not time one before it wrote the key).
  if (p.optimizer.empty() || study.optimizer.empty()) return;
  const std::string pre = p.precondition.empty() ? "none" : p.precondition;
  if (optim::canonical_rule_name(p.optimizer) != optim::canonical_rule_name(study.optimizer) ||
      pre != study.precondition)
    throw PlanError("the profile timed optimizer '" + p.optimizer + "' with precondition " + pre + ", the study " +
                    study.source + " trained '" + study.optimizer + "' with precondition " + study.precondition +
                    ": measure that update with batchlab bench-step --optimizer " + study.optimizer +
                    " --precondition " + study.precondition);
}

Plan make_plan(const StudyInput& study, const StepTimeModel& model, const PlanOptions& o) {
  if (o.workers.empty()) throw PlanError("--workers is empty");
  for (std::int64_t k : o.workers)
    if (k < 1) throw PlanError("--workers " + std::to_string(k) + ": must be >= 1");
  if (!std::isnan(o.device_cost_per_hour) && !(o.device_cost_per_hour > 0.0 && std::isfinite(o.device_cost_per_hour)))
    throw PlanError("--device-cost " + format_number(o.device_cost_per_hour) + ": must be > 0 (price of one device-hour)");
  if (!(o.max_slowdown >= 1.0))
    throw PlanError("--max-slowdown " + format_number(o.max_slowdown) + ": must be >= 1");
  const std::vector<std::int64_t> batches = planned_batch_sizes(study, o);
  const optim::SyncPolicy policy = optim::SyncPolicy::parse(study.sync, study.average_momentum);

  Plan plan;
  for (const auto& c : study.curves) {
    if (!c.fit.bounded)
      plan.notes.push_back(c.optimizer + ": the fit of S(B) is unbounded (B_crit at the end of its search range): "
                                         "fitted steps are a bound, not an estimate");
    for (std::int64_t k : o.workers)
      for (std::int64_t b : batches) {
        PlanRow r;
        r.optimizer = c.optimizer;
        r.workers = static_cast<int>(k);
        r.batch_size = b;
        r.local_batch = static_cast<double>(b) / static_cast<double>(k);
        const StepsEstimate s = steps_to_target(c, static_cast<double>(b));
        r.steps_to_target = s.steps;
        r.steps_source = s.source;
        r.run = model.run_time(r.local_batch, r.workers, policy, std::llround(s.steps));
        if (s.source == "extrapolated") r.extrapolated.push_back("batch_size");
        r.extrapolated.insert(r.extrapolated.end(), r.run.extrapolated.begin(), r.run.extrapolated.end());
        r.time_to_target_s = r.run.total_s;
        r.device_hours = static_cast<double>(k) * r.time_to_target_s / 3600.0;
        r.cost = r.device_hours * o.device_cost_per_hour;
        r.comm_fraction = r.run.total_s > 0.0 ? r.run.comm_s / r.run.total_s : 0.0;
        plan.rows.push_back(std::move(r));
      }
  }
  if (policy.kind != optim::SyncKind::kSync)
    plan.notes.push_back("sync policy " + policy.to_string() + ": S(B) was measured with " +
                         std::to_string(study.study_workers) +
                         " workers; local SGD's steps depend on the worker count, and every K uses that S(B)");
  mark_pareto_and_recommend(plan, o);
  return plan;
}

const std::vector<std::string>& plan_columns() {
  static const std::vector<std::string> c = {
      "optimizer", "workers", "batch_size", "local_batch", "steps_to_target", "steps_source",
      "step_time_s", "compute_step_s", "comm_step_s", "data_step_s", "comm_fraction",
      "time_to_target_s", "device_hours", "cost", "pareto", "extrapolated"};
  return c;
}

void write_plan(const fs::path& dir, const Plan& plan, const StudyInput& study, const StepTimeModel& model,
                const PlanOptions& o, const json& extra) {
  fs::create_directories(dir);
  std::string csv;
  for (const auto& c : plan_columns()) csv += (csv.empty() ? "" : ",") + c;
  csv += "\n";
  for (const auto& r : plan.rows) {
    const double n = r.run.steps > 0 ? static_cast<double>(r.run.steps) : 1.0;
    const std::string ex = row_json(r)["extrapolated"];
    const std::vector<std::string> f = {
        r.optimizer, std::to_string(r.workers), std::to_string(r.batch_size), format_number(r.local_batch),
        format_number(r.steps_to_target), r.steps_source, format_number(r.run.step_s()),
        format_number(r.run.compute_s / n), format_number(r.run.comm_s / n), format_number(r.run.data_s / n),
        format_number(r.comm_fraction), format_number(r.time_to_target_s), format_number(r.device_hours),
        format_number(r.cost), r.pareto ? "true" : "false", ex};
    std::string line;
    for (const auto& x : f) line += (line.empty() ? "" : ",") + x;
    csv += line + "\n";
  }
  json fits = json::object(), recs = json::object();
  for (const auto& c : study.curves)
    fits[c.optimizer] = {{"b_crit", c.fit.b_crit}, {"s_min", c.fit.s_min}, {"fit_error", c.fit.rms_log_error},
                         {"fit_bounded", c.fit.bounded}, {"measured_batch_sizes", c.batch_sizes},
                         {"measured_steps", c.steps}};
  for (const auto& rec : plan.recommendations)
    recs[rec.optimizer] = {{"fastest", row_json(plan.rows[rec.fastest])},
                           {"cheapest_within_slowdown", row_json(plan.rows[rec.cheapest])}};
  const StepTimeProfile& p = model.profile();
  json j = extra;
  j["study"] = {{"source", study.source}, {"landscape", study.landscape}, {"model", study.model},
                {"dataset", study.dataset}, {"sync", study.sync}, {"average_momentum", study.average_momentum},
                {"workers", study.study_workers}};
  j["profile"] = {{"source", p.source}, {"model", p.model}, {"dataset", p.dataset}, {"parameters", p.parameters},
                  {"backend", p.backend}, {"device", p.device}, {"devices_per_node", p.devices_per_node},
                  {"overlap", p.sync.overlap}};
  j["workers"] = o.workers;
  std::vector<std::int64_t> bs;
  for (const auto& r : plan.rows)
    if (std::find(bs.begin(), bs.end(), r.batch_size) == bs.end()) bs.push_back(r.batch_size);
  j["batch_sizes"] = bs;
  j["device_cost_per_hour"] = std::isnan(o.device_cost_per_hour) ? json(nullptr) : json(o.device_cost_per_hour);
  j["max_slowdown"] = o.max_slowdown;
  j["fits"] = fits;
  j["recommendations"] = recs;
  j["notes"] = plan.notes;
  j["definitions"] = {
      {"time_to_target_s", "steps_to_target x step time at local batch B / K, communication as the sync policy says"},
      {"steps_source", "measured: the study's best point at B; fit: S_min (1 + B_crit / B) between measured B; "
                       "extrapolated: the fit beyond them"},
      {"extrapolated", "what lies outside the measurements: batch_size (S(B)), local_batch, data_batch, "
                       "compute_ranks, allreduce_ranks, message_size (the profile)"},
      {"device_hours", "workers x time_to_target_s / 3600"},
      {"pareto", "no other row of the optimizer is at least as fast and as cheap, and better in one"}};
  write_file_atomic(dir / "plan.csv", csv);
  write_file_atomic(dir / "plan.json", j.dump(2) + "\n");
}

}  // namespace batchlab::experiments
