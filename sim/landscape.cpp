#include "sim/landscape.h"

#include <algorithm>
#include <numeric>

#include "optim/io.h"
#include "sim/linreg.h"
#include "sim/logreg.h"
#include "sim/mlp.h"
#include "sim/nqm.h"
#include "sim/nqm_sampled.h"

namespace batchlab::sim {

void BatchStream::next_batch(std::int64_t n, std::int64_t batch, std::vector<std::int64_t>& out) {
  out.clear();
  if (static_cast<std::int64_t>(perm.size()) != n) {
    perm.resize(static_cast<std::size_t>(n));
    std::iota(perm.begin(), perm.end(), std::int64_t{0});
    std::shuffle(perm.begin(), perm.end(), rng);
    pos = 0;
  }
  while (static_cast<std::int64_t>(out.size()) < batch) {
    if (pos == perm.size()) {
      std::shuffle(perm.begin(), perm.end(), rng);
      pos = 0;
      ++epochs;
    }
    out.push_back(perm[pos++]);
  }
}

void validate_landscape(const LandscapeConfig& c) {
  auto bad = [](const std::string& what, const std::string& value, const std::string& why) {
    throw optim::ConfigError("landscape." + what + " = " + value + ": " + why);
  };
  if (c.kind != "nqm" && c.kind != "linreg" && c.kind != "logreg" && c.kind != "mlp")
    bad("kind", "'" + c.kind + "'", "unknown (nqm, linreg, logreg, mlp)");
  if (c.kind == "nqm") {
    if (c.dim <= 0) bad("dim", std::to_string(c.dim), "must be > 0");
    if (c.spectrum) {
      validate_explicit_spectrum(*c.spectrum, c.dim);
      return;
    }
    if (!(c.init_variance > 0.0)) bad("init_variance", optim::format_number(c.init_variance), "must be > 0");
    if (!std::isfinite(c.curvature_power) || !std::isfinite(c.noise_power))
      bad("curvature_power", optim::format_number(c.curvature_power), "powers must be finite");
    if (c.layers < 1) bad("layers", std::to_string(c.layers), "must be >= 1");
    if (c.layers > c.dim) bad("layers", std::to_string(c.layers), "more layers than dimensions");
    if (!(c.layer_scale_spread > 0.0))
      bad("layer_scale_spread", optim::format_number(c.layer_scale_spread), "must be > 0");
    return;
  }
  if (c.train_examples <= 0) bad("train_examples", std::to_string(c.train_examples), "must be > 0");
  if (c.test_examples <= 0) bad("test_examples", std::to_string(c.test_examples), "must be > 0");
  if (c.input_dim <= 0) bad("input_dim", std::to_string(c.input_dim), "must be > 0");
  if (!(c.label_noise >= 0.0)) bad("label_noise", optim::format_number(c.label_noise), "must be >= 0");
  if (c.kind == "logreg" && !(c.label_noise < 0.5))
    bad("label_noise", optim::format_number(c.label_noise), "a flip probability must be < 0.5");
  if (c.kind == "mlp") {
    if (c.hidden.empty()) bad("hidden", "(empty)", "the mlp needs at least one hidden layer");
    for (auto w : c.hidden)
      if (w <= 0) bad("hidden", std::to_string(w), "widths must be > 0");
  }
}

std::unique_ptr<Landscape> make_landscape(const LandscapeConfig& cfg) {
  validate_landscape(cfg);
  if (cfg.kind == "nqm" && cfg.spectrum)
    throw optim::ConfigError("landscape.spectrum: an explicit NQM spectrum runs in analytic mode only");
  if (cfg.kind == "nqm") return std::make_unique<NqmSampled>(cfg);
  if (cfg.kind == "linreg") return std::make_unique<LinearRegression>(cfg);
  if (cfg.kind == "logreg") return std::make_unique<LogisticRegression>(cfg);
  return std::make_unique<Mlp>(cfg);
}

FiniteSumData draw_inputs(const LandscapeConfig& cfg, Rng& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  auto draw = [&](std::int64_t count) {
    Eigen::MatrixXd x(cfg.input_dim, count);
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      for (Eigen::Index i = 0; i < x.rows(); ++i) x(i, j) = n(rng) / std::sqrt(double(i + 1));
    return x;
  };
  FiniteSumData d;
  d.x_train = draw(cfg.train_examples);
  d.x_test = draw(cfg.test_examples);
  d.y_train.resize(cfg.train_examples);
  d.y_test.resize(cfg.test_examples);
  return d;
}

void gather(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
            const std::vector<std::int64_t>& idx, Eigen::MatrixXd& xb, Eigen::VectorXd& yb) {
  const auto b = static_cast<Eigen::Index>(idx.size());
  xb.resize(x.rows(), b);
  yb.resize(b);
  for (Eigen::Index j = 0; j < b; ++j) {
    xb.col(j) = x.col(idx[static_cast<std::size_t>(j)]);
    yb[j] = y[idx[static_cast<std::size_t>(j)]];
  }
}

}  // namespace batchlab::sim
