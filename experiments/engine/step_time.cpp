#include "experiments/engine/step_time.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "optim/config.h"

namespace batchlab::experiments {
namespace {

using nlohmann::json;

void note(std::vector<std::string>& notes, const std::string& what) {
  if (std::find(notes.begin(), notes.end(), what) == notes.end()) notes.push_back(what);
}

// The names a fit's JSON uses for its x and slope: compute and data fits are per example of
// the local batch, all-reduce fits per byte.
struct FitNames {
  const char* x;     // "local_batch" | "bytes"
  const char* beta;  // "beta_s_per_example" | "beta_s_per_byte"
};
constexpr FitNames kPerExample{"local_batch", "beta_s_per_example"};
constexpr FitNames kPerByte{"bytes", "beta_s_per_byte"};

json fit_to_json(const LinearFit& f, FitNames n) {
  json pts = json::array();
  for (const auto& p : f.points) pts.push_back({{n.x, p.x}, {"s", p.s}});
  return {{"alpha_s", f.alpha}, {n.beta, f.beta}, {"fit_rms_rel_error", f.rms_rel_error},
          {"range", {f.x_min, f.x_max}}, {"points", pts}};
}

// Reading profile.json: every failure names the file and the key path.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw ProfileError(where_ + ": " + key + " " + why);
  }
  const json& field(const json& obj, const std::string& path, const char* key) const {
    if (!obj.is_object()) fail(path, "is not an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(path.empty() ? key : path + "." + key, "is missing");
    return *it;
  }
  double number(const json& obj, const std::string& path, const char* key, double lo,
                const char* rule) const {
    const json& v = field(obj, path, key);
    const std::string name = path.empty() ? key : path + "." + key;
    if (!v.is_number()) fail(name, "= " + v.dump() + ": not a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < lo) fail(name, "= " + v.dump() + ": must be " + rule);
    return x;
  }
  std::int64_t integer(const json& obj, const std::string& path, const char* key, std::int64_t lo) const {
    const json& v = field(obj, path, key);
    const std::string name = path.empty() ? key : path + "." + key;
    if (!v.is_number_integer() || v.get<std::int64_t>() < lo)
      fail(name, "= " + v.dump() + ": must be a whole number >= " + std::to_string(lo));
    return v.get<std::int64_t>();
  }
  std::string text(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_string()) fail(path.empty() ? key : path + "." + key, "= " + v.dump() + ": not a string");
    return v.get<std::string>();
  }
  const json& array(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_array()) fail(path.empty() ? key : path + "." + key, "is not a list");
    return v;
  }

  LinearFit fit(const json& obj, const std::string& path, FitNames n) const {
    LinearFit f;
    f.alpha = number(obj, path, "alpha_s", 0.0, ">= 0");
    f.beta = number(obj, path, n.beta, 0.0, ">= 0");
    if (obj.contains("points")) {
      const json& pts = array(obj, path, "points");
      for (std::size_t i = 0; i < pts.size(); ++i) {
        const std::string at = path + ".points[" + std::to_string(i) + "]";
        f.points.push_back({number(pts[i], at, n.x, 0.0, ">= 0"), number(pts[i], at, "s", 0.0, ">= 0")});
      }
    }
    if (obj.contains("fit_rms_rel_error") && !obj["fit_rms_rel_error"].is_null())
      f.rms_rel_error = number(obj, path, "fit_rms_rel_error", 0.0, ">= 0");
    if (obj.contains("range")) {
      const json& r = array(obj, path, "range");
      if (r.size() != 2 || !r[0].is_number() || !r[1].is_number() || r[0].get<double>() <= 0.0 ||
          r[1].get<double>() < r[0].get<double>())
        fail(path + ".range", "= " + r.dump() + ": must be [low, high] with 0 < low <= high");
      f.x_min = r[0].get<double>();
      f.x_max = r[1].get<double>();
    } else if (!f.points.empty()) {
      const auto [lo, hi] = std::minmax_element(f.points.begin(), f.points.end(),
                                                [](const TimedPoint& a, const TimedPoint& b) { return a.x < b.x; });
      f.x_min = lo->x;
      f.x_max = hi->x;
    } else {
      fail(path, "has neither range nor points: say over which " + std::string(n.x) + " it holds");
    }
    return f;
  }

 private:
  std::string where_;
};

