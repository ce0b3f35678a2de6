// Time and cost to a target on K devices (`batchlab plan`): a study's steps-to-target S(B) times
// the step-time model of a measured profile (step_time.h).
//
//   time_to_target(K, B) = sum over the S(B) updates of the step time at local batch B / K
//                          (with the study's sync policy deciding which updates communicate)
//   device_hours         = K x time_to_target / 3600,   cost = device_hours x price per device-hour
//
// S(B) comes from the study (docs/results_schema.md): the measured best point where B was
// measured (steps_vs_batch.csv), the fit S_min (1 + B_crit / B) of summary.json between measured
// batch sizes, and the same fit beyond them, marked "extrapolated". A table (any CSV with
// batch_size and steps_to_target columns, e.g. published step counts) can stand in for a study:
// it is fitted with the study's own fit (fit.h).
//
// The sync policy is the study's (train.sync of a real study, sync.policy of a simulated one):
// S(B) was measured under it. Under local SGD S(B) also depends on the number of workers, which
// the study fixed; the plan then uses the study's S(B) for every K and says so in its notes.
//
// Recommendations, per optimizer, among the rows whose S(B) is measured or interpolated (all
// rows if none is): the fastest (K, B), and the cheapest in device-hours among those at most
// `max_slowdown` times slower than the fastest. A row is on the Pareto front when no other row of
// its optimizer is at least as fast and as cheap and better in one of the two.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/engine/fit.h"
#include "experiments/engine/step_time.h"

namespace batchlab::experiments {

// Bad input of `plan` (a study without a fit, a profile of another model, K not dividing B...):
// one line, exit status 2.
struct PlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct StudyCurve {
  std::string optimizer;
  std::vector<double> batch_sizes, steps;  // the reached points, ascending batch size
  CriticalBatchFit fit;
};

struct StudyInput {
  std::string source;          // the study directory or table
  std::string model, dataset;  // of a real study; empty for a simulated study or a table
  // A real study's update rule (train.optimizer) and preconditioner (train.precondition, "none"
  // when its config.ini predates the key); empty otherwise.
  std::string optimizer, precondition;
  std::string landscape;       // what the study trained on, for messages
  std::string sync = "sync";
  bool average_momentum = false;
  int study_workers = 1;       // ranks (real) or simulated workers the study ran with
  std::vector<StudyCurve> curves;  // only optimizers with a fit
};

// A study output directory: steps_vs_batch.csv, summary.json (its fits), config.ini.
StudyInput read_study_dir(const std::filesystem::path& dir);
// A CSV with columns batch_size, steps_to_target (rows with steps <= 0 are left out) and,
// optionally, optimizer (one curve per value); fitted here with fit_critical_batch.
StudyInput read_steps_table(const std::filesystem::path& csv);
// Either of the two, by what `path` is. Throws PlanError.
StudyInput read_study_input(const std::filesystem::path& path);

// The study's steps at B and where the number comes from: "measured", "fit" (between measured
// batch sizes), "extrapolated" (beyond them). Fitted values are rounded up to whole updates.
struct StepsEstimate {
  double steps = 0.0;
  std::string source;
};
StepsEstimate steps_to_target(const StudyCurve& curve, double batch_size);

// The profile must be of the study's model and dataset (when the study names them). PlanError.
void check_profile_matches(const StudyInput& study, const StepTimeProfile& profile);

struct PlanOptions {
  std::vector<std::int64_t> workers{1, 2, 4, 8, 16, 32, 64};
  std::vector<std::int64_t> batch_sizes;  // empty: the study's measured batch sizes that every K divides
  double device_cost_per_hour = std::numeric_limits<double>::quiet_NaN();  // NaN: no cost column
  double max_slowdown = 2.0;
};

struct PlanRow {
  std::string optimizer;
  int workers = 1;
  std::int64_t batch_size = 0;
  double local_batch = 0.0;
  double steps_to_target = 0.0;
  std::string steps_source;
  RunTime run;
  double time_to_target_s = 0.0, device_hours = 0.0, cost = 0.0;
  double comm_fraction = 0.0;
  bool pareto = false;
  std::vector<std::string> extrapolated;  // "batch_size" (S(B)) and the model's (RunTime)
};

struct Recommendation {
  std::string optimizer;
  std::size_t fastest = 0, cheapest = 0;  // row indices
};

struct Plan {
  std::vector<PlanRow> rows;
  std::vector<Recommendation> recommendations;
  std::vector<std::string> notes;
};

// Throws PlanError for K that does not divide B, K < 1, a non-positive cost or slowdown < 1,
// or no batch size left to plan; ProfileError when the profile cannot price K workers.
Plan make_plan(const StudyInput& study, const StepTimeModel& model, const PlanOptions& options);

const std::vector<std::string>& plan_columns();
// plan.csv (one row per optimizer, K, B) and plan.json (inputs, fits, recommendations, notes,
// `extra` merged in), both atomically.
void write_plan(const std::filesystem::path& dir, const Plan& plan, const StudyInput& study,
                const StepTimeModel& model, const PlanOptions& options, const nlohmann::json& extra);

}  // namespace batchlab::experiments
