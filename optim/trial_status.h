// How a trial ended, the one vocabulary of the simulator (sim::TrialResult), the trainer
// (summary.json "status") and the study engine (trials.csv "status"). It lives in optim, the
// library all three depend on, so that the text is written and read by one pair of functions.
//   reached      the metric crossed the target (steps_to_target is the first such step)
//   not_reached  the budget ran out first
//   diverged     the loss became non-finite (the run stopped at once)
//   failed       a real study's trial that could not run to its end for a reason of its own (its
//                `batchlab train` exited with an error, or its Slurm job was cancelled with
//                launcher.on_cancel = fail): no result, so the best-lr reduction, the fit and the
//                plots leave it out (a seed that failed is not a seed that did not reach)
#pragma once

#include <string>

namespace batchlab::optim {

enum class TrialStatus { kReached, kNotReached, kDiverged, kFailed };

// "reached", "not_reached", "diverged", "failed".
std::string to_string(TrialStatus s);
// The inverse of to_string; throws std::invalid_argument "unknown trial status 'TEXT'".
TrialStatus parse_trial_status(const std::string& text);

}  // namespace batchlab::optim
