#include "sim/trial.h"

namespace batchlab::sim {

std::string to_string(TrialStatus s) {
  switch (s) {
    case TrialStatus::kReached: return "reached";
    case TrialStatus::kNotReached: return "not_reached";
    case TrialStatus::kDiverged: return "diverged";
  }
  return "?";
}

}  // namespace batchlab::sim