std::vector<ComputeEntry> read_compute(const Reader& r, const json& j) {
  const json& list = r.array(j, "", "compute");
  if (list.empty()) r.fail("compute", "is empty: at least one entry (ranks, alpha_s, beta_s_per_example) is needed");
  std::vector<ComputeEntry> out;
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = "compute[" + std::to_string(i) + "]";
    ComputeEntry e;
    e.ranks = static_cast<int>(r.integer(list[i], at, "ranks", 1));
    if (!seen.insert(e.ranks).second) r.fail(at + ".ranks", "= " + std::to_string(e.ranks) + " appears twice");
    e.step = r.fit(list[i], at, kPerExample);
    // An all-reduce may cost nothing (folded into a published step time); an update may not.
    if (!(e.step.at(e.step.x_min) > 0.0)) r.fail(at, "gives an update time of 0 at the start of its range");
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const ComputeEntry& a, const ComputeEntry& b) { return a.ranks < b.ranks; });
  return out;
}

std::vector<AllreduceEntry> read_allreduce(const Reader& r, const json& j) {
  std::vector<AllreduceEntry> out;
  if (!j.contains("allreduce")) return out;
  const json& list = r.array(j, "", "allreduce");
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = "allreduce[" + std::to_string(i) + "]";
    AllreduceEntry e;
    e.ranks = static_cast<int>(r.integer(list[i], at, "ranks", 2));
    if (!seen.insert(e.ranks).second) r.fail(at + ".ranks", "= " + std::to_string(e.ranks) + " appears twice");
    e.time = r.fit(list[i], at, kPerByte);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const AllreduceEntry& a, const AllreduceEntry& b) { return a.ranks < b.ranks; });
  return out;
}

void read_sync(const Reader& r, const json& j, StepTimeProfile& p) {
  if (!j.contains("overlap")) return;
  const json& o = j["overlap"];
  SyncOverhead& s = p.sync;
  const json& f = r.field(o, "overlap", "fraction");
  if (!f.is_number() || !std::isfinite(f.get<double>()) || f.get<double>() > 1.0)
    r.fail("overlap.fraction", "= " + f.dump() + ": must be a number <= 1");
  s.overlap = f.get<double>();
  if (o.contains("ranks")) s.ranks = static_cast<int>(r.integer(o, "overlap", "ranks", 0));
  if (o.contains("gradient_allreduce_s"))
    s.gradient_allreduce_s = r.number(o, "overlap", "gradient_allreduce_s", 0.0, ">= 0");
  if (o.contains("fit_error")) s.overlap_error = r.number(o, "overlap", "fit_error", 0.0, ">= 0");
  if (!o.contains("points")) return;
  const json& pts = r.array(o, "overlap", "points");
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const std::string at = "overlap.points[" + std::to_string(i) + "]";
    s.points.push_back({r.number(pts[i], at, "local_batch", 1.0, ">= 1"),
                        r.number(pts[i], at, "sync_step_s", 0.0, ">= 0"),
                        r.number(pts[i], at, "blocking_step_s", 0.0, ">= 0")});
  }
}

// T_c at local batch b: between two measured local batches, the straight line through them;
// outside the measured points (or without points, as in a hand-written profile), the fit. An
// update on a CPU is not linear in b over a wide range (caches: the MLP's time per example rises
// ~2x from b = 1024 to 4096 here, a CNN's jumps between neighbouring b), so a single line through
// 32..4096 misses the ends by 20-30% while the measured points are what the trainer will see.
double measured_or_fitted(const LinearFit& f, double b) {
  if (f.points.size() < 2) return f.at(b);
  // Profiles list their points by x; a hand-edited one may not: sort a copy only then.
  const auto by_x = [](const TimedPoint& x, const TimedPoint& y) { return x.x < y.x; };
  std::vector<TimedPoint> sorted;
  if (!std::is_sorted(f.points.begin(), f.points.end(), by_x)) {
    sorted = f.points;
    std::sort(sorted.begin(), sorted.end(), by_x);
  }
  const std::vector<TimedPoint>& pts = sorted.empty() ? f.points : sorted;
  if (b < pts.front().x || b > pts.back().x) return f.at(b);
  for (std::size_t i = 1; i < pts.size(); ++i) {
    if (b > pts[i].x) continue;
    const TimedPoint& lo = pts[i - 1];
    const TimedPoint& hi = pts[i];
    if (hi.x == lo.x) return 0.5 * (lo.s + hi.s);
    return lo.s + (hi.s - lo.s) * (b - lo.x) / (hi.x - lo.x);
  }
  return pts.back().s;
}

}  // namespace

