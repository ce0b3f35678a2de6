// The input side of `batchlab calibrate` (cmd_calibrate.cpp): its options, the study it predicts,
// and everything checked and loaded before the measurement starts (model at the chosen point,
// fixed training subsets, initial and target losses, the study to compare with). Every problem
// found here is bad input: CalibrateBadInput, one line, exit status 2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/engine/calibration.h"
#include "experiments/engine/real_study.h"
#include "realtrain/curvature.h"
#include "realtrain/models.h"
#include "realtrain/train_config.h"

namespace batchlab::cli {

struct CalibrateBadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CalibrateSetup {
  // options
  experiments::RealStudyConfig real;
  realtrain::CurvatureOptions options;
  std::int64_t hessian_examples = 4096, noise_examples = 2048, chunk = 512;
  std::string checkpoint, reference, compare_dir;
  std::string measured_file;  // --measured: an earlier calibration.json whose inputs are reused
  double target_loss_option = std::numeric_limits<double>::quiet_NaN();
  double loss_floor = 0.0;
  std::int64_t nqm_max_steps = 10000000;
  // One torch thread by default: on a shared 2-core machine a second thread made every
  // Hessian-vector product ~15x slower (threads waiting on each other), see docs/calibration.md.
  int threads = 1;
  std::filesystem::path output = "calibration_out";
  // prepared
  realtrain::TrainConfig train;  // the study's first trial, resolved
  std::shared_ptr<realtrain::Model> model;
  std::unique_ptr<realtrain::LossOnExamples> hessian_set, noise_set;
  std::int64_t dataset_size = 0, checkpoint_step = -1;
  double initial_loss = 0.0, point_loss = 0.0, target_loss = 0.0;
  double initial_grad_sq_raw = 0.0;  // |mean gradient|^2 over the Hessian subset at initialisation
  std::string target_source;
  std::optional<experiments::MeasuredStudy> compare;
  std::optional<realtrain::CurvatureMeasurement> measured;  // from --measured: no measurement runs
  nlohmann::json measured_point;                             // its inputs.point

  nlohmann::json point_json() const;
  nlohmann::json loss_json(double loss_at_point) const;
};

// argv[0] = "calibrate". Returns false after printing --help. Throws CalibrateBadInput.
bool parse_calibrate_args(int argc, char** argv, CalibrateSetup& setup);
// Resolves, checks and loads (see the header comment). Throws CalibrateBadInput.
void prepare_calibration(CalibrateSetup& setup);

}  // namespace batchlab::cli
