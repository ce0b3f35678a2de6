#include "experiments/engine/fit.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "experiments/engine/study_engine.h"
#include "optim/io.h"
#include <numeric>
#include <stdexcept>

namespace batchlab::experiments {
namespace {

struct Objective {
  const std::vector<double>& b;
  const std::vector<double>& log_s;
  // Sum of squared residuals with log S_min profiled out; also returns that log S_min.
  double operator()(double b_crit, double* log_s_min = nullptr) const {
    const std::size_t n = b.size();
    double mean = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean += log_s[i] - std::log1p(b_crit / b[i]);
    mean /= static_cast<double>(n);
    double sse = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = log_s[i] - mean - std::log1p(b_crit / b[i]);
      sse += r * r;
    }
    if (log_s_min) *log_s_min = mean;
    return sse;
  }
};

}  // namespace

double measured_knee(const std::vector<double>& batch_sizes, const std::vector<double>& steps,
                     double excess) {
  std::vector<std::size_t> order(batch_sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t c) { return batch_sizes[a] < batch_sizes[c]; });
  if (order.empty()) return 0.0;
  const double e0 = batch_sizes[order[0]] * steps[order[0]];
  for (std::size_t k = 1; k < order.size(); ++k) {
    const std::size_t i = order[k];
    if (batch_sizes[i] * steps[i] > (1.0 + excess) * e0) return batch_sizes[i];
  }
  return 0.0;
}

CriticalBatchFit fit_critical_batch(const std::vector<double>& batch_sizes,
                                    const std::vector<double>& steps, int scan) {
  if (batch_sizes.size() != steps.size())
    throw std::invalid_argument("fit_critical_batch: batch_sizes and steps differ in length");
  CriticalBatchFit f;
  f.points = static_cast<int>(batch_sizes.size());
  if (f.points < 2) return f;
  std::vector<double> log_s(steps.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!(steps[i] > 0.0 && batch_sizes[i] > 0.0))
      throw std::invalid_argument("fit_critical_batch: batch sizes and steps must be > 0");
    log_s[i] = std::log(steps[i]);
  }
  const Objective obj{batch_sizes, log_s};
  const auto [bmin, bmax] = std::minmax_element(batch_sizes.begin(), batch_sizes.end());
  // B_crit far outside the measured range is indistinguishable from 0 or infinity; 12 e-folds
  // (a factor 1.6e5) on either side is plenty.
  const double u_lo = std::log(*bmin) - 12.0, u_hi = std::log(*bmax) + 12.0;
  scan = std::max(scan, 16);
  double best_u = u_lo, best = obj(std::exp(u_lo));
  int best_k = 0;
  for (int k = 1; k <= scan; ++k) {
    const double u = u_lo + (u_hi - u_lo) * k / scan;
    const double v = obj(std::exp(u));
    if (v < best) best = v, best_u = u, best_k = k;
  }
  // Golden-section refinement in the bracket around the scan minimum.
  const double h = (u_hi - u_lo) / scan;
  double a = std::max(u_lo, best_u - h), c = std::min(u_hi, best_u + h);
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = c - g * (c - a), x2 = a + g * (c - a);
  double f1 = obj(std::exp(x1)), f2 = obj(std::exp(x2));
  for (int it = 0; it < 200 && c - a > 1e-13; ++it) {
    if (f1 < f2) {
      c = x2, x2 = x1, f2 = f1;
      x1 = c - g * (c - a), f1 = obj(std::exp(x1));
    } else {
      a = x1, x1 = x2, f1 = f2;
      x2 = a + g * (c - a), f2 = obj(std::exp(x2));
    }
  }
  const double u_ref = f1 < f2 ? x1 : x2;
  if (std::min(f1, f2) < best) best_u = u_ref;
  double log_s_min = 0.0;
  const double sse = obj(std::exp(best_u), &log_s_min);
  f.ok = true;
  f.bounded = best_k != 0 && best_k != scan;
  f.b_crit = std::exp(best_u);
  f.s_min = std::exp(log_s_min);
  f.e_min = f.b_crit * f.s_min;
  f.rms_log_error = std::sqrt(sse / static_cast<double>(f.points));
  f.knee_batch = 0.2 * f.b_crit;
  f.knee_batch_measured = measured_knee(batch_sizes, steps);
  return f;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) throw std::invalid_argument("quantile of an empty vector");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(pos));
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

