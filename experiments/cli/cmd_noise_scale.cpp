// batchlab noise-scale CONFIG.ini [--section.key=value ...]
//
// Gradient noise scale of the study's landscape at the initial point (McCandlish, Kaplan,
// Amodei et al. 2018):
//   * NQM: the exact B_simple = tr(C) / |H theta|^2 and B_noise = tr(HC) / (theta' H^3 theta),
//     in expectation over theta_0 ~ N(0, init_variance I) (ratio of expectations) and at the
//     drawn theta_0 of study.seeds[0] (sim::expected_noise_scale / exact_noise_scale);
//   * every landscape: the two-batch estimator (optim::NoiseScaleEstimator's unbiased |G|^2
//     and tr(Sigma)) from noise_scale.samples independent pairs of stochastic gradients at
//     noise_scale.small_batch and noise_scale.big_batch at theta_0; numerator and denominator are
//     averaged separately and then divided, never the ratio. Standard errors are over the pairs.
// For a sampled NQM with landscape.layers > 1 the estimator sees the optimizer's rescaled
// coordinates (sim/nqm_sampled.h), where B_simple differs from the exact value in theta.
// Prints a table and writes noise_scale.json into output.dir.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "experiments/cli/commands.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/sweep_config.h"
#include "optim/noise_scale.h"
#include "sim/landscape.h"
#include "sim/noise_scale_exact.h"
#include "sim/rng.h"

namespace batchlab::cli {

using namespace batchlab::experiments;

namespace {

struct MeanSe {
  double mean = 0.0, se = 0.0;
};

MeanSe mean_se(const std::vector<double>& v) {
  MeanSe m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    m.se = std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
  }
  return m;
}

nlohmann::json ns_json(const sim::NoiseScale& n) {
  return {{"b_simple", n.b_simple}, {"b_noise", n.b_noise}, {"grad_sq", n.grad_sq}, {"trace_sigma", n.trace_sigma}};
}

}  // namespace

int cmd_noise_scale(int argc, char** argv) {
  const char* who = "batchlab noise-scale";
  SweepConfig cfg;
  std::unique_ptr<sim::Landscape> land;
  try {
    if (!parse_sweep_args(argc, argv, cfg, "batchlab noise-scale CONFIG.ini [--section.key=value ...]")) return 0;
    land = sim::make_landscape(cfg.landscape);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 2;
  }
  try {
    const std::uint64_t seed = cfg.seeds.front();
    sim::Rng init_rng = sim::make_rng(seed, sim::kInitStream);
    const Eigen::VectorXd theta0 = land->initial_point(init_rng);
    const double bs = static_cast<double>(cfg.ns_small_batch), bb = static_cast<double>(cfg.ns_big_batch);

    // Two-batch estimates from independent gradient pairs.
    sim::BatchStream stream(sim::make_rng(seed, sim::kWorkerStream));
    optim::NoiseScaleEstimator est(0.0);  // decay 0: expose each pair's unbiased estimates
    std::vector<double> g2, tr;
    Eigen::VectorXd gs(land->dim()), gb(land->dim());
    for (std::int64_t r = 0; r < cfg.ns_samples; ++r) {
      land->gradient(theta0, cfg.ns_small_batch, stream, gs);
      land->gradient(theta0, cfg.ns_big_batch, stream, gb);
      est.update(gs.squaredNorm(), bs, gb.squaredNorm(), bb);
      g2.push_back(est.last_grad_sq());
      tr.push_back(est.last_trace_sigma());
    }
    const MeanSe mg = mean_se(g2), mt = mean_se(tr);
    const double b_est = mt.mean / mg.mean;
    // Delta-method standard error of the ratio (independent numerator/denominator pairs).
    const double b_se = std::abs(b_est) * std::sqrt(std::pow(mt.se / mt.mean, 2) + std::pow(mg.se / mg.mean, 2));

    nlohmann::json out = {
        {"landscape", cfg.landscape.kind},
        {"dim", land->dim()},
        {"seed", seed},
        {"estimator",
         {{"small_batch", cfg.ns_small_batch},
          {"big_batch", cfg.ns_big_batch},
          {"samples", cfg.ns_samples},
          {"b_simple", b_est},
          {"b_simple_se", b_se},
          {"grad_sq", mg.mean},
          {"grad_sq_se", mg.se},
          {"trace_sigma", mt.mean},
          {"trace_sigma_se", mt.se}}},
    };
    std::printf("noise scale of %s (dim %lld) at the initial point, seed %llu\n", cfg.landscape.kind.c_str(),
                static_cast<long long>(land->dim()), static_cast<unsigned long long>(seed));
    std::printf("%-26s %14s %14s %14s %14s\n", "", "B_simple", "B_noise", "|G|^2", "tr(Sigma)");
    if (cfg.landscape.kind == "nqm") {
      const sim::NoiseScale expect = sim::expected_noise_scale(
          cfg.landscape, Eigen::VectorXd::Constant(cfg.landscape.dim, cfg.landscape.init_variance));
      out["exact_expected"] = ns_json(expect);
      std::printf("%-26s %14.6g %14.6g %14.6g %14.6g\n", "exact, E over theta_0", expect.b_simple, expect.b_noise,
                  expect.grad_sq, expect.trace_sigma);
      if (cfg.landscape.layers == 1) {
        // With one layer the sampled NQM's coordinates are theta itself.
        const sim::NoiseScale at = sim::exact_noise_scale(cfg.landscape, theta0);
        out["exact_at_theta0"] = ns_json(at);
        std::printf("%-26s %14.6g %14.6g %14.6g %14.6g\n", "exact, at theta_0", at.b_simple, at.b_noise, at.grad_sq,
                    at.trace_sigma);
      }
    }
    char label[64];
    std::snprintf(label, sizeof label, "estimated (B %lld/%lld)", static_cast<long long>(cfg.ns_small_batch),
                  static_cast<long long>(cfg.ns_big_batch));
    std::printf("%-26s %14.6g %14s %14.6g %14.6g\n", label, b_est, "-", mg.mean, mt.mean);
    std::printf("%-26s %14.2g %14s %14.2g %14.2g\n", "  standard error", b_se, "", mg.se, mt.se);
    out["provenance"] = provenance(argc + 1, argv - 1);
    std::filesystem::create_directories(cfg.output_dir);
    const auto path = std::filesystem::path(cfg.output_dir) / "noise_scale.json";
    write_file_atomic(path, out.dump(2) + "\n");
    std::printf("results: %s\n", path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", who, e.what());
    return 1;
  }
  return 0;
}

}  // namespace batchlab::cli