LinearFit fit_linear(const std::vector<TimedPoint>& points) {
  std::set<double> xs;
  for (const auto& p : points) {
    if (!(std::isfinite(p.s) && p.s > 0.0) || !std::isfinite(p.x))
      throw std::invalid_argument("fit_linear: times must be finite and > 0");
    xs.insert(p.x);
  }
  if (xs.size() < 2) throw std::invalid_argument("fit_linear: needs at least 2 distinct x");
  // Weighted normal equations, weight w = 1 / s^2.
  double sw = 0, swx = 0, swxx = 0, swy = 0, swxy = 0;
  for (const auto& p : points) {
    const double w = 1.0 / (p.s * p.s);
    sw += w, swx += w * p.x, swxx += w * p.x * p.x, swy += w * p.s, swxy += w * p.x * p.s;
  }
  const double det = sw * swxx - swx * swx;
  LinearFit f;
  f.beta = (sw * swxy - swx * swy) / det;
  f.alpha = (swy - f.beta * swx) / sw;
  // Both coefficients are costs: a negative one is noise (a fixed cost below zero, a time that
  // falls with more work) and would turn negative outside the points. Then the best fit with
  // that coefficient at 0.
  if (f.beta < 0.0) {
    f.beta = 0.0;
    f.alpha = swy / sw;
  } else if (f.alpha < 0.0) {
    f.alpha = 0.0;
    f.beta = swxy / swxx;
  }
  f.points = points;
  f.x_min = *xs.begin();
  f.x_max = *xs.rbegin();
  double sse = 0;
  for (const auto& p : points) {
    const double r = (f.at(p.x) - p.s) / p.s;
    sse += r * r;
  }
  f.rms_rel_error = std::sqrt(sse / static_cast<double>(points.size()));
  return f;
}

SyncOverhead fit_sync_overhead(const std::vector<SyncPoint>& points, double t_grad, int ranks) {
  if (points.empty() || !(t_grad > 0.0)) throw std::invalid_argument("fit_sync_overhead: needs points and t_grad > 0");
  SyncOverhead o;
  o.ranks = ranks;
  o.points = points;
  o.gradient_allreduce_s = t_grad;
  const double n = static_cast<double>(points.size());
  double mean = 0.0, ss = 0.0;
  for (const auto& q : points) mean += (q.blocking_step_s - q.sync_step_s) / t_grad / n;
  for (const auto& q : points) {
    const double d = (q.blocking_step_s - q.sync_step_s) / t_grad - mean;
    ss += d * d;
  }
  o.overlap = std::clamp(mean, 0.0, 1.0);
  o.overlap_error = points.size() > 1 ? std::sqrt(ss / (n - 1.0)) : 0.0;
  return o;
}

json profile_to_json(const StepTimeProfile& p) {
  json compute = json::array(), allreduce = json::array(), sync_pts = json::array();
  for (const auto& e : p.compute) {
    json j = fit_to_json(e.step, kPerExample);
    j["ranks"] = e.ranks;
    compute.push_back(j);
  }
  for (const auto& e : p.allreduce) {
    json j = fit_to_json(e.time, kPerByte);
    j["ranks"] = e.ranks;
    allreduce.push_back(j);
  }
  for (const auto& q : p.sync.points)
    sync_pts.push_back({{"local_batch", q.local_batch}, {"sync_step_s", q.sync_step_s},
                        {"blocking_step_s", q.blocking_step_s}});
  json j = p.extra;
  j["schema"] = "batchlab.step_profile/1";
  j["source"] = p.source;
  j["model"] = p.model;
  j["dataset"] = p.dataset;
  j["optimizer"] = p.optimizer;
  if (!p.precondition.empty()) j["precondition"] = p.precondition;
  j["parameters"] = p.parameters;
  j["parameter_tensors"] = p.parameter_tensors;
  j["optimizer_state_values"] = p.optimizer_state_values;
  j["optimizer_state_tensors"] = p.optimizer_state_tensors;
  j["bytes_per_value"] = p.bytes_per_value;
  j["gradient"] = {{"bytes", p.gradient_bytes()}, {"buckets", p.gradient_buckets}, {"bucket_bytes", p.bucket_bytes}};
  j["backend"] = p.backend;
  j["device"] = p.device;
  j["devices_per_node"] = p.devices_per_node;
  j["threads_per_rank"] = p.threads_per_rank;
  j["loader_threads"] = p.loader_threads;
  j["compute"] = compute;
  j["allreduce"] = allreduce;
  j["overlap"] = {{"fraction", p.sync.overlap}, {"fit_error", p.sync.overlap_error}, {"ranks", p.sync.ranks},
                  {"gradient_allreduce_s", p.sync.gradient_allreduce_s}, {"points", sync_pts}};
  if (p.has_data) j["data"] = fit_to_json(p.data, kPerExample);
  return j;
}