namespace {

// floor(u * n) with u uniform in [0, 1) from the generator's top 53 bits: the same indices on
// every platform (std::uniform_int_distribution is implementation-defined).
std::size_t draw_index(std::mt19937_64& rng, std::size_t n) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)));
}

// One replicate's (B, S) points: resampled seeds per batch size, or resampled points.
void draw_replicate(std::mt19937_64& rng, bool over_seeds, const std::vector<double>& batch_sizes,
                    const std::vector<std::vector<double>>& seed_steps, std::vector<double>& b,
                    std::vector<double>& s) {
  b.clear();
  s.clear();
  const std::size_t n = batch_sizes.size();
  if (!over_seeds) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = draw_index(rng, n);
      b.push_back(batch_sizes[i]);
      s.push_back(seed_steps[i][0]);
    }
    return;
  }
  std::vector<double> draw;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& seeds = seed_steps[i];
    draw.clear();
    for (std::size_t k = 0; k < seeds.size(); ++k) draw.push_back(seeds[draw_index(rng, seeds.size())]);
    const double med = median(draw);  // the study's seed reduction (study_engine.h)
    if (std::isfinite(med) && med > 0.0) {
      b.push_back(batch_sizes[i]);
      s.push_back(med);
    }
  }
}

}  // namespace

FitInterval bootstrap_critical_batch(const std::vector<double>& batch_sizes,
                                     const std::vector<std::vector<double>>& seed_steps,
                                     const BootstrapOptions& options) {
  if (batch_sizes.size() != seed_steps.size())
    throw std::invalid_argument("bootstrap_critical_batch: batch_sizes and seed_steps differ in length");
  FitInterval ci;
  ci.level = options.level;
  bool over_seeds = false;
  std::size_t reached_points = 0;
  for (const auto& seeds : seed_steps) {
    if (seeds.empty()) throw std::invalid_argument("bootstrap_critical_batch: a batch size without seeds");
    over_seeds = over_seeds || seeds.size() > 1;
    reached_points += std::isfinite(seeds[0]) && seeds[0] > 0.0;
  }
  ci.over = over_seeds ? "seeds" : "batch_sizes";
  std::vector<double> bs = batch_sizes;
  std::vector<std::vector<double>> ss = seed_steps;
  if (!over_seeds) {  // the pairs bootstrap draws among the reached points only
    bs.clear();
    ss.clear();
    for (std::size_t i = 0; i < batch_sizes.size(); ++i)
      if (std::isfinite(seed_steps[i][0]) && seed_steps[i][0] > 0.0) {
        bs.push_back(batch_sizes[i]);
        ss.push_back(seed_steps[i]);
      }
    if (reached_points < 3) return ci;
  }
  std::mt19937_64 rng(options.seed);
  std::vector<double> b, s, b_crit, s_min;
  for (int r = 0; r < options.replicates; ++r) {
    draw_replicate(rng, over_seeds, bs, ss, b, s);
    if (std::adjacent_find(b.begin(), b.end(), std::not_equal_to<>()) == b.end()) continue;  // < 2 distinct B
    const CriticalBatchFit f = fit_critical_batch(b, s, 240);
    b_crit.push_back(f.b_crit);
    s_min.push_back(f.s_min);
  }
  ci.replicates = options.replicates;
  ci.fitted = static_cast<int>(b_crit.size());
  if (ci.fitted == 0) return ci;
  const double lo = (1.0 - options.level) / 2.0, hi = (1.0 + options.level) / 2.0;
  ci.ok = true;
  ci.b_crit_lo = quantile(b_crit, lo);
  ci.b_crit_hi = quantile(b_crit, hi);
  ci.s_min_lo = quantile(s_min, lo);
  ci.s_min_hi = quantile(s_min, hi);
  ci.knee_lo = 0.2 * ci.b_crit_lo;
  ci.knee_hi = 0.2 * ci.b_crit_hi;
  return ci;
}

