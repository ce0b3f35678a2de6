#include "experiments/engine/loss_law.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <set>

#include "optim/io.h"

namespace batchlab::experiments {
namespace {

using Vec = LossTheta;

double dot(const Vec& x, const Vec& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

// The derived values (loss_law_names() order) of an optimum.
std::vector<double> derived(const LossTheta& t) {
  const double A = std::exp(t[0]), B = std::exp(t[1]), E = std::exp(t[2]), alpha = t[3], beta = t[4];
  const double g = std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));
  return {E, A, B, alpha, beta, beta / (alpha + beta), alpha / (alpha + beta), g};
}

// The starting grid of Hoffmann et al.: alpha, beta in {0, .5, .., 2}, e in {-1, -.5, .., 1},
// a, b in {0, 5, .., 25}.
std::vector<LossTheta> start_grid() {
  std::vector<LossTheta> out;
  for (int ia = 0; ia <= 5; ++ia)
    for (int ib = 0; ib <= 5; ++ib)
      for (int ie = 0; ie <= 4; ++ie)
        for (int ial = 0; ial <= 4; ++ial)
          for (int ibe = 0; ibe <= 4; ++ibe)
            out.push_back({5.0 * ia, 5.0 * ib, -1.0 + 0.5 * ie, 0.5 * ial, 0.5 * ibe});
  return out;
}

std::size_t draw_index(std::mt19937_64& rng, std::size_t n) {  // as fit.cpp: platform-independent
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)));
}

void check_points(const std::vector<LossPoint>& points) {
  std::set<double> ns, ds;
  for (const auto& p : points) {
    if (!(p.n > 0.0 && p.d > 0.0 && p.loss > 0.0)) throw TableError("loss-nd fit: N, D and loss must be > 0");
    ns.insert(p.n);
    ds.insert(p.d);
  }
  if (points.size() < 5) throw TableError("loss-nd fit: " + std::to_string(points.size()) + " rows; the 5 parameters need at least 5");
  if (ns.size() < 2 || ds.size() < 2)
    throw TableError("loss-nd fit: needs at least 2 distinct N and 2 distinct D (has " + std::to_string(ns.size()) + " and " +
                     std::to_string(ds.size()) + ")");
}

}  // namespace

const std::vector<std::string>& loss_law_names() {
  static const std::vector<std::string> n = {"E", "A", "B", "alpha", "beta", "a_N", "b_D", "G"};
  return n;
}

double loss_law_log_prediction(const LossTheta& t, const LossPoint& p) {
  const double u[3] = {t[0] - t[3] * std::log(p.n), t[1] - t[4] * std::log(p.d), t[2]};
  const double m = std::max({u[0], u[1], u[2]});
  return m + std::log(std::exp(u[0] - m) + std::exp(u[1] - m) + std::exp(u[2] - m));
}

double loss_law_objective(const LossTheta& t, const std::vector<LossPoint>& points, double delta, LossTheta* gradient) {
  double f = 0.0;
  if (gradient) gradient->fill(0.0);
  for (const auto& p : points) {
    const double ln_n = std::log(p.n), ln_d = std::log(p.d);
    const double u[3] = {t[0] - t[3] * ln_n, t[1] - t[4] * ln_d, t[2]};
    const double m = std::max({u[0], u[1], u[2]});
    const double w[3] = {std::exp(u[0] - m), std::exp(u[1] - m), std::exp(u[2] - m)};
    const double sum = w[0] + w[1] + w[2];
    const double r = m + std::log(sum) - std::log(p.loss);
    const double ar = std::abs(r);
    f += ar <= delta ? 0.5 * r * r : delta * (ar - 0.5 * delta);
    if (!gradient) continue;
    const double h = ar <= delta ? r : (r > 0 ? delta : -delta);  // Huber'(r)
    auto& g = *gradient;
    g[0] += h * w[0] / sum;
    g[1] += h * w[1] / sum;
    g[2] += h * w[2] / sum;
    g[3] -= h * w[0] / sum * ln_n;
    g[4] -= h * w[1] / sum * ln_d;
  }
  return f;
}