StepTimeProfile profile_from_json(const json& j, const std::string& where) {
  const Reader r(where);
  if (!j.is_object()) r.fail("the file", "is not a JSON object");
  StepTimeProfile p;
  const std::string schema = r.text(j, "", "schema");
  if (schema != "batchlab.step_profile/1")
    r.fail("schema", "= '" + schema + "': expected batchlab.step_profile/1");
  p.source = j.contains("source") ? r.text(j, "", "source") : "";
  p.model = r.text(j, "", "model");
  p.dataset = r.text(j, "", "dataset");
  p.optimizer = j.contains("optimizer") ? r.text(j, "", "optimizer") : "";
  p.precondition = j.contains("precondition") ? r.text(j, "", "precondition") : "";
  p.parameters = r.integer(j, "", "parameters", 1);
  p.parameter_tensors = r.integer(j, "", "parameter_tensors", 1);
  if (j.contains("optimizer_state_values")) p.optimizer_state_values = r.integer(j, "", "optimizer_state_values", 0);
  if (j.contains("optimizer_state_tensors")) p.optimizer_state_tensors = r.integer(j, "", "optimizer_state_tensors", 0);
  if (j.contains("bytes_per_value")) p.bytes_per_value = r.number(j, "", "bytes_per_value", 1.0, ">= 1");
  if (j.contains("gradient")) {
    p.gradient_buckets = r.integer(j["gradient"], "gradient", "buckets", 1);
    if (j["gradient"].contains("bucket_bytes"))
      p.bucket_bytes = r.number(j["gradient"], "gradient", "bucket_bytes", 0.0, ">= 0");
  }
  if (j.contains("backend")) p.backend = r.text(j, "", "backend");
  if (j.contains("device")) p.device = r.text(j, "", "device");
  p.devices_per_node = static_cast<int>(r.integer(j, "", "devices_per_node", 1));
  if (j.contains("threads_per_rank")) p.threads_per_rank = static_cast<int>(r.integer(j, "", "threads_per_rank", 1));
  if (j.contains("loader_threads")) p.loader_threads = static_cast<int>(r.integer(j, "", "loader_threads", 0));
  p.compute = read_compute(r, j);
  p.allreduce = read_allreduce(r, j);
  read_sync(r, j, p);
  if (j.contains("data") && !j["data"].is_null()) {
    p.has_data = true;
    p.data = r.fit(j["data"], "data", kPerExample);
  }
  for (const char* k : {"provenance", "load_average", "bench", "notes", "warnings"})
    if (j.contains(k)) p.extra[k] = j[k];
  return p;
}

StepTimeProfile read_profile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ProfileError(path.string() + ": cannot be read");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw ProfileError(path.string() + ": not JSON (" + std::string(e.what()) + ")");
  }
  return profile_from_json(j, path.string());
}

double RunTime::step_s() const { return steps > 0 ? total_s / static_cast<double>(steps) : 0.0; }

StepTimeModel::StepTimeModel(StepTimeProfile profile) : p_(std::move(profile)) {
  if (p_.compute.empty()) throw ProfileError("step-time profile of " + p_.model + " has no compute entry");
}

double StepTimeModel::compute_s(double b, int workers, std::vector<std::string>& notes) const {
  const int busy = std::min(workers, p_.devices_per_node);
  const ComputeEntry* best = &p_.compute.front();  // sorted by ranks
  for (const auto& e : p_.compute)
    if (e.ranks <= busy) best = &e;
  if (best->ranks != busy) note(notes, "compute_ranks");
  if (!best->step.covers(b)) note(notes, "local_batch");
  return measured_or_fitted(best->step, b);
}

