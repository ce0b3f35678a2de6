// The `batchlab` subcommands. Each returns the process exit status:
// 0 success, 1 a failure while working, 2 bad input (reported in one line before any work).
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "experiments/engine/study_driver.h"

namespace batchlab::cli {

// How `sweep` and `study` run when called from outside a terminal (the Python module,
// experiments/python): their one-line errors go to `error` instead of stderr, and the study
// reports to, and can be stopped by, `observer` (study_driver.h). The default is the CLI's.
struct CommandIo {
  std::function<void(int status, const std::string& line)> error;
  experiments::StudyObserver observer;
  // The `batchlab` executable that `study` starts its trials with (`batchlab train`); empty: this
  // process's own (the CLI). A Python process must name it.
  std::string batchlab_exe;

  // The error line "WHO: TEXT" to stderr or to `error`; returns status (the exit status).
  int fail(int status, const char* who, const std::string& text) const {
    const std::string line = std::string(who) + ": " + text;
    if (error) error(status, line);
    else std::fprintf(stderr, "%s\n", line.c_str());
    return status;
  }
};

int cmd_sweep(int argc, char** argv);        // simulated study from an INI file
int cmd_sweep(int argc, char** argv, const CommandIo& io);
int cmd_plot(int argc, char** argv);         // calls plots/*.py on a results directory
int cmd_noise_scale(int argc, char** argv);  // gradient noise scale of a landscape
int cmd_plan(int argc, char** argv);         // time and cost to target: study S(B) x step-time profile
int cmd_fit(int argc, char** argv);          // S(B) fit (or loss law) of any CSV table
int cmd_branch(int argc, char** argv);       // branched critical batch / CBS warm-up of a simulated run
#ifdef BATCHLAB_HAVE_REALTRAIN
int cmd_train(int argc, char** argv);        // one real data-parallel training run
int cmd_bench_step(int argc, char** argv);   // step-time profile -> profile.json (batchlab-train)
int cmd_study(int argc, char** argv);        // real-training study over batch sizes x lr grid
int cmd_study(int argc, char** argv, const CommandIo& io);
int cmd_pack(int argc, char** argv);         // ImageFolder -> shard files
int cmd_calibrate(int argc, char** argv);    // measured spectra -> NQM -> predicted S(B) (batchlab-train)
#endif

}  // namespace batchlab::cli