namespace {

// Fields trimmed, surrounding double quotes dropped (no commas inside quotes).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> f = optim::split_list(line, ',');
  for (auto& x : f)
    if (x.size() >= 2 && x.front() == '"' && x.back() == '"') x = x.substr(1, x.size() - 2);
  return f;
}

}  // namespace

int CsvTable::column(const std::string& name) const {
  const auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : static_cast<int>(it - header.begin());
}

CsvTable read_csv_table(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw TableError(path.string() + ": cannot read (no such file?)");
  CsvTable t;
  std::string line;
  if (!std::getline(in, line)) throw TableError(path.string() + ": empty (no header)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  t.header = csv_fields(line);
  for (int n = 2; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto f = csv_fields(line);
    if (f.size() != t.header.size())
      throw TableError(path.string() + " line " + std::to_string(n) + ": " + std::to_string(f.size()) +
                       " fields, the header has " + std::to_string(t.header.size()));
    t.rows.push_back(std::move(f));
    t.line.push_back(n);
  }
  return t;
}

namespace {

double positive_number(const std::filesystem::path& path, int line, const std::string& column, const std::string& text) {
  const std::string where = path.string() + " line " + std::to_string(line) + ": " + column + " = '" + text + "'";
  double v = 0.0;
  try {
    std::size_t used = 0;
    v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw TableError(where + ": not a number");
  }
  if (!(std::isfinite(v) && v > 0.0)) throw TableError(where + ": must be > 0");
  return v;
}

// One batch size of one group: its rows' steps per hyperparameter setting, in order of appearance.
using HyperRows = std::vector<std::pair<std::string, std::vector<double>>>;

// The setting with the fewest median steps (ties: the first), as the study reduces its grid.
const std::vector<double>& best_setting(const HyperRows& settings) {
  std::size_t best = 0;
  double best_steps = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const double m = median(settings[i].second);
    if (i == 0 || m < best_steps) best = i, best_steps = m;
  }
  return settings[best].second;
}

}  // namespace

TableFit fit_table(const std::filesystem::path& path, const std::string& by) {
  const CsvTable t = read_csv_table(path);
  TableFit out;
  const int cb = t.column("batch_size");
  int cs = t.column("steps_to_target");
  out.steps_column = "steps_to_target";
  if (cs < 0 && (cs = t.column("examples_to_target")) >= 0) out.steps_column = "examples_to_target";
  if (cb < 0) throw TableError(path.string() + ": no column 'batch_size'");
  if (cs < 0) throw TableError(path.string() + ": no column 'steps_to_target' or 'examples_to_target'");
  const int cg = by.empty() ? -1 : t.column(by);
  if (!by.empty() && cg < 0) throw TableError(path.string() + ": no column '" + by + "' (--by)");
  const int cstatus = t.column("status");
  std::vector<int> hyper;
  for (const char* h : {"lr", "momentum", "ema_decay"})
    if (t.column(h) >= 0) hyper.push_back(t.column(h));
  if (t.rows.empty()) throw TableError(path.string() + ": no rows");

  std::vector<std::string> order;
  std::map<std::string, std::map<double, HyperRows>> groups;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string g = cg < 0 ? "all" : row[static_cast<std::size_t>(cg)];
    const double b = positive_number(path, t.line[r], "batch_size", row[static_cast<std::size_t>(cb)]);
    const bool reached = cstatus < 0 || row[static_cast<std::size_t>(cstatus)] == "reached";
    double steps = std::numeric_limits<double>::infinity();
    if (reached) {
      steps = positive_number(path, t.line[r], out.steps_column, row[static_cast<std::size_t>(cs)]);
      if (out.steps_column == "examples_to_target") steps /= b;
    }
    std::string key;
    for (int h : hyper) key += row[static_cast<std::size_t>(h)] + ",";
    if (!groups.count(g)) order.push_back(g);
    HyperRows& settings = groups[g][b];
    auto it = std::find_if(settings.begin(), settings.end(), [&](const auto& s) { return s.first == key; });
    if (it == settings.end()) it = settings.insert(settings.end(), {key, {}});
    it->second.push_back(steps);
  }
  for (const auto& g : order) {
    TableGroupFit f;
    f.group = g;
    std::vector<double> bs, ss;
    for (const auto& [b, settings] : groups[g]) {
      const std::vector<double>& seeds = best_setting(settings);
      const double m = median(seeds);
      if (!std::isfinite(m)) continue;  // not reached at this batch size: neither fitted nor resampled
      f.batch_sizes.push_back(b);
      f.seed_steps.push_back(seeds);
      f.steps.push_back(m);
      bs.push_back(b);
      ss.push_back(m);
    }
    if (bs.size() < 3)
      throw TableError(path.string() + ": " + (cg < 0 ? std::string("the table") : by + " = '" + g + "'") + " has " +
                       std::to_string(bs.size()) + " batch size(s) that reached the target; a fit needs at least 3");
    f.fit = fit_critical_batch(bs, ss);
    f.ci = bootstrap_critical_batch(f.batch_sizes, f.seed_steps);
    out.groups.push_back(std::move(f));
  }
  return out;
}

