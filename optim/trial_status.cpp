#include "optim/trial_status.h"

#include <stdexcept>

namespace batchlab::optim {

std::string to_string(TrialStatus s) {
  switch (s) {
    case TrialStatus::kReached: return "reached";
    case TrialStatus::kNotReached: return "not_reached";
    case TrialStatus::kDiverged: return "diverged";
    case TrialStatus::kFailed: return "failed";
  }
  return "?";
}

TrialStatus parse_trial_status(const std::string& text) {
  if (text == "reached") return TrialStatus::kReached;
  if (text == "not_reached") return TrialStatus::kNotReached;
  if (text == "diverged") return TrialStatus::kDiverged;
  if (text == "failed") return TrialStatus::kFailed;
  throw std::invalid_argument("unknown trial status '" + text + "'");
}

}  // namespace batchlab::optim
