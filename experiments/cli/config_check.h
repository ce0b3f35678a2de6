// `batchlab sweep --check` and `batchlab study --check`: the config is parsed and validated by
// exactly the code a run uses (every exit-2 check, the resume check of an existing output dir
// included), then the resolved grid is printed on stdout and the command exits 0 without writing
// anything (no output dir, no config.ini) and without running or launching a trial. A bad config
// is the run's one line on stderr and exit status 2.
//
// What exists only on the machine a study is meant for (the dataset directory, a GPU for the
// NCCL backend, the launcher program such as srun) is not required by --check: it is listed
// under "not checked" with the reason, and a real run still refuses it as before.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "experiments/engine/study_engine.h"

namespace batchlab::experiments {

struct CheckReport {
  std::string who;          // "batchlab sweep" / "batchlab study"
  std::string config_path;
  std::string output_dir;
  // Command-specific lines ("label", "text"), printed after the grid in this order.
  std::vector<std::pair<std::string, std::string>> details;
  // What --check did not verify on this machine, one reason each.
  std::vector<std::string> not_checked;
};

// How a run would find `dir` (one that ResultsWriter::check_resumable accepted): "does not exist
// (a run creates it)", "exists, holds this study with N of M trials in trials.csv (a run resumes
// it)" or "exists, no study in it yet (a run writes into it)". Reads only.
std::string output_dir_state(const std::filesystem::path& dir, std::int64_t trials);

// Prints the report: "<who> --check: <config>: valid", then one "label: value" line each for the
// study, the trials (count and per optimizer), batch sizes, lrs or lr multipliers (with the
// scaling rule's lr per batch size), optimizers, seeds, the output dir, `details`, the things not
// checked, and a last line saying nothing was written or run. "trials: N" starts a line.
void print_check_report(std::FILE* out, const StudyGrid& grid, const CheckReport& report);

}  // namespace batchlab::experiments