LossTheta minimise_loss_law(const std::vector<LossPoint>& points, LossTheta x, const LossLawOptions& o, double* objective) {
  constexpr std::size_t kMemory = 10;
  Vec g{};
  double f = loss_law_objective(x, points, o.huber_delta, &g);
  std::deque<std::pair<Vec, Vec>> history;  // (s, y), newest last
  for (int it = 0; it < o.max_iterations && std::isfinite(f); ++it) {
    // Two-loop recursion: d = -H g.
    Vec q = g;
    std::vector<double> alpha(history.size());
    for (std::size_t k = history.size(); k-- > 0;) {
      const auto& [s, y] = history[k];
      alpha[k] = dot(s, q) / dot(y, s);
      for (std::size_t i = 0; i < q.size(); ++i) q[i] -= alpha[k] * y[i];
    }
    if (!history.empty()) {
      const auto& [s, y] = history.back();
      const double gamma = dot(s, y) / dot(y, y);
      for (double& v : q) v *= gamma;
    } else {
      const double gn = std::sqrt(dot(g, g));
      if (gn > 0.0)
        for (double& v : q) v /= std::max(1.0, gn);
    }
    for (std::size_t k = 0; k < history.size(); ++k) {
      const auto& [s, y] = history[k];
      const double beta = dot(y, q) / dot(y, s);
      for (std::size_t i = 0; i < q.size(); ++i) q[i] += s[i] * (alpha[k] - beta);
    }
    Vec d{};
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = -q[i];
    double slope = dot(g, d);
    if (!(slope < 0.0)) {  // not a descent direction: restart from steepest descent
      history.clear();
      for (std::size_t i = 0; i < d.size(); ++i) d[i] = -g[i];
      slope = -dot(g, g);
      if (!(slope < 0.0)) break;  // stationary
    }
    // Armijo backtracking.
    double step = 1.0, f_new = 0.0;
    Vec x_new{}, g_new{};
    bool accepted = false;
    for (int k = 0; k < 60; ++k, step *= 0.5) {
      for (std::size_t i = 0; i < x.size(); ++i) x_new[i] = x[i] + step * d[i];
      f_new = loss_law_objective(x_new, points, o.huber_delta, &g_new);
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    Vec s{}, y{};
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = x_new[i] - x[i], y[i] = g_new[i] - g[i];
    const bool done = f - f_new <= 1e-16 * std::max(1.0, std::abs(f));
    if (dot(s, y) > 1e-300) {
      history.emplace_back(s, y);
      if (history.size() > kMemory) history.pop_front();
    }
    x = x_new, f = f_new, g = g_new;
    if (done) break;
  }
  if (objective) *objective = f;
  return x;
}

LossLawFit fit_loss_law(const std::vector<LossPoint>& points, const LossLawOptions& options) {
  check_points(points);
  LossLawFit fit;
  fit.points = static_cast<int>(points.size());
  // Every start of the grid, then the best 8 polished with the full iteration budget.
  LossLawOptions quick = options;
  quick.max_iterations = std::min(options.max_iterations, 300);
  std::vector<std::pair<double, LossTheta>> runs;
  for (const LossTheta& start : start_grid()) {
    double f = 0.0;
    const LossTheta x = minimise_loss_law(points, start, quick, &f);
    if (std::isfinite(f) && x[3] > 0.0 && x[4] > 0.0) runs.emplace_back(f, x);
  }
  fit.starts = static_cast<int>(start_grid().size());
  if (runs.empty()) throw TableError("loss-nd fit: no start converged to positive alpha and beta");
  std::sort(runs.begin(), runs.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
  runs.resize(std::min<std::size_t>(runs.size(), 8));
  std::vector<LossTheta> seeds;
  double best = std::numeric_limits<double>::infinity();
  for (const auto& [f0, x0] : runs) {
    double f = 0.0;
    const LossTheta x = minimise_loss_law(points, x0, options, &f);
    seeds.push_back(x);
    if (f < best) best = f, fit.theta = x;
  }
  fit.objective = best;
  double sse = 0.0;
  for (const auto& p : points) {
    const double r = loss_law_log_prediction(fit.theta, p) - std::log(p.loss);
    sse += r * r;
  }
  fit.rms_log_error = std::sqrt(sse / static_cast<double>(points.size()));

  // Pairs bootstrap, each replicate from the full fit's optimum and the best starts.
  std::mt19937_64 rng(options.seed);
  std::vector<std::vector<double>> samples(loss_law_names().size());
  std::vector<LossPoint> draw(points.size());
  for (int r = 0; r < options.bootstrap_replicates; ++r) {
    for (auto& p : draw) p = points[draw_index(rng, points.size())];
    std::set<double> ns, ds;
    for (const auto& p : draw) ns.insert(p.n), ds.insert(p.d);
    if (ns.size() < 2 || ds.size() < 2) continue;
    double rb = std::numeric_limits<double>::infinity();
    LossTheta xb = fit.theta;
    for (const LossTheta& start : seeds) {
      double f = 0.0;
      const LossTheta x = minimise_loss_law(draw, start, options, &f);
      if (f < rb && x[3] > 0.0 && x[4] > 0.0) rb = f, xb = x;
    }
    if (!std::isfinite(rb)) continue;
    const auto v = derived(xb);
    for (std::size_t k = 0; k < v.size(); ++k) samples[k].push_back(v[k]);
  }
  fit.replicates = static_cast<int>(samples[0].size());
  const auto v = derived(fit.theta);
  const double lo = (1.0 - options.level) / 2.0, hi = (1.0 + options.level) / 2.0;
  for (std::size_t k = 0; k < v.size(); ++k) {
    const bool ok = !samples[k].empty();
    fit.values.push_back({v[k], ok ? quantile(samples[k], lo) : std::nan(""), ok ? quantile(samples[k], hi) : std::nan("")});
  }
  return fit;
}

std::vector<LossPoint> read_loss_table(const std::filesystem::path& csv, const std::string& n_column,
                                       const std::string& d_column, const std::string& loss_column) {
  const CsvTable t = read_csv_table(csv);
  auto col = [&](const std::string& name) {
    const int c = t.column(name);
    if (c < 0) throw TableError(csv.string() + ": no column '" + name + "'");
    return static_cast<std::size_t>(c);
  };
  const std::size_t cols[3] = {col(n_column), col(d_column), col(loss_column)};
  std::vector<LossPoint> out;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& f = t.rows[r];
    const std::string where = csv.string() + " line " + std::to_string(t.line[r]);
    LossPoint p;
    double* dst[3] = {&p.n, &p.d, &p.loss};
    for (int k = 0; k < 3; ++k) {
      const std::string& text = f[cols[k]];
      try {
        std::size_t used = 0;
        *dst[k] = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
      } catch (const std::exception&) {
        throw TableError(where + ": " + t.header[cols[k]] + " = '" + text + "': not a number");
      }
      if (!(std::isfinite(*dst[k]) && *dst[k] > 0.0)) throw TableError(where + ": " + t.header[cols[k]] + " = '" + text + "': must be > 0");
    }
    out.push_back(p);
  }
  check_points(out);
  return out;
}

void write_loss_law(const LossLawFit& fit, const std::filesystem::path& dir) {
  using optim::format_number;
  std::filesystem::create_directories(dir);
  std::string csv = "parameter,value,lo,hi\n";
  for (std::size_t k = 0; k < fit.values.size(); ++k)
    csv += loss_law_names()[k] + "," + format_number(fit.values[k].value) + "," + format_number(fit.values[k].lo) + "," +
           format_number(fit.values[k].hi) + "\n";
  optim::write_file_atomic(dir / "loss_fit.csv", csv);
}

}  // namespace batchlab::experiments
