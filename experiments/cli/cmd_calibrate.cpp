// batchlab calibrate STUDY.ini [--section.key=value ...] [--checkpoint PATH] [--reference DIR |
//                   --target-loss X] [--compare STUDY_DIR] [--output DIR] [measurement options]
//
// Predicts the real critical-batch study that STUDY.ini describes (the config `batchlab study`
// takes, or a study's resolved config.ini) from the curvature and gradient noise of its model,
// measured once at one point (docs/calibration.md):
//   1. the model the study's first trial trains (same seed, same initialisation), optionally
//      moved to a `batchlab train` checkpoint (e.g. 10% or 50% of the way to the target);
//   2. realtrain/curvature.h measures top-k Hessian eigenpairs (Lanczos on HVPs), the density
//      beyond them (SLQ), tr(H) (Hutchinson), c_i = v_i' Sigma v_i, tr(Sigma), tr(H Sigma),
//      B_simple and B_noise on fixed training subsets;
//   3. sim/nqm_calibration.h turns them into an NQM whose initial loss and target are the real
//      ones (initial loss: the study's initialisation on the Hessian subset; target: the test loss
//      at the first evaluation of --reference (a `batchlab train` run) that met the study's
//      target accuracy, or --target-loss);
//   4. experiments/engine/calibration.h runs the analytic study of that NQM on the study's grid
//      and fits S(B); --compare STUDY_DIR adds the measured B_crit, S_min and the ratios.
// Writes OUTPUT/calibration.json, spectrum.csv, nqm_spectrum.csv, nqm_study/ and, unless
// --no-plot, calibration.png/.pdf (plots/calibration.py).
// Exit status: 0 done, 1 failure while working, 2 bad input (one line, before any measurement):
// a bad option or config, a checkpoint of another model, top-k larger than the parameter count,
// a subset larger than the training set, a reference run that never met the target, a target
// loss not below the initial loss, a study the analytic NQM cannot run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "experiments/cli/calibrate_setup.h"
#include "experiments/cli/commands.h"
#include "experiments/engine/calibration.h"
#include "experiments/engine/plots.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "optim/config.h"
#include "realtrain/curvature.h"
#include "realtrain/trainer.h"
#include "sim/nqm_calibration.h"

