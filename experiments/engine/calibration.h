// The torch-free half of `batchlab calibrate`: given a calibrated NQM (sim/nqm_calibration.h),
// predict the real study's steps-to-target vs batch size and compare with a measured study.
//
// Prediction = the analytic study of the calibrated NQM on the real study's own grid: its
// optimizers and momenta, batch sizes and lr grid (a scaled grid keeps the study's scaling rule
// and reference lr, so the NQM runs the very lrs the real trials ran), best lr per batch size, and
// the S(B) = S_min (1 + B_crit / B) fit, all by the study engine (study_engine.h, fit.h) and
// written like a `batchlab sweep` (results_writer.h) into its own directory. The NQM's
// steps-to-target is exact (the first step with E[L] below the target) and the fit uses it; the
// real study's is the first evaluated step, so calibration.json also gives each predicted point
// rounded up to the real study's evaluation interval at that batch size (steps_at_evaluation).
// The real study's seeds collapse to one: the analytic NQM is an expectation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/engine/real_study.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"
#include "sim/nqm_calibration.h"

namespace batchlab::experiments {

struct NqmPrediction {
  StudyGrid grid;
  std::vector<OptimizerSummary> fits;        // per optimizer, grid order
  std::vector<std::vector<BatchBest>> best;  // per optimizer, per batch size
  std::int64_t trials = 0, reached = 0, diverged = 0;
  double wall_s = 0.0;
};

// The real study's grid with one seed. Throws optim::ConfigError when an optimizer has no
// analytic NQM (sgd and momentum do).
StudyGrid prediction_grid(const RealStudyConfig& real);

// Runs the prediction into `dir` (removed first if it exists: it is the calibration's own).
NqmPrediction predict_study(const sim::CalibratedNqm& nqm, const RealStudyConfig& real, std::int64_t max_steps,
                            int threads, const std::filesystem::path& dir);

struct MeasuredPoint {
  std::int64_t batch_size = 0;
  double steps = 0.0;  // steps_to_target of the best trial (reached rows only)
};
struct MeasuredStudy {
  std::string dir, optimizer;
  double b_crit = 0.0, s_min = 0.0;
  std::vector<MeasuredPoint> points;
};
// STUDY_DIR/summary.json (optimizers.<name>.b_crit, s_min) and steps_vs_batch.csv (by column
// name). Throws optim::ConfigError naming the file when it is missing, malformed or lacks the
// optimizer or a fit.
MeasuredStudy read_measured_study(const std::filesystem::path& dir, const std::string& optimizer);

// calibration.json blocks.
nlohmann::json nqm_json(const sim::CalibratedNqm& nqm);
nlohmann::json predicted_json(const NqmPrediction& p, std::size_t optimizer_index, const RealStudyConfig& real);
nlohmann::json measured_json(const MeasuredStudy& m);
// predicted / measured for b_crit and s_min (null when either is missing).
nlohmann::json ratios_json(const NqmPrediction& p, std::size_t optimizer_index, const MeasuredStudy& m);

// nqm_spectrum.csv: one row per NQM dimension (source top|tail, h, c_direction, multiplicity,
// s0_direction) -- the per-direction values before folding.
std::string nqm_spectrum_csv(const sim::CalibratedNqm& nqm);

}  // namespace batchlab::experiments