double StepTimeModel::allreduce_s(double bytes, std::int64_t messages, int ranks,
                                  std::vector<std::string>& notes) const {
  if (ranks <= 1 || messages <= 0) return 0.0;
  if (p_.allreduce.empty())
    throw ProfileError("the profile of " + p_.model + " has no all-reduce entry: it cannot price " +
                       std::to_string(ranks) + " workers");
  // The entry measured at the nearest world size (in ratio), scaled as a ring all-reduce.
  const AllreduceEntry* e = &p_.allreduce.front();
  for (const auto& c : p_.allreduce)
    if (std::abs(std::log(static_cast<double>(c.ranks) / ranks)) <
        std::abs(std::log(static_cast<double>(e->ranks) / ranks)))
      e = &c;
  double alpha = e->time.alpha, beta = e->time.beta;
  if (e->ranks != ranks) {
    note(notes, "allreduce_ranks");
    const double k = ranks, km = e->ranks;
    alpha *= (k - 1.0) / (km - 1.0);
    beta *= ((k - 1.0) / k) / ((km - 1.0) / km);
  }
  const double per_message = bytes / static_cast<double>(messages);
  if (!e->time.covers(per_message)) note(notes, "message_size");
  return static_cast<double>(messages) * alpha + beta * bytes;
}

double StepTimeModel::data_s(double b, std::vector<std::string>& notes) const {
  if (!p_.has_data) return 0.0;
  if (!p_.data.covers(b)) note(notes, "data_batch");
  return p_.data.at(b);
}

RunTime StepTimeModel::run_time(double b, int workers, const optim::SyncPolicy& policy,
                                std::int64_t steps) const {
  // DiLoCo's quantised, fragmented outer steps have no entry in this model yet: refuse rather
  // than price them as free.
  if (policy.outer_steps())
    throw optim::ConfigError("sync policy " + policy.to_string() +
                             ": the step-time model does not cover DiLoCo's outer steps");
  RunTime rt;
  rt.steps = steps;
  const double tc = compute_s(b, workers, rt.extrapolated);
  const double td = data_s(b, rt.extrapolated);
  std::int64_t n_sync = 0;
  if (workers > 1) {
    for (std::int64_t t = 0; t < steps; ++t) {
      if (policy.allreduce_gradients(t)) ++n_sync;
      const optim::AverageScope s = policy.average_after(t);
      if (s == optim::AverageScope::kGlobal) ++rt.averaging_rounds_global;
      if (s == optim::AverageScope::kNode) ++rt.averaging_rounds_node;
    }
  }
  rt.gradient_allreduces = n_sync;
  const double t_grad =
      n_sync ? allreduce_s(p_.gradient_bytes(), p_.gradient_buckets, workers, rt.extrapolated) : 0.0;
  const double exposed = (1.0 - std::min(p_.sync.overlap, 1.0)) * t_grad;
  if (n_sync && p_.sync.ranks > 0 && p_.sync.ranks != workers) note(rt.extrapolated, "sync_ranks");
  // Parameters (and, when averaged, the optimizer state) of one averaging round, one message per tensor.
  const bool with_state = policy.average_momentum;
  const double avg_bytes = p_.bytes_per_value * static_cast<double>(
                                                    p_.parameters + (with_state ? p_.optimizer_state_values : 0));
  const std::int64_t avg_msgs = p_.parameter_tensors + (with_state ? p_.optimizer_state_tensors : 0);
  const double t_avg_global =
      rt.averaging_rounds_global ? allreduce_s(avg_bytes, avg_msgs, workers, rt.extrapolated) : 0.0;
  const double t_avg_node =
      rt.averaging_rounds_node
          ? allreduce_s(avg_bytes, avg_msgs, std::min(workers, p_.devices_per_node), rt.extrapolated)
          : 0.0;

  const double n = static_cast<double>(steps), ns = static_cast<double>(n_sync);
  const double sync_core = tc + exposed;
  rt.compute_s = n * tc;
  rt.data_s = ns * std::max(0.0, td - sync_core) + (n - ns) * std::max(0.0, td - tc);
  rt.comm_s = ns * exposed + static_cast<double>(rt.averaging_rounds_global) * t_avg_global +
              static_cast<double>(rt.averaging_rounds_node) * t_avg_node;
  rt.total_s = rt.compute_s + rt.comm_s + rt.data_s;
  return rt;
}

}  // namespace batchlab::experiments