namespace batchlab::cli {

using namespace batchlab::experiments;
namespace fs = std::filesystem;

namespace {

constexpr const char* kWho = "batchlab calibrate";

nlohmann::json measurement_json(const CalibrateSetup& s, const realtrain::CurvatureMeasurement& m) {
  nlohmann::json slq = {{"probes", s.options.slq_probes}, {"steps", s.options.slq_steps},
                        {"nodes", m.slq_nodes}, {"weights", m.slq_weights}, {"probe", m.slq_probe},
                        {"of", "P H P on the n - k dimensional complement of the top eigenvectors; weights sum to 1"}};
  return {{"study_config", s.real.config_path},
          {"model", s.train.model},
          {"dataset", s.train.dataset},
          {"seed", s.train.seed},
          {"seed_subsets", s.options.seed},
          {"parameters", m.parameters},
          {"point", s.point_json()},
          {"hessian_examples", m.hessian_examples},
          {"noise_examples", m.noise_examples},
          {"dataset_size", s.dataset_size},
          {"subsets", "prefixes of one seeded permutation of the training set (seed " + std::to_string(s.options.seed) + ")"},
          {"top_k", s.options.top_k},
          {"eigenvalues", m.top_h},
          {"eigen_residuals", m.top_residuals},
          {"c", m.top_c},
          {"g", m.top_g},
          {"lanczos", {{"steps", m.lanczos_steps}, {"converged", m.lanczos_converged}, {"tol", s.options.lanczos_tol}}},
          {"slq", slq},
          {"trace_h", m.trace_h},
          {"trace_h_tail", m.tail_trace_h},
          {"trace_h_tail_stderr", m.tail_trace_h_stderr},
          {"trace_sigma", m.trace_sigma},
          {"trace_sigma_tail", m.tail_trace_sigma},
          {"trace_h_sigma", m.trace_h_sigma},
          {"trace_h_sigma_tail", m.tail_trace_h_sigma},
          {"trace_h_sigma_tail_stderr", m.tail_trace_h_sigma_stderr},
          {"trace_probes", s.options.trace_probes},
          {"grad_sq", m.grad_sq},
          {"initial_grad_sq_raw", s.initial_grad_sq_raw},
          {"grad_h_grad", m.grad_h_grad},
          {"b_simple", std::isfinite(m.b_simple) ? nlohmann::json(m.b_simple) : nlohmann::json(nullptr)},
          {"b_noise", std::isfinite(m.b_noise) ? nlohmann::json(m.b_noise) : nlohmann::json(nullptr)},
          {"loss", s.loss_json(m.loss)},
          {"cost", {{"hessian_vector_products", m.hvps},
                    {"per_example_gradients", m.per_example_gradients},
                    {"threads", s.threads},
                    {"wall_s", {{"gradient", m.gradient_s}, {"lanczos", m.lanczos_s}, {"slq", m.slq_s},
                                {"hutchinson", m.trace_s}, {"noise", m.noise_s}, {"total", m.total_s}}}}}};
}

std::string spectrum_csv(const realtrain::CurvatureMeasurement& m) {
  std::string out = "kind,index,value,weight,c,residual\n";
  for (std::size_t i = 0; i < m.top_h.size(); ++i)
    out += "top," + std::to_string(i) + "," + format_number(m.top_h[i]) + ",," + format_number(m.top_c[i]) + "," +
           format_number(m.top_residuals[i]) + "\n";
  for (std::size_t j = 0; j < m.slq_nodes.size(); ++j)
    out += "slq," + std::to_string(m.slq_probe[j]) + "," + format_number(m.slq_nodes[j]) + "," +
           format_number(m.slq_weights[j]) + ",,\n";
  return out;
}

void print_result(const nlohmann::json& j) {
  const auto& in = j["inputs"];
  const auto& p = j["predicted"];
  auto num = [](const nlohmann::json& v) { return v.is_null() ? std::string("-") : format_number(v.get<double>()); };
  std::printf("measured at %s: %lld parameters, top h %s, tr(H) %s, tr(Sigma) %s, B_simple %s, B_noise %s\n",
              in["point"]["kind"].get<std::string>().c_str(), static_cast<long long>(in["parameters"].get<std::int64_t>()),
              num(in["eigenvalues"][0]).c_str(), num(in["trace_h"]).c_str(), num(in["trace_sigma"]).c_str(),
              num(in["b_simple"]).c_str(), num(in["b_noise"]).c_str());
  std::printf("cost: %lld Hessian-vector products, %lld per-example gradients, %.1f s\n",
              static_cast<long long>(in["cost"]["hessian_vector_products"].get<std::int64_t>()),
              static_cast<long long>(in["cost"]["per_example_gradients"].get<std::int64_t>()),
              in["cost"]["wall_s"]["total"].get<double>());
  std::printf("predicted (%s): B_crit %s, S_min %s\n", p["optimizer"].get<std::string>().c_str(),
              num(p["b_crit"]).c_str(), num(p["s_min"]).c_str());
  if (j.contains("measured"))
    std::printf("measured:  B_crit %s, S_min %s; predicted / measured: B_crit %s, S_min %s\n",
                num(j["measured"]["b_crit"]).c_str(), num(j["measured"]["s_min"]).c_str(),
                num(j["ratios"]["b_crit"]).c_str(), num(j["ratios"]["s_min"]).c_str());
}

// Steps 2-4 and the files; throws on failure while working.
void run(CalibrateSetup& s, int argc, char** argv) {
  fs::create_directories(s.output);
  s.options.progress = [](const std::string& msg) { std::fprintf(stderr, "%s: %s\n", kWho, msg.c_str()); };
  const realtrain::CurvatureMeasurement m =
      s.measured ? *s.measured : realtrain::measure_curvature(*s.hessian_set, *s.noise_set, s.options);
  sim::SpectrumMeasurement sm;
  sm.parameters = m.parameters;
  sm.top_h = m.top_h;
  sm.top_c = m.top_c;
  sm.tail_nodes = m.slq_nodes;
  sm.tail_weights = m.slq_weights;
  sm.tail_trace_sigma = std::max(0.0, m.tail_trace_sigma);
  sm.tail_trace_h_sigma = m.tail_trace_h_sigma;
  // |G|^2 at initialisation, where the NQM starts: the subset mean's, less its finite-sample
  // bias (1/N_H - 1/N) tr(Sigma), with tr(Sigma) of the measured point (~1% of |G|^2 at init).
  sm.grad_sq = s.initial_grad_sq_raw -
               (1.0 / static_cast<double>(m.hessian_examples) - 1.0 / static_cast<double>(s.dataset_size)) * m.trace_sigma;
  sm.loss_gap_init = s.initial_loss - s.loss_floor;
  sm.loss_gap_target = s.target_loss - s.loss_floor;
  const sim::CalibratedNqm nqm = sim::calibrate_nqm(sm);
  std::fprintf(stderr, "%s: NQM of %lld dimensions; predicting the study (%lld trials)\n", kWho,
               static_cast<long long>(nqm.spectrum->h.size()), static_cast<long long>(prediction_grid(s.real).size()));
  const NqmPrediction pred = predict_study(nqm, s.real, s.nqm_max_steps, s.threads, s.output / "nqm_study");
  nlohmann::json j = {{"inputs", measurement_json(s, m)}, {"nqm", nqm_json(nqm)}, {"predicted", predicted_json(pred, 0, s.real)}};
  if (s.compare) {
    j["measured"] = measured_json(*s.compare);
    j["ratios"] = ratios_json(pred, 0, *s.compare);
  }
  nlohmann::json prov = provenance(argc + 1, argv - 1);
  prov["finished_utc"] = utc_now_iso();
  j["provenance"] = prov;
  write_file_atomic(s.output / "calibration.json", j.dump(1) + "\n");
  write_file_atomic(s.output / "spectrum.csv", spectrum_csv(m));
  write_file_atomic(s.output / "nqm_spectrum.csv", nqm_spectrum_csv(nqm));
  print_result(j);
  std::printf("results: %s/{calibration.json,spectrum.csv,nqm_spectrum.csv,nqm_study/}\n", s.output.c_str());
  if (s.real.no_plot) return;
  if (run_plots(s.output, kWho) == 0) std::printf("plots:   %s/calibration.{png,pdf}\n", s.output.c_str());
  else std::fprintf(stderr, "%s: warning: plots not written (results are complete)\n", kWho);
}

}  // namespace

int cmd_calibrate(int argc, char** argv) {
  CalibrateSetup setup;
  try {
    if (!parse_calibrate_args(argc, argv, setup)) return 0;  // --help
    prepare_calibration(setup);  // every check that needs no measurement
  } catch (const CalibrateBadInput& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  try {
    run(setup, argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  return 0;
}

}  // namespace batchlab::cli