void write_table_fit(const TableFit& fit, const std::filesystem::path& dir) {
  using optim::format_number;
  std::filesystem::create_directories(dir);
  std::string csv = "group,b_crit,s_min,e_min,fit_rms,b_crit_lo,b_crit_hi,points\n";
  std::string points = "group,batch_size,steps_to_target\n";
  for (const auto& g : fit.groups) {
    const auto ci = [&](double v) { return g.ci.ok ? format_number(v) : std::string("nan"); };
    csv += g.group + "," + format_number(g.fit.b_crit) + "," + format_number(g.fit.s_min) + "," +
           format_number(g.fit.e_min) + "," + format_number(g.fit.rms_log_error) + "," + ci(g.ci.b_crit_lo) + "," +
           ci(g.ci.b_crit_hi) + "," + std::to_string(g.fit.points) + "\n";
    for (std::size_t i = 0; i < g.batch_sizes.size(); ++i)
      if (std::isfinite(g.steps[i]))
        points += g.group + "," + format_number(g.batch_sizes[i]) + "," + format_number(g.steps[i]) + "\n";
  }
  optim::write_file_atomic(dir / "fit.csv", csv);
  optim::write_file_atomic(dir / "fit_points.csv", points);
}

PowerLawFit fit_b_crit_vs_target(const std::vector<double>& targets, const std::vector<double>& b_crits) {
  if (targets.size() != b_crits.size())
    throw std::invalid_argument("fit_b_crit_vs_target: targets and b_crits differ in length");
  PowerLawFit f;
  f.points = static_cast<int>(targets.size());
  if (f.points < 2) return f;
  const double n = static_cast<double>(f.points);
  double mx = 0.0, my = 0.0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (!(targets[i] > 0.0 && b_crits[i] > 0.0))
      throw std::invalid_argument("fit_b_crit_vs_target: targets and B_crit must be > 0");
    mx += std::log(targets[i]) / n;
    my += std::log(b_crits[i]) / n;
  }
  double sxx = 0.0, sxy = 0.0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const double dx = std::log(targets[i]) - mx;
    sxx += dx * dx;
    sxy += dx * (std::log(b_crits[i]) - my);
  }
  if (!(sxx > 0.0) || sxy == 0.0) return f;
  const double slope = sxy / sxx;  // = -1 / alpha_B
  double sse = 0.0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const double r = std::log(b_crits[i]) - my - slope * (std::log(targets[i]) - mx);
    sse += r * r;
  }
  f.ok = true;
  f.alpha_b = -1.0 / slope;
  f.b_star = std::exp(my - slope * mx);
  f.rms_log_error = std::sqrt(sse / n);
  return f;
}

}  // namespace batchlab::experiments
